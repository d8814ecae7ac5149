import type { Strategy } from '../conflicts/strategies.ts';
import type { Engine } from '../docker/engine.ts';
import type { clientAdd, clientRemove } from '../ops/clients.ts';
import type { ClusterStatus } from '../ops/cluster.ts';
import type {
  Choice,
  changeConflictConfig,
  listConflicts,
  resolveConflict,
  showConflict,
  showConflictConfig,
} from '../ops/conflicts.ts';
import type { applyDeploy, DeployPlan, DeployStep } from '../ops/deploy.ts';
import type { DiscoveredTenant } from '../ops/discover.ts';
import type { FailoverStep, failoverTest } from '../ops/failover.ts';
import { NO_NODE_CONTROL_HINT, type NodeController, type NodeInfo, type StopMode } from '../ops/nodes.ts';
import type { deploymentsOverview, recentJobs, SyncNowProgress, syncNow } from '../ops/overview.ts';
import type { RestoreProgress, restore } from '../ops/restore.ts';
import type { pause, resume, setInterval } from '../ops/schedule.ts';
import { pgConnectError, type Sql } from '../pg/connect.ts';
import type { VerifyResult } from '../sync/verify.ts';
import { ConfigError } from '../util/errors.ts';
import type { SyncSettings } from '../util/settings.ts';

// biome-ignore lint/suspicious/noExplicitAny: any function's answer
type Answer<F extends (...a: any[]) => unknown> = Promise<Awaited<ReturnType<F>>>;

/**
 * Everything the menu does, as the screens see it. PgMenuBackend does it through src/ops on a real connection;
 * the screens' tests give them plain data through the same interface.
 */
export interface MenuBackend {
  /** The node control (containers of the pair, or the local processes of a nodes file), if any. */
  readonly nodes: NodeController | null;
  cluster(): Promise<ClusterStatus>;
  deployments(): Answer<typeof deploymentsOverview>;
  jobs(client: string): Answer<typeof recentJobs>;
  conflicts(client: string, pending: boolean): Answer<typeof listConflicts>;
  conflict(id: string): Answer<typeof showConflict>;
  resolve(id: string, choice: Choice): Answer<typeof resolveConflict>;
  pause(client: string): Answer<typeof pause>;
  resume(client: string, seconds?: number): Answer<typeof resume>;
  setInterval(client: string, seconds: number): Answer<typeof setInterval>;
  syncNow(
    client: string,
    full: boolean,
    onProgress: (p: SyncNowProgress) => void,
    signal: AbortSignal,
  ): Answer<typeof syncNow>;
  conflictConfig(client: string): Answer<typeof showConflictConfig>;
  changeConflictConfig(
    client: string,
    change: { defaultStrategy?: Strategy; tables?: Record<string, Strategy> },
  ): Answer<typeof changeConflictConfig>;
  discover(): Promise<DiscoveredTenant[]>;
  register(name: string, sqlitePath: string, intervalSeconds: number): Answer<typeof clientAdd>;
  deregister(name: string, dropSchema: boolean): Answer<typeof clientRemove>;
  restore(client: string, to: string, onProgress: (p: RestoreProgress) => void): Answer<typeof restore>;
  verifyAgainst(client: string, file: string): Promise<VerifyResult>;
  listNodes(): Promise<NodeInfo[]>;
  nodeLogs(id: string, lines: number): Promise<string[]>;
  stopNode(id: string): Promise<void>;
  startNode(id: string): Promise<void>;
  restartNode(id: string): Promise<void>;
  failover(mode: StopMode, onStep: (s: FailoverStep) => void): Answer<typeof failoverTest>;
  /** The deploy of this host's pair, worked out and not applied (`owui-sync deploy --dry-run`). */
  deployPlan(): Promise<DeployPlan>;
  /** Apply a plan deployPlan() made (the screen has asked for the typed word). */
  deploy(plan: DeployPlan, onStep: (s: DeployStep) => void): Answer<typeof applyDeploy>;
}

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
 * The menu's backend: calls into src/ops (the scripted twins call the same functions); the screens hold no
 * logic of their own. One runtime connection (the host role), the admin URL for registering and deregistering
 * when the operator has one, and the node control when there is one.
 */
export class PgMenuBackend implements MenuBackend {
  /** Who resolves a conflict from the menu, as conflict_log.resolved_by records it. */
  private who = async () => (await scheduleOps()).operator().replace(/^cli:/, 'menu:');

  constructor(
    readonly sql: Sql,
    readonly o: {
      adminUrl: string | null;
      host?: string;
      nodes: NodeController | null;
      url?: string;
      /** The secret files a deploy from the menu puts in place (OWUI_SYNC_DATABASE_PASSWORD_FILE, _JWT_SECRET_FILE). */
      secretFiles?: { passwordFile: string | null; jwtFile: string | null };
      /** The sync settings, resolved where the menu started (a sync or a restore's check run with them). */
      settings?: SyncSettings;
    },
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
      (await overviewOps()).syncNow(this.sql, client, {
        ...this.o.settings,
        full,
        triggeredBy: 'manual-console',
        onProgress,
        signal,
      }),
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
    return verify(this.sql, await getDeployment(this.sql, client), { ...this.o.settings, against: file });
  });
  listNodes = async () => (this.o.nodes ? this.o.nodes.list() : []);
  nodeLogs = async (id: string, lines: number) => this.control().logs(id, lines);
  stopNode = async (id: string) => this.control().stop(id, 'graceful');
  startNode = async (id: string) => this.control().start(id);
  restartNode = async (id: string) => this.control().restart(id);
  failover = async (mode: StopMode, onStep: (s: FailoverStep) => void) =>
    (await import('../ops/failover.ts')).failoverTest(this.control(), { mode, onStep });

  private engine: Engine | null = null;
  private async dockerEngine(): Promise<Engine> {
    if (!this.engine) this.engine = new (await import('../docker/engine.ts')).Engine();
    return this.engine;
  }
  deployPlan = this.db(async () => {
    if (!this.o.url)
      throw new ConfigError(
        'deploying needs the runtime database URL',
        'open the menu with OWUI_SYNC_DATABASE_URL_FILE set',
      );
    const { planDeploy } = await import('../ops/deploy.ts');
    return planDeploy(this.sql, this.o.url, await this.dockerEngine(), { host: this.o.host });
  });
  deploy = async (plan: DeployPlan, onStep: (s: DeployStep) => void) =>
    (await import('../ops/deploy.ts')).applyDeploy(await this.dockerEngine(), plan, {
      ...(this.o.secretFiles ?? { passwordFile: null, jwtFile: null }),
      onStep,
    });
}
