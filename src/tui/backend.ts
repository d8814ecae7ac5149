import type { Strategy } from '../conflicts/strategies.ts';
import type { ClusterStatus } from '../ops/cluster.ts';
import type { Choice } from '../ops/conflicts.ts';
import type { FailoverStep } from '../ops/failover.ts';
import { NO_NODE_CONTROL_HINT, type NodeController, type StopMode } from '../ops/nodes.ts';
import type { SyncNowProgress } from '../ops/overview.ts';
import type { RestoreProgress } from '../ops/restore.ts';
import { pgConnectError, type Sql } from '../pg/connect.ts';
import { ConfigError } from '../util/errors.ts';

// Each operation's module loads when it is first used, so the menu draws its first screen before the sync
// engine, the conflict code and SQLite are loaded (bench/menu.ts).
const clientsOps = () => import('../ops/clients.ts');
const clusterOps = () => import('../ops/cluster.ts');
const conflictsOps = () => import('../ops/conflicts.ts');
const overviewOps = () => import('../ops/overview.ts');
const scheduleOps = () => import('../ops/schedule.ts');

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

function isConnectFailure(err: unknown): boolean {
  return CONNECT_CODES.has((err as { code?: string }).code ?? '');
}

/**
 * Everything the menu does, as calls into src/ops (the scripted twins call the same functions): the screens
 * hold no logic of their own. One runtime connection (the host role), the admin URL for registering and
 * deregistering when the operator has one, and the node control when there is one.
 */
export class MenuBackend {
  /** Who resolves a conflict from the menu, as conflict_log.resolved_by records it. */
  private who = async () => (await scheduleOps()).operator().replace(/^cli:/, 'menu:');

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
          if (isConnectFailure(err)) throw pgConnectError(err, this.o.url ?? 'postgres://', 'the database connection');
          throw err;
        });
  }

  /** The last cluster status read from PostgreSQL: where the nodes answer when it cannot be read. */
  private lastCluster: ClusterStatus | null = null;

  get nodes(): NodeController | null {
    return this.o.nodes;
  }

  private readCluster = this.db(async () => (await clusterOps()).clusterStatus(this.sql, this.o.host));

  /** The header's and the Cluster screen's status; with PostgreSQL unreachable, the nodes asked again anyway. */
  cluster = async (): Promise<ClusterStatus> => {
    try {
      this.lastCluster = await this.readCluster();
      return this.lastCluster;
    } catch (err) {
      if (!this.lastCluster || !isConnectFailure((err as { cause?: unknown }).cause ?? err)) throw err;
      return (await clusterOps()).askNodesAgain(this.lastCluster, err);
    }
  };
  deployments = this.db(async () => (await overviewOps()).deploymentsOverview(this.sql));
  jobs = this.db(async (client: string) => (await overviewOps()).recentJobs(this.sql, client, 15));
  conflicts = this.db(async (client: string, pending: boolean) =>
    (await conflictsOps()).listConflicts(this.sql, { client, pending, limit: 200 }),
  );
  conflict = this.db(async (id: string) => (await conflictsOps()).showConflict(this.sql, id));
  resolve = this.db(async (id: string, choice: Choice) =>
    (await conflictsOps()).resolveConflict(this.sql, id, choice, await this.who()),
  );
  pause = this.db(async (client: string) => (await scheduleOps()).pause(this.sql, client));
  resume = this.db(async (client: string, seconds?: number) => (await scheduleOps()).resume(this.sql, client, seconds));
  setInterval = this.db(async (client: string, seconds: number) =>
    (await scheduleOps()).setInterval(this.sql, client, seconds),
  );
  syncNow = this.db(
    async (client: string, full: boolean, onProgress: (p: SyncNowProgress) => void, signal: AbortSignal) =>
      (await overviewOps()).syncNow(this.sql, client, { full, triggeredBy: 'manual-console', onProgress, signal }),
  );
  conflictConfig = this.db(async (client: string) => (await conflictsOps()).showConflictConfig(this.sql, client));
  changeConflictConfig = this.db(
    async (client: string, change: { defaultStrategy?: Strategy; tables?: Record<string, Strategy> }) =>
      (await conflictsOps()).changeConflictConfig(this.sql, client, change),
  );

  /** Tenants on this host's Docker engine (none when there is no engine: the menu then shows registered ones only). */
  discover = async () => {
    const { discoverTenants } = await import('../ops/discover.ts');
    try {
      return await discoverTenants({ sql: this.sql });
    } catch {
      return [];
    }
  };

  private admin(what: string): string {
    if (!this.o.adminUrl)
      throw new ConfigError(
        `${what} needs the admin connection`,
        'set OWUI_SYNC_ADMIN_URL_FILE (or admin_url_file in the settings file) and open the menu again',
      );
    return this.o.adminUrl;
  }

  register = this.db(async (name: string, sqlitePath: string, intervalSeconds: number) =>
    (await clientsOps()).clientAdd({
      name,
      sqlitePath,
      intervalSeconds,
      adminUrl: this.admin('registering a client'),
      host: this.o.host,
    }),
  );
  deregister = this.db(async (name: string, dropSchema: boolean) =>
    (await clientsOps()).clientRemove(this.admin('deregistering a client'), name, dropSchema),
  );

  private control(): NodeController {
    if (!this.o.nodes) throw new ConfigError('this menu cannot control the nodes', NO_NODE_CONTROL_HINT);
    return this.o.nodes;
  }

  restore = this.db(async (client: string, to: string, onProgress: (p: RestoreProgress) => void) =>
    (await import('../ops/restore.ts')).restore(this.sql, { client, to, onProgress }),
  );
  verifyAgainst = this.db(async (client: string, file: string) => {
    const [{ getDeployment }, { verify }] = await Promise.all([
      import('../pg/deployments.ts'),
      import('../sync/verify.ts'),
    ]);
    return verify(this.sql, await getDeployment(this.sql, client), { against: file });
  });
  listNodes = async () => (this.o.nodes ? this.o.nodes.list() : []);
  nodeLogs = async (id: string, lines: number) => this.control().logs(id, lines);
  stopNode = async (id: string) => this.control().stop(id, 'graceful');
  startNode = async (id: string) => this.control().start(id);
  restartNode = async (id: string) => this.control().restart(id);
  failover = async (mode: StopMode, onStep: (s: FailoverStep) => void) =>
    (await import('../ops/failover.ts')).failoverTest(this.control(), { mode, onStep });
}
