import type { Strategy } from '../src/conflicts/strategies.ts';
import type { ClientAddResult, ClientRemoveResult } from '../src/ops/clients.ts';
import type { ClusterStatus } from '../src/ops/cluster.ts';
import type { Choice, ConflictRow, showConflictConfig } from '../src/ops/conflicts.ts';
import type { DeploymentRow, JobRow, SyncNowProgress, SyncNowResult } from '../src/ops/overview.ts';
import type { RestoreProgress, RestoreResult } from '../src/ops/restore.ts';
import type { ScheduleState } from '../src/ops/schedule.ts';
import type { VerifyResult } from '../src/sync/verify.ts';
import type { MenuBackend } from '../src/tui/backend.ts';
import { ConfigError, NotFoundError } from '../src/util/errors.ts';

type ConflictConfig = Awaited<ReturnType<typeof showConflictConfig>>['config'];
type Detail = ConflictRow & { source_data: unknown; target_data: unknown; resolved_data: unknown; sync_job_id: null };

/**
 * The menu's backend as plain data: what the screens' tests draw from without PostgreSQL. It keeps its state
 * (deployments, jobs, conflicts, conflict configurations) and records each change it was asked for in `calls`,
 * so a test checks what the screen asked the backend to do; the real backend's own behaviour is tested with the
 * database (test/menu-screens.test.tsx's end-to-end walk, and the ops tests).
 */
export class FakeMenu implements MenuBackend {
  readonly nodes = null;
  readonly calls: unknown[][] = [];
  deps = new Map<string, DeploymentRow>();
  jobsOf = new Map<string, JobRow[]>();
  conflictRows: Detail[] = [];
  configs = new Map<string, ConflictConfig>();
  /** Files a restore "wrote" (a second restore to one of them is refused, as the real one refuses). */
  restored = new Set<string>();
  adminUrl: string | null = 'postgres://admin@db/x';
  private n = 0;

  constructor(private readonly defaultConfig: ConflictConfig) {}

  /** A fake whose conflict default is the real default configuration (the file the real backend reads). */
  static async create(): Promise<FakeMenu> {
    return new FakeMenu((await defaultConflictConfig()).config);
  }

  add(client: string, o: Partial<DeploymentRow> = {}): DeploymentRow {
    const row: DeploymentRow = {
      client,
      sqlite_path: `/opt/openwebui/${client}/data/webui.db`,
      sync_enabled: true,
      status: 'active',
      sync_interval: 300,
      last_sync_at: new Date(Date.now() - 7000).toISOString(),
      last_sync_status: 'success',
      last_job: null,
      rejected_pending: 0,
      lag_seconds: 7,
      late: false,
      conflicts_pending: 0,
      ...o,
    };
    this.deps.set(client, row);
    return row;
  }

  addConflict(client: string, o: Partial<ConflictRow> = {}): Detail {
    const c: Detail = {
      log_id: `00000000-0000-4000-8000-${String(++this.n).padStart(12, '0')}`,
      client_name: client,
      table_name: 'chat',
      record_id: 'chat-1',
      conflict_type: 'update_conflict',
      resolution_strategy: 'manual',
      winner: null,
      detected_at: new Date(Date.now() - 5000).toISOString(),
      resolved_at: null,
      resolved_by: null,
      resolution_notes: null,
      source_data: { id: 'chat-1', title: 'Local', body: 'x'.repeat(400) },
      target_data: { id: 'chat-1', title: 'Remote', body: 'x'.repeat(400) },
      resolved_data: null,
      sync_job_id: null,
      ...o,
    };
    this.conflictRows.push(c);
    this.dep(client).conflicts_pending++;
    return c;
  }

  private dep(client: string): DeploymentRow {
    const d = this.deps.get(client);
    if (!d) throw new NotFoundError(`no deployment named ${client}`, 'owui-sync status lists the registered ones');
    return d;
  }

  private schedule(d: DeploymentRow): ScheduleState {
    return {
      client: d.client,
      sync_enabled: d.sync_enabled,
      status: d.status,
      sync_interval: d.sync_interval,
      next_sync_at: null,
    };
  }

  async cluster(): Promise<ClusterStatus> {
    const down = { up: false as const, error: 'connection refused' };
    return {
      host: 'h1',
      cluster: 'h1',
      lease: null,
      nodes: [
        { node_id: 'primary', role: 'primary', url: 'http://127.0.0.1:9443', last_seen: null, answer: down },
        { node_id: 'secondary', role: 'secondary', url: 'http://127.0.0.1:9444', last_seen: null, answer: down },
      ],
      hint: 'no agent answers: start the pair (owui-sync deploy)',
    };
  }

  async deployments(): Promise<DeploymentRow[]> {
    return [...this.deps.values()].sort((a, b) => a.client.localeCompare(b.client)).map((d) => ({ ...d }));
  }

  async jobs(client: string): Promise<JobRow[]> {
    this.dep(client);
    return this.jobsOf.get(client) ?? [];
  }

  async conflicts(client: string, pending: boolean): Promise<ConflictRow[]> {
    return this.conflictRows
      .filter((c) => c.client_name === client && (!pending || c.resolved_at === null))
      .map(({ source_data: _s, target_data: _t, resolved_data: _r, sync_job_id: _j, ...row }) => row);
  }

  async conflict(id: string): Promise<Detail> {
    const c = this.conflictRows.find((x) => x.log_id === id);
    if (!c) throw new NotFoundError(`no conflict ${id}`, 'owui-sync conflicts list shows them');
    return { ...c };
  }

  async resolve(id: string, choice: Choice): Promise<ConflictRow> {
    this.calls.push(['resolve', id, choice]);
    const c = this.conflictRows.find((x) => x.log_id === id)!;
    Object.assign(c, { winner: choice, resolved_at: new Date().toISOString(), resolved_by: 'menu:test@fake' });
    this.dep(c.client_name).conflicts_pending--;
    return { ...c };
  }

  async pause(client: string): Promise<ScheduleState> {
    this.calls.push(['pause', client]);
    const d = this.dep(client);
    Object.assign(d, { sync_enabled: false, status: 'paused' });
    return this.schedule(d);
  }

  async resume(client: string, seconds?: number): Promise<ScheduleState> {
    this.calls.push(['resume', client, seconds]);
    const d = this.dep(client);
    Object.assign(d, { sync_enabled: true, status: 'active', sync_interval: seconds ?? d.sync_interval });
    return this.schedule(d);
  }

  async setInterval(client: string, seconds: number): Promise<ScheduleState> {
    this.calls.push(['setInterval', client, seconds]);
    const d = this.dep(client);
    d.sync_interval = seconds;
    return this.schedule(d);
  }

  async syncNow(client: string, full: boolean, onProgress: (p: SyncNowProgress) => void): Promise<SyncNowResult> {
    this.calls.push(['syncNow', client, full]);
    this.dep(client);
    const job_id = `job-${++this.n}`;
    const base = { via: 'here' as const, job_id, state: 'running', tables_total: 2 };
    onProgress({ ...base, table: 'chat', tables_done: 0, rows: 0 });
    onProgress({ ...base, table: 'user', tables_done: 1, rows: 12 });
    const jobs = this.jobsOf.get(client) ?? [];
    jobs.unshift({
      job_id,
      // A deployment's first run is a full one, whatever was asked.
      kind: full || jobs.length === 0 ? 'full' : 'incremental',
      status: 'success',
      triggered_by: 'manual-console',
      started_at: new Date(Date.now() - 2000).toISOString(),
      duration_seconds: 0.3,
      rows_synced: 14,
      conflicts_detected: 0,
      error_message: null,
    });
    this.jobsOf.set(client, jobs);
    return { via: 'here', job_id, status: 'success', rows_synced: 14, duration_seconds: 0.3, error: null };
  }

  async conflictConfig(client: string) {
    this.dep(client);
    const stored = this.configs.get(client);
    return {
      client,
      source: stored ? ('stored' as const) : ('default' as const),
      config: structuredClone(stored ?? this.defaultConfig),
    };
  }

  async changeConflictConfig(
    client: string,
    change: { defaultStrategy?: Strategy; tables?: Record<string, Strategy> },
  ) {
    this.calls.push(['changeConflictConfig', client, change]);
    const cfg = (await this.conflictConfig(client)).config;
    const r = cfg.conflict_resolution;
    if (change.defaultStrategy) r.default_strategy = change.defaultStrategy;
    for (const [table, strategy] of Object.entries(change.tables ?? {})) {
      if (!r.table_strategies[table])
        throw new ConfigError(`${client} has no table ${table}`, 'pick one of the tables listed');
      r.table_strategies[table]!.strategy = strategy;
    }
    this.configs.set(client, cfg);
    return cfg;
  }

  async discover() {
    return [];
  }

  async register(name: string, sqlitePath: string, intervalSeconds: number): Promise<ClientAddResult> {
    this.calls.push(['register', name, sqlitePath, intervalSeconds]);
    if (!this.adminUrl)
      throw new ConfigError(
        'registering a client needs the admin connection',
        'set OWUI_SYNC_ADMIN_URL_FILE (or OWUI_SYNC_ADMIN_URL) and open the menu again',
      );
    this.add(name, { sqlite_path: sqlitePath, sync_interval: intervalSeconds, last_sync_at: null, lag_seconds: null });
    return {
      client: name,
      deployment_id: `dep-${name}`,
      created: true,
      sqlite_path: sqlitePath,
      tables_created: 18,
      columns_added: 0,
      sync_interval: intervalSeconds,
      host: 'h1',
      role: 'owui_sync_host_h1',
    };
  }

  async deregister(name: string, dropSchema: boolean): Promise<ClientRemoveResult> {
    this.calls.push(['deregister', name, dropSchema]);
    this.dep(name);
    this.deps.delete(name);
    return { client: name, removed: true, schema_dropped: dropSchema, jobs_removed: 0 };
  }

  async restore(client: string, to: string, onProgress: (p: RestoreProgress) => void): Promise<RestoreResult> {
    this.calls.push(['restore', client, to]);
    this.dep(client);
    if (this.restored.has(to))
      throw new ConfigError(`${to} exists: restore never overwrites a file`, 'pick another path, or pass --force');
    onProgress({ table: 'chat', index: 0, count: 2, rows: 6, rowsDone: 6, rowsEstimate: 10 });
    onProgress({ table: 'user', index: 1, count: 2, rows: 4, rowsDone: 10, rowsEstimate: 10 });
    this.restored.add(to);
    return {
      client,
      path: to,
      replaced: null,
      alembic_version: 'abc123',
      user_version: 0,
      journal_mode: 'wal',
      schema_recorded_at: new Date().toISOString(),
      last_sync_at: null,
      tables: [
        { table: 'chat', rows: 6 },
        { table: 'user', rows: 4 },
      ],
      rows: 10,
      bytes: 4096,
      empty_tables: [],
      rows_set_aside: 0,
      rows_changed_in_postgres: 0,
      check: null,
      integrity: 'ok',
      duration_ms: 120,
    } as RestoreResult;
  }

  async verifyAgainst(client: string): Promise<VerifyResult> {
    return {
      client,
      identical: true,
      tables_checked: 2,
      rows_checked: 10,
      tombstones_checked: 0,
      differences_total: 0,
      differences: [],
    } as unknown as VerifyResult;
  }

  // No node control here, as on a host without Docker or a nodes file.
  listNodes = noNodes;
  nodeLogs = noNodes;
  stopNode = noNodes;
  startNode = noNodes;
  restartNode = noNodes;
  failover = noNodes;
  async deployPlan(): Promise<never> {
    throw new ConfigError('no Docker engine here', 'start Docker, or set DOCKER_HOST');
  }
  async deploy(): Promise<never> {
    return this.deployPlan();
  }
}

async function noNodes(): Promise<never> {
  throw new ConfigError('no node control here', 'deploy the pair (owui-sync deploy), or set OWUI_SYNC_NODES_FILE');
}

/** The default conflict configuration, as the real backend reads it for a client with none stored. */
async function defaultConflictConfig(): Promise<{ config: ConflictConfig }> {
  const { DEFAULT_CONFIG_FILE, readConflictConfigFile } = await import('../src/conflicts/config.ts');
  return { config: readConflictConfigFile(DEFAULT_CONFIG_FILE) };
}
