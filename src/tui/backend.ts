import type { Strategy } from '../conflicts/strategies.ts';
import { clientAdd, clientRemove } from '../ops/clients.ts';
import { clusterStatus } from '../ops/cluster.ts';
import {
  type Choice,
  changeConflictConfig,
  listConflicts,
  resolveConflict,
  showConflict,
  showConflictConfig,
} from '../ops/conflicts.ts';
import { type FailoverStep, failoverTest } from '../ops/failover.ts';
import type { StopMode } from '../ops/nodes.ts';
import { NO_NODE_CONTROL_HINT, type NodeController } from '../ops/nodes.ts';
import { deploymentsOverview, recentJobs, type SyncNowProgress, syncNow } from '../ops/overview.ts';
import { operator, pause, resume, setInterval } from '../ops/schedule.ts';
import type { Sql } from '../pg/connect.ts';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'ETIMEDOUT',
  '28P01',
  '28000',
  '3D000',
]);

import { pgConnectError } from '../pg/connect.ts';
import { ConfigError } from '../util/errors.ts';

/**
 * Everything the menu does, as calls into src/ops (the scripted twins call the same functions): the screens
 * hold no logic of their own. One runtime connection (the host role), the admin URL for registering and
 * deregistering when the operator has one, and the node control when there is one.
 */
export class MenuBackend {
  readonly who = operator().replace(/^cli:/, 'menu:');

  constructor(
    readonly sql: Sql,
    readonly o: { adminUrl: string | null; host?: string; nodes: NodeController | null; url?: string },
  ) {}

  /** A call that reaches PostgreSQL: a connection failure becomes the message the subcommands give for it. */
  private db<A extends unknown[], T>(f: (...a: A) => Promise<T>): (...a: A) => Promise<T> {
    return (...a) =>
      Promise.resolve()
        .then(() => f(...a))
        .catch((err: unknown) => {
          const code = (err as { code?: string }).code ?? '';
          if (CONNECT_CODES.has(code))
            throw pgConnectError(err, this.o.url ?? 'postgres://', 'the database connection');
          throw err;
        });
  }

  get nodes(): NodeController | null {
    return this.o.nodes;
  }

  cluster = this.db(() => clusterStatus(this.sql, this.o.host));
  deployments = this.db(() => deploymentsOverview(this.sql));
  jobs = this.db((client: string) => recentJobs(this.sql, client, 15));
  conflicts = this.db((client: string, pending: boolean) => listConflicts(this.sql, { client, pending, limit: 200 }));
  conflict = this.db((id: string) => showConflict(this.sql, id));
  resolve = this.db((id: string, choice: Choice) => resolveConflict(this.sql, id, choice, this.who));
  pause = this.db((client: string) => pause(this.sql, client));
  resume = this.db((client: string, seconds?: number) => resume(this.sql, client, seconds));
  setInterval = this.db((client: string, seconds: number) => setInterval(this.sql, client, seconds));
  syncNow = this.db((client: string, full: boolean, onProgress: (p: SyncNowProgress) => void, signal: AbortSignal) =>
    syncNow(this.sql, client, { full, triggeredBy: 'manual-console', onProgress, signal }),
  );
  conflictConfig = this.db((client: string) => showConflictConfig(this.sql, client));
  changeConflictConfig = this.db(
    (client: string, change: { defaultStrategy?: Strategy; tables?: Record<string, Strategy> }) =>
      changeConflictConfig(this.sql, client, change),
  );

  private admin(what: string): string {
    if (!this.o.adminUrl)
      throw new ConfigError(
        `${what} needs the admin connection`,
        'set OWUI_SYNC_ADMIN_URL_FILE (or admin_url_file in the settings file) and open the menu again',
      );
    return this.o.adminUrl;
  }

  register = this.db((name: string, sqlitePath: string, intervalSeconds: number) =>
    clientAdd({
      name,
      sqlitePath,
      intervalSeconds,
      adminUrl: this.admin('registering a client'),
      host: this.o.host,
    }),
  );
  deregister = this.db((name: string, dropSchema: boolean) =>
    clientRemove(this.admin('deregistering a client'), name, dropSchema),
  );

  private control(): NodeController {
    if (!this.o.nodes) throw new ConfigError('this menu cannot control the nodes', NO_NODE_CONTROL_HINT);
    return this.o.nodes;
  }

  listNodes = async () => (this.o.nodes ? this.o.nodes.list() : []);
  nodeLogs = async (id: string, lines: number) => this.control().logs(id, lines);
  stopNode = async (id: string) => this.control().stop(id, 'graceful');
  startNode = async (id: string) => this.control().start(id);
  restartNode = async (id: string) => this.control().restart(id);
  failover = async (mode: StopMode, onStep: (s: FailoverStep) => void) =>
    failoverTest(this.control(), { mode, onStep });
}
