import {
  type ConflictConfig,
  DEFAULT_CONFIG_FILE,
  parseConflictConfig,
  readConflictConfigFile,
  tablePolicy,
} from '../conflicts/config.ts';
import type { SourcePlan, TablePlan } from '../model/plan.ts';
import { isTransientPgError, type Sql, type Tx } from '../pg/connect.ts';
import type { Deployment } from '../pg/deployments.ts';
import { blockingDrift, diffSchema, readTargetSchema, targetTypes } from '../pg/tenant.ts';
import { fingerprint } from '../sqlite/fingerprint.ts';
import { introspect } from '../sqlite/introspect.ts';
import { isSqliteBusy, openTenant, type TenantDb } from '../sqlite/open.ts';
import { type Page, type PageLimits, TableReader } from '../sqlite/reader.ts';
import { ConfigError, FencedError, messageOf, OwuiError, withContext } from '../util/errors.ts';
import { retry } from '../util/retry.ts';
import { targetRangeSql } from './sql.ts';
import {
  type Batch,
  type BatchOutcome,
  BatchWriter,
  type CheckpointPatch,
  decodeKey,
  type WriterHooks,
} from './writer.ts';

export interface SyncOptions {
  /** Full scan of every table (also a reconciliation pass). */
  full?: boolean;
  triggeredBy?: string;
  /** Rows per batch (one transaction). At most 1000. */
  batchRows?: number;
  /** Bytes per batch, roughly (a single larger row is a batch of its own). */
  batchBytes?: number;
  /**
   * How far below the saved updated_at cursor an incremental read starts. Open WebUI takes its
   * timestamp before it commits, so a row can become visible with an updated_at older than rows
   * already read; the window re-reads those (unchanged rows are skipped by their hash).
   */
  overlapSeconds?: number;
  hooks?: WriterHooks;
  /** Conflict detection (default on). Off only to measure its cost in bench/. */
  detectConflicts?: boolean;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /**
   * A job the agent claimed from the queue: the run records itself in that row instead of a new one,
   * and `fence` runs in every transaction that writes (last in each batch, right before COMMIT; first
   * for the job row and the final bookkeeping). When it throws FencedError the run stops and writes
   * nothing more.
   */
  job?: { id: string; fence: (tx: Tx) => Promise<void> };
}

/** The deployment's lock is held by another run: nothing was written; try again later. */
export class SyncBusyError extends OwuiError {
  constructor(client: string) {
    super(`another sync of "${client}" is running`, {
      hint: 'wait for it to finish (owui-sync status shows running jobs), then run again',
    });
    this.name = 'SyncBusyError';
  }
}

/** Was this error, or one it wraps, a fencing refusal? */
export function isFenced(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof FencedError) return true;
  return false;
}

export interface Progress {
  table: string;
  tableIndex: number;
  tableCount: number;
  mode: TableMode;
  rowsRead: number;
  rowsTotal: number | null;
  rowsWritten: number;
  bytes: number;
}

export type TableMode = 'full' | 'incremental' | 'hash-diff';
export type RunKind = 'full' | 'reconcile' | 'incremental' | 'unchanged';

export interface TableResult {
  table: string;
  mode: TableMode;
  rows_read: number;
  inserted: number;
  updated: number;
  tombstoned: number;
  rejected: number;
  raw_values: number;
  bytes: number;
  batches: number;
  conflicts: number;
  conflicts_resolved: number;
  conflicts_pending: number;
}

export interface SyncResult {
  client: string;
  job_id: string;
  kind: RunKind;
  status: 'success' | 'failed' | 'cancelled';
  tables: TableResult[];
  skipped_tables: { table: string; reason: string }[];
  totals: {
    rows_read: number;
    inserted: number;
    updated: number;
    tombstoned: number;
    rejected: number;
    raw_values: number;
    bytes: number;
    conflicts: number;
    conflicts_resolved: number;
    conflicts_pending: number;
  };
  /** Rows set aside in sync_metadata.rejected_rows and still unresolved, over all runs. */
  rejected_pending: number;
  /** Conflicts in conflict_log awaiting an operator (manual strategy, refused rows), over all runs. */
  conflicts_pending: number;
  duration_ms: number;
  error?: string;
  /** The run stopped because its job or its leader's term is no longer current: nothing more of it landed. */
  fenced?: boolean;
}

const DEFAULTS = { batchRows: 1000, batchBytes: 16 << 20, overlapSeconds: 60 };
/**
 * Bytes per read statement. In rollback-journal mode a reader's shared lock keeps Open WebUI's writer
 * from committing for as long as the statement runs, so pages are small there; in WAL mode readers
 * never block the writer and larger pages cost fewer round trips.
 */
const READ_BYTES = { wal: 4 << 20, rollback: 1 << 20 };

interface Checkpoint {
  table_name: string;
  cursor_updated_at: string | null;
  cursor_rowid: string | null;
  scan_key: unknown[] | null;
  scan_started_rowid: string | null;
  scan_max_updated_at: string | null;
}

const big = (s: string | null | undefined) => (s === null || s === undefined ? null : BigInt(s));
const maxBig = (a: bigint | null, b: bigint | null) => (a === null ? b : b === null ? a : a > b ? a : b);

/** Overlap in the table's own unit: Open WebUI stores seconds, milliseconds or nanoseconds. */
export function overlapFor(cursor: bigint, seconds: number): bigint {
  const s = BigInt(seconds);
  if (cursor >= 10n ** 17n) return s * 1_000_000_000n;
  if (cursor >= 10n ** 14n) return s * 1_000_000n;
  if (cursor >= 10n ** 11n) return s * 1000n;
  return s;
}

/**
 * One sync run of one deployment. Returns a result (also for a failed or cancelled run, with
 * `status` and `error`) after recording it in sync_jobs; throws only for problems found before the
 * run starts (bad file, schema drift, another run in progress), with nothing written.
 */
export async function runSync(sql: Sql, dep: Deployment, opts: SyncOptions = {}): Promise<SyncResult> {
  const o = { ...DEFAULTS, ...opts };
  if (o.batchRows > 1000 || o.batchRows < 1)
    throw new ConfigError(`batch size ${o.batchRows} is out of range`, 'use 1 to 1000 rows per batch');
  const started = Date.now();
  const fpBefore = fingerprint(dep.sqlite_path);
  const { db, plan } = await openAndIntrospect(dep.sqlite_path, o.signal);
  const lock: LockState = { pid: null };
  try {
    // A connection lost while preparing is retried like one lost in a batch: nothing is written yet.
    const prep = await retry(() => prepare(sql, dep, plan, fpBefore, o, lock), {
      isTransient: isTransientPgError,
      onRetry: o.hooks?.onRetry,
      signal: o.signal,
    });
    const hooks = o.job
      ? {
          ...o.hooks,
          beforeCommit: async (tx: Tx) => {
            await o.hooks?.beforeCommit?.(tx);
            await o.job!.fence(tx);
          },
        }
      : o.hooks;
    return await execute(sql, db, dep, plan, prep, { ...o, hooks: keepLock(dep, lock, hooks) }, started);
  } finally {
    db.close();
    if (lock.pid !== null)
      await sql`select pg_advisory_unlock(hashtext('owui-sync:sync'), hashtext(${dep.deployment_id}))`.catch(() => {});
  }
}

/** Open a tenant and read its schema, retrying while Open WebUI holds its lock past the busy timeout. */
export function openAndIntrospect(path: string, signal?: AbortSignal): Promise<{ db: TenantDb; plan: SourcePlan }> {
  return retry(
    async () => {
      const db = openTenant(path);
      try {
        return { db, plan: introspect(db) };
      } catch (err) {
        db.close();
        throw err;
      }
    },
    { isTransient: isSqliteBusy, signal, attempts: 4 },
  );
}

/** Which backend holds the deployment's lock (a session lock: a new connection does not). */
interface LockState {
  pid: number | null;
}

async function takeLock(q: Sql | Tx, dep: Deployment, lock: LockState): Promise<boolean> {
  const [{ pid, ok }] = (await q`
    select pg_backend_pid() as pid,
           case when ${lock.pid} = pg_backend_pid() then true
                else pg_try_advisory_lock(hashtext('owui-sync:sync'), hashtext(${dep.deployment_id})) end as ok`) as unknown as [
    { pid: number; ok: boolean },
  ];
  if (ok) lock.pid = pid;
  return ok;
}

/**
 * The deployment lock is a session lock, so it is gone after a reconnect (a transient error). Every
 * batch transaction checks that its connection is the one holding it, and takes it again if not;
 * if another run has it by then, this run stops before writing.
 */
function keepLock(dep: Deployment, lock: LockState, hooks: WriterHooks | undefined): WriterHooks {
  return {
    ...hooks,
    beforeWrite: async (tx) => {
      if (!(await takeLock(tx, dep, lock))) {
        throw new OwuiError(
          `another sync of "${dep.client_name}" started while this one was reconnecting; this run stops`,
          { hint: 'nothing is lost: the other run carries on from the last committed batch' },
        );
      }
      await hooks?.beforeWrite?.(tx);
    },
  };
}

interface Prepared {
  conflicts: ConflictConfig;
  fpBefore: string;
  jobId: string;
  kind: RunKind;
  cps: Map<string, Checkpoint>;
  pending: Map<string, Set<string>>;
}

/** The deployment's conflict configuration (stored in PostgreSQL by conflicts config), or the shipped default. */
export async function loadConflictConfig(sql: Sql, dep: Deployment): Promise<ConflictConfig> {
  const [row] = await sql<
    { c: unknown }[]
  >`select config->'conflict_resolution' as c from sync_metadata.client_deployments where deployment_id = ${dep.deployment_id}`;
  if (row?.c)
    return parseConflictConfig(
      { conflict_resolution: row.c },
      `the stored configuration of client "${dep.client_name}"`,
    );
  return readConflictConfigFile(DEFAULT_CONFIG_FILE);
}

/** newest_wins needs a compare field the table has, of a type that orders. */
function checkCompareFields(cfg: ConflictConfig, plan: SourcePlan, client: string) {
  for (const t of plan.tables) {
    const p = tablePolicy(cfg, t.name);
    if (p.strategy !== 'newest_wins') continue;
    const col = t.columns.find((c) => c.name === p.compareField);
    if (!col && cfg.conflict_resolution.table_strategies[t.name]) {
      throw new ConfigError(
        `conflict configuration of "${client}": table ${t.name} has no column ${p.compareField} to compare`,
        `set compare_field of ${t.name} to one of its columns (owui-sync conflicts config ${client} --file FILE)`,
      );
    }
    if (col && (col.pgType === 'json' || col.pgType === 'bytea')) {
      throw new ConfigError(
        `conflict configuration of "${client}": ${t.name}.${p.compareField} is ${col.pgType} and cannot be compared`,
        'choose a timestamp or number column as compare_field',
      );
    }
  }
}

/** Everything before the first batch: drift check, lock, abandoned jobs, checkpoints, the job row. */
async function prepare(
  sql: Sql,
  dep: Deployment,
  plan: SourcePlan,
  fpBefore: string,
  o: SyncOptions & typeof DEFAULTS,
  lock: LockState,
): Promise<Prepared> {
  const target = await readTargetSchema(sql, dep.client_name);
  if (target.size === 0) {
    throw new ConfigError(
      `client "${dep.client_name}" has no mirror tables in PostgreSQL`,
      `create them: owui-sync schema apply ${dep.client_name} (with the admin connection)`,
    );
  }
  const drift = diffSchema(plan, target);
  if (blockingDrift(drift)) {
    const what = [
      ...drift.missingTables.map((t) => `table ${t.table}`),
      ...drift.missingColumns.map((c) => `column ${c.table}.${c.column}`),
      ...drift.missingTriggers
        .filter((t) => !drift.missingTables.some((m) => m.table === t))
        .map((t) => `change-marking trigger on ${t}`),
    ];
    throw new ConfigError(
      `schema drift: the SQLite database of "${dep.client_name}" has ${what.length} ${what.length === 1 ? 'item' : 'items'} the mirror lacks (${what.slice(0, 5).join(', ')}${what.length > 5 ? ', ...' : ''}); nothing was synced`,
      `review with: owui-sync schema diff ${dep.client_name}; then apply with: owui-sync schema apply ${dep.client_name} (admin connection)`,
    );
  }
  // Values are shaped for the column type the mirror really has.
  for (const t of plan.tables) {
    const types = targetTypes(target, t.name);
    for (const c of t.columns) c.pgType = types.get(c.name) ?? c.pgType;
  }
  const conflicts = await loadConflictConfig(sql, dep);
  checkCompareFields(conflicts, plan, dep.client_name);
  if (!(await takeLock(sql, dep, lock))) throw new SyncBusyError(dep.client_name);
  // We hold the deployment's lock, so a job still marked running was abandoned (its process died).
  await sql`
    update sync_metadata.sync_jobs set status = 'failed',
      error_message = 'abandoned: the process running it ended before it finished (killed or crashed); the next run resumed from its last committed batch'
    where deployment_id = ${dep.deployment_id} and status = 'running' ${o.job ? sql`and job_id <> ${o.job.id}` : sql``}`;
  const cps = new Map(
    (
      await sql<Checkpoint[]>`
        select table_name, cursor_updated_at::text, cursor_rowid::text, scan_key, scan_started_rowid::text, scan_max_updated_at::text
        from sync_metadata.table_checkpoints where deployment_id = ${dep.deployment_id}`
    ).map((c) => [c.table_name, c]),
  );
  const reconcileDue = dep.runs_since_reconcile + 1 >= dep.reconcile_every;
  // The first run of a deployment is a full one whatever was asked.
  let kind: RunKind = o.full || cps.size === 0 ? 'full' : reconcileDue ? 'reconcile' : 'incremental';
  const pending = new Map<string, Set<string>>();
  for (const r of await sql<{ table_name: string; record_id: unknown }[]>`
      select table_name, record_id from sync_metadata.rejected_rows
      where deployment_id = ${dep.deployment_id} and resolved_at is null and jsonb_typeof(record_id->0) = 'string'`) {
    if (!pending.has(r.table_name)) pending.set(r.table_name, new Set());
    pending.get(r.table_name)!.add(JSON.stringify(r.record_id));
  }
  const allCheckpointed = plan.tables.every((t) => cps.has(t.name) && !cps.get(t.name)!.scan_key);
  if (
    kind === 'incremental' &&
    allCheckpointed &&
    pending.size === 0 &&
    dep.last_sync_status === 'success' &&
    dep.source_fingerprint === fpBefore
  )
    kind = 'unchanged';
  const meta = JSON.stringify({ kind, skipped_tables: plan.skipped });
  const jobId = await sql.begin(async (tx) => {
    let id: string;
    if (o.job) {
      await o.job.fence(tx);
      await tx`
        update sync_metadata.sync_jobs set tables_total = ${plan.tables.length}, sync_type = ${kind === 'full' ? 'full' : 'incremental'},
          metadata = coalesce(metadata, '{}'::jsonb) || ${meta}::text::jsonb
        where job_id = ${o.job.id}`;
      id = o.job.id;
    } else {
      const [job] = await tx<{ job_id: string }[]>`
        insert into sync_metadata.sync_jobs (deployment_id, client_name, status, tables_total, triggered_by, sync_type, metadata)
        values (${dep.deployment_id}, ${dep.client_name}, 'running', ${plan.tables.length}, ${o.triggeredBy ?? 'manual'},
                ${kind === 'full' ? 'full' : 'incremental'}, ${meta}::text::jsonb)
        returning job_id`;
      id = job!.job_id;
    }
    await tx`update sync_metadata.client_deployments set last_sync_status = 'running', updated_at = now() where deployment_id = ${dep.deployment_id}`;
    return id;
  });
  return { conflicts, fpBefore, jobId, kind, cps, pending };
}

async function execute(
  sql: Sql,
  db: TenantDb,
  dep: Deployment,
  plan: SourcePlan,
  { conflicts, fpBefore, jobId, kind, cps, pending }: Prepared,
  o: SyncOptions & typeof DEFAULTS,
  started: number,
): Promise<SyncResult> {
  const result: SyncResult = {
    client: dep.client_name,
    job_id: jobId,
    kind,
    status: 'success',
    tables: [],
    skipped_tables: plan.skipped,
    totals: {
      rows_read: 0,
      inserted: 0,
      updated: 0,
      tombstoned: 0,
      rejected: 0,
      raw_values: 0,
      bytes: 0,
      conflicts: 0,
      conflicts_resolved: 0,
      conflicts_pending: 0,
    },
    rejected_pending: 0,
    conflicts_pending: 0,
    duration_ms: 0,
  };
  // Reading journal_mode only reports it; it never changes it.
  const readBytes =
    String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal' ? READ_BYTES.wal : READ_BYTES.rollback;
  const policies = new Map(
    plan.tables.map((t) => {
      const p = tablePolicy(conflicts, t.name);
      const q = t.columns.some((c) => c.name === p.compareField) ? p : { ...p, compareField: '' };
      return [t.name, { ...q, detect: o.detectConflicts !== false }];
    }),
  );
  const log = conflicts.conflict_resolution.resolution_log;
  const conflictPolicy = {
    policy: (table: string) => policies.get(table)!,
    snapshots: log.include_data_snapshot,
    logResolved: log.enabled,
  };
  const writer = new BatchWriter(
    sql,
    {
      schema: dep.client_name,
      deploymentId: dep.deployment_id,
      clientName: dep.client_name,
      jobId,
      signal: o.signal,
      conflicts: conflictPolicy,
    },
    o.hooks,
    pending,
  );
  let failure: unknown;
  if (kind !== 'unchanged') {
    for (let i = 0; i < plan.tables.length; i++) {
      const t = plan.tables[i]!;
      try {
        if (o.signal?.aborted) throw new OwuiError('cancelled');
        const ctx: TableCtx = {
          readBytes,
          sql,
          db,
          dep,
          t,
          cp: cps.get(t.name),
          kind,
          writer,
          o,
          index: i,
          count: plan.tables.length,
        };
        const retried = pending.get(t.name)?.size
          ? await retrySetAside(
              ctx,
              [...pending.get(t.name)!].map((k) => JSON.parse(k) as string[]),
            )
          : null;
        const r = await syncTable(ctx);
        if (retried) add(r, retried, retried.rowsRead);
        result.tables.push(r);
        for (const k of Object.keys(result.totals) as (keyof SyncResult['totals'])[]) {
          result.totals[k] += k === 'rows_read' ? r.rows_read : ((r as unknown as Record<string, number>)[k] ?? 0);
        }
      } catch (err) {
        failure = o.signal?.aborted
          ? new OwuiError('cancelled')
          : withContext(`sync of client "${dep.client_name}", table "${t.name}"`, err);
        break;
      }
    }
  }
  result.status = failure ? (o.signal?.aborted ? 'cancelled' : 'failed') : 'success';
  result.error = failure ? messageOf(failure) : undefined;
  if (isFenced(failure)) result.fenced = true;
  result.duration_ms = Date.now() - started;
  // Reads: retried like a batch when the connection is lost (the run may have ended because it was).
  const [counts] = await retry(
    () => sql<{ rejected: number; conflicts: number }[]>`
      select (select count(*)::int from sync_metadata.rejected_rows where deployment_id = ${dep.deployment_id} and resolved_at is null) as rejected,
             (select count(*)::int from sync_metadata.conflict_log where deployment_id = ${dep.deployment_id} and resolved_at is null) as conflicts`,
    { isTransient: isTransientPgError, attempts: 4 },
  );
  result.rejected_pending = counts!.rejected;
  result.conflicts_pending = counts!.conflicts;
  const runsSince =
    kind === 'full' || kind === 'reconcile' ? 0 : dep.runs_since_reconcile + (kind === 'unchanged' ? 0 : 1);
  await retry(
    () =>
      sql.begin(async (tx) => {
        await o.job?.fence(tx);
        await tx`
          update sync_metadata.sync_jobs set status = ${result.status},
            tables_synced = ${result.tables.length}, rows_synced = ${result.totals.inserted + result.totals.updated + result.totals.tombstoned},
            rows_failed = ${result.totals.rejected}, bytes_transferred = ${result.totals.bytes},
            conflicts_detected = ${result.totals.conflicts}, conflicts_resolved = ${result.totals.conflicts_resolved},
            error_message = ${result.error ?? null},
            metadata = metadata || ${JSON.stringify({ kind, totals: result.totals, tables: result.tables })}::text::jsonb
          where job_id = ${jobId}`;
        await tx`update sync_metadata.sync_progress set status = ${result.status}, completed_at = now() where job_id = ${jobId}`;
        if (result.status === 'success') {
          // Retention of the audit log, through the purge function (the host role has no DELETE).
          await tx`select sync_metadata.purge_conflict_log(${conflicts.conflict_resolution.resolution_log.retention_days})`;
          await tx`
            update sync_metadata.client_deployments set last_sync_at = now(), last_sync_status = 'success',
              source_fingerprint = ${fpBefore}, runs_since_reconcile = ${runsSince}, updated_at = now()
            where deployment_id = ${dep.deployment_id}`;
        } else {
          await tx`update sync_metadata.client_deployments set last_sync_status = 'failed', updated_at = now() where deployment_id = ${dep.deployment_id}`;
        }
      }),
    { isTransient: (err) => !isFenced(err), attempts: 4 },
  ).catch((err) => {
    if (isFenced(err)) result.fenced = true;
    // The run's own outcome matters more than its bookkeeping: a job row left 'running' is
    // recognisable as abandoned (its deployment has no lock holder) and reported by status.
  });
  return result;
}

interface TableCtx {
  readBytes: number;
  sql: Sql;
  db: TenantDb;
  dep: Deployment;
  t: TablePlan;
  cp: Checkpoint | undefined;
  kind: RunKind;
  writer: BatchWriter;
  o: SyncOptions & typeof DEFAULTS;
  index: number;
  count: number;
}

function emptyResult(table: string, mode: TableMode): TableResult {
  return {
    table,
    mode,
    rows_read: 0,
    inserted: 0,
    updated: 0,
    tombstoned: 0,
    rejected: 0,
    raw_values: 0,
    bytes: 0,
    batches: 0,
    conflicts: 0,
    conflicts_resolved: 0,
    conflicts_pending: 0,
  };
}

/** Rows set aside by earlier runs are tried again first: once the cause is fixed, they land. */
async function retrySetAside(c: TableCtx, keys: string[][]): Promise<BatchOutcome & { rowsRead: number }> {
  const { page, missing } = new TableReader(c.db, c.t).readKeys(keys);
  const out = await c.writer.write({
    table: c.t,
    rows: page.rows,
    unkeyable: [],
    tombstones: [],
    checkpoint: {},
    rowsRead: page.rows.length,
    goneKeys: missing,
  });
  return { ...out, rowsRead: page.rows.length };
}

function add(r: TableResult, b: BatchOutcome, rowsRead: number) {
  r.rows_read += rowsRead;
  r.inserted += b.inserted;
  r.updated += b.updated;
  r.tombstoned += b.tombstoned;
  r.rejected += b.rejected;
  r.raw_values += b.rawValues;
  r.bytes += b.bytes;
  r.conflicts += b.conflicts;
  r.conflicts_resolved += b.conflictsResolved;
  r.conflicts_pending += b.conflictsPending;
  r.batches++;
}

const cursorable = (t: TablePlan) =>
  t.hasUpdatedAt && t.columns.find((c) => c.name === 'updated_at')?.pgType === 'bigint';

async function syncTable(c: TableCtx): Promise<TableResult> {
  const { t, cp, kind } = c;
  const resumeScan = !!cp?.scan_key && kind !== 'full';
  const full =
    kind === 'full' || kind === 'reconcile' || !cp || resumeScan || (cp.cursor_updated_at === null && cursorable(t));
  if (full || !cursorable(t)) return fullScan(c, full ? 'full' : 'hash-diff');
  return incremental(c);
}

/** SQLite reads retry on SQLITE_BUSY (Open WebUI holding its write lock longer than the busy timeout). */
function readPage(
  reader: TableReader,
  q: Parameters<TableReader['read']>[0],
  limits: PageLimits,
  signal?: AbortSignal,
): Promise<Page> {
  return retry(async () => reader.read(q, limits), { isTransient: isSqliteBusy, signal });
}

/**
 * Full scan in key order, compared page by page with the same key range of the mirror: rows that
 * are new or whose hash differs are written, mirror rows gone from SQLite are tombstoned. Used
 * for the first sync of a table, --full, the reconciliation pass, and tables without updated_at.
 * Resumable: the position is checkpointed with each batch.
 */
async function fullScan(c: TableCtx, mode: TableMode): Promise<TableResult> {
  const { t, cp, o, sql, dep } = c;
  const reader = new TableReader(c.db, t);
  const res = emptyResult(t.name, mode);
  const resume = cp?.scan_key && c.kind !== 'full' ? decodeKey(cp.scan_key) : null;
  let after: unknown[] | null = resume;
  let afterText: string[] | null = resume ? resume.map(keyText) : null;
  const startedRowid = resume ? big(cp!.scan_started_rowid) : reader.maxRowid();
  let maxUpd = resume ? big(cp!.scan_max_updated_at) : null;
  const total = o.onProgress ? reader.count() : null;
  const limits = { rows: o.batchRows, bytes: Math.min(o.batchBytes, c.readBytes) };
  let page = await readPage(reader, { kind: 'key', after }, limits, o.signal);
  for (;;) {
    if (o.signal?.aborted) throw new OwuiError('cancelled');
    maxUpd = maxBig(maxUpd, page.maxUpdatedAt);
    const hiText = page.done ? null : page.lastKey!.map(keyText);
    const unkeyable = after === null ? reader.readUnkeyable().concat(page.unkeyable) : page.unkeyable;
    // Mirror side of the same key range (after, last key of the page], or to the end when done.
    const params = [...(afterText ?? []), ...(hiText ?? [])];
    const targetRows = await retry(
      () => sql.unsafe(targetRangeSql(dep.client_name, t, afterText !== null, hiText !== null, false), params),
      {
        isTransient: isTransientPgError,
        onRetry: o.hooks?.onRetry,
        signal: o.signal,
      },
    );
    const nk = t.key.length;
    const targetByKey = new Map<string, { hash: string; dead: boolean }>();
    for (const r of targetRows) {
      const vals = Object.values(r) as unknown[];
      targetByKey.set(JSON.stringify(vals.slice(0, nk)), { hash: r._sync_hash as string, dead: r.dead as boolean });
    }
    let absent = 0;
    const changed = page.rows.filter((row) => {
      const k = JSON.stringify(row.key);
      const tr = targetByKey.get(k);
      targetByKey.delete(k);
      if (!tr) absent++;
      return !tr || tr.dead || tr.hash !== row.hash;
    });
    const tombstones: string[][] = [];
    for (const [k, v] of targetByKey) if (!v.dead) tombstones.push(JSON.parse(k) as string[]);
    const checkpoint: CheckpointPatch = page.done
      ? {
          scan_key: null,
          scan_started_rowid: null,
          scan_max_updated_at: null,
          last_full_at: true,
          cursor_rowid: startedRowid,
          cursor_updated_at: maxBig(maxUpd, big(cp?.cursor_updated_at)),
        }
      : { scan_key: page.lastKey, scan_started_rowid: startedRowid, scan_max_updated_at: maxUpd };
    const n = page.rows.length + page.unkeyable.length;
    const writing = c.writer.write({
      table: t,
      rows: changed,
      unkeyable,
      tombstones,
      checkpoint,
      rowsRead: n,
      allNew: changed.length > 0 && absent === changed.length,
    });
    // Read the next page while PostgreSQL works on this batch (a short statement of its own).
    const next = page.done ? null : readPage(reader, { kind: 'key', after: page.lastKey }, limits, o.signal);
    next?.catch(() => {});
    const out = await writing;
    add(res, out, n);
    o.onProgress?.({
      table: t.name,
      tableIndex: c.index,
      tableCount: c.count,
      mode,
      rowsRead: res.rows_read,
      rowsTotal: total,
      rowsWritten: res.inserted + res.updated,
      bytes: res.bytes,
    });
    if (!next) return res;
    after = page.lastKey;
    afterText = hiText;
    page = await next;
  }
}

/**
 * Incremental: (a) rows whose updated_at is at or after the cursor minus the overlap window, and
 * (b) rows added since the last rowid seen, whatever their timestamps (imports). Updates that do
 * not bump updated_at, and deletes, are left to the reconciliation pass.
 */
async function incremental(c: TableCtx): Promise<TableResult> {
  const { t, cp, o } = c;
  const reader = new TableReader(c.db, t);
  const res = emptyResult(t.name, 'incremental');
  const cursor = big(cp!.cursor_updated_at)!;
  const lower = cursor - overlapFor(cursor, o.overlapSeconds);
  const limits = { rows: o.batchRows, bytes: Math.min(o.batchBytes, c.readBytes) };
  const emit = (b: Omit<Batch, 'table' | 'unkeyable'> & { page: Page }) =>
    c.writer.write({
      table: t,
      rows: b.rows,
      unkeyable: b.page.unkeyable,
      tombstones: [],
      checkpoint: b.checkpoint,
      rowsRead: b.rowsRead,
    });
  const progress = () =>
    o.onProgress?.({
      table: t.name,
      tableIndex: c.index,
      tableCount: c.count,
      mode: 'incremental',
      rowsRead: res.rows_read,
      rowsTotal: null,
      rowsWritten: res.inserted + res.updated,
      bytes: res.bytes,
    });

  // (a) by updated_at
  let newCursor = cursor;
  if (t.updatedAtIndexed) {
    let after: { updatedAt: bigint; key: unknown[] } | null = null;
    for (;;) {
      if (o.signal?.aborted) throw new OwuiError('cancelled');
      const page = await readPage(reader, { kind: 'cursor', min: lower, after }, limits, o.signal);
      if (page.lastUpdatedAt !== null && page.lastUpdatedAt > newCursor) newCursor = page.lastUpdatedAt;
      const n = page.rows.length + page.unkeyable.length;
      if (n > 0) {
        add(
          res,
          await emit({
            page,
            rows: page.rows,
            tombstones: [],
            checkpoint: { cursor_updated_at: newCursor },
            rowsRead: n,
          }),
          n,
        );
        progress();
      }
      if (page.done || page.lastKey === null) break;
      after = { updatedAt: page.lastUpdatedAt!, key: page.lastKey };
    }
  } else {
    // No index on updated_at: one pass in key order with a filter. The cursor moves only at the end,
    // since rows later in key order may have older timestamps than rows already seen.
    let after: unknown[] | null = null;
    let maxSeen: bigint | null = null;
    for (;;) {
      if (o.signal?.aborted) throw new OwuiError('cancelled');
      const page = await readPage(reader, { kind: 'key', after, minUpdatedAt: lower }, limits, o.signal);
      maxSeen = maxBig(maxSeen, page.maxUpdatedAt);
      const n = page.rows.length + page.unkeyable.length;
      const checkpoint: CheckpointPatch = page.done ? { cursor_updated_at: maxBig(maxSeen, cursor) } : {};
      if (n > 0 || page.done) {
        add(res, await emit({ page, rows: page.rows, tombstones: [], checkpoint, rowsRead: n }), n);
        progress();
      }
      if (page.done || page.lastKey === null) break;
      after = page.lastKey;
    }
  }

  // (b) by rowid: new rows with old timestamps (imports), which (a) cannot see. Rows (a) has just
  // read (updated_at at or above the lower bound) are not sent twice.
  const updIdx = t.columns.findIndex((col) => col.name === 'updated_at');
  const seenByA = (v: string | null) => v !== null && /^-?\d+$/.test(v) && BigInt(v) >= lower;
  if (t.hasRowid && cp!.cursor_rowid !== null) {
    let after = big(cp!.cursor_rowid)!;
    for (;;) {
      if (o.signal?.aborted) throw new OwuiError('cancelled');
      const page = await readPage(reader, { kind: 'rowid', after }, limits, o.signal);
      if (page.lastRowid === null) break;
      const n = page.rows.length + page.unkeyable.length;
      const rows = page.rows.filter((r) => !seenByA(r.values[updIdx]!));
      add(
        res,
        await emit({ page, rows, tombstones: [], checkpoint: { cursor_rowid: page.lastRowid }, rowsRead: n }),
        n,
      );
      progress();
      if (page.done) break;
      after = page.lastRowid;
    }
  }
  return res;
}

/** Canonical text of a SQLite key value, as the mirror's key column prints it. */
function keyText(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  return String(v);
}
