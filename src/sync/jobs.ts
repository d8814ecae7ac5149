// The run's own rows in sync_metadata (its lock, job, checkpoints, set-aside rows and the deployment's last
// result), as small functions of one statement each. The orchestration that calls them is in bookkeeping.ts.
import type { Sql, Tx } from '../pg/connect.ts';
import type { LastRun } from '../pg/deployments.ts';
import type { RunKind, SyncResult } from './result.ts';

/** A table's saved position: the incremental cursor, and where an unfinished full scan stopped. */
export interface Checkpoint {
  table_name: string;
  cursor_updated_at: string | null;
  cursor_rowid: string | null;
  scan_key: unknown[] | null;
  scan_started_rowid: string | null;
  scan_max_updated_at: string | null;
  /** When a full scan of the table last finished. */
  last_full_at: Date | null;
}

/**
 * Take the deployment's advisory lock (a session lock), unless `heldBy` is this very session already.
 * Returns the session's backend pid and whether it holds the lock now.
 */
export async function tryLock(q: Sql | Tx, deploymentId: string, heldBy: number | null) {
  const [row] = (await q`
    select pg_backend_pid() as pid,
           case when ${heldBy} = pg_backend_pid() then true
                else pg_try_advisory_lock(hashtext('owui-sync:sync'), hashtext(${deploymentId})) end as ok`) as unknown as [
    { pid: number; ok: boolean },
  ];
  return row;
}

/**
 * The same lock for one transaction only (transaction mode, where no session outlives a transaction): each of a
 * run's writing transactions takes it, so it never interleaves with a run that holds the session lock.
 */
export async function tryXactLock(tx: Tx, deploymentId: string): Promise<boolean> {
  const [row] = await tx<{ ok: boolean }[]>`
    select pg_try_advisory_xact_lock(hashtext('owui-sync:sync'), hashtext(${deploymentId})) as ok`;
  return row!.ok;
}

export function unlock(sql: Sql, deploymentId: string) {
  return sql`select pg_advisory_unlock(hashtext('owui-sync:sync'), hashtext(${deploymentId}))`;
}

/** The conflict configuration `conflicts config` stored for a deployment, or undefined. */
export async function storedConflictConfig(sql: Sql, deploymentId: string): Promise<unknown> {
  const [row] = await sql<{ c: unknown }[]>`
    select config->'conflict_resolution' as c from sync_metadata.client_deployments where deployment_id = ${deploymentId}`;
  return row?.c ?? undefined;
}

/** Jobs still marked running while we hold the deployment's lock were abandoned: their process died. */
export function markAbandoned(sql: Sql, deploymentId: string, exceptJobId: string | undefined) {
  return sql`
    update sync_metadata.sync_jobs set status = 'failed',
      error_message = 'abandoned: the process running it ended before it finished (killed or crashed); the next run resumed from its last committed batch'
    where deployment_id = ${deploymentId} and status = 'running' ${exceptJobId ? sql`and job_id <> ${exceptJobId}` : sql``}`;
}

export function loadCheckpoints(sql: Sql, deploymentId: string) {
  return sql<Checkpoint[]>`
    select table_name, cursor_updated_at::text, cursor_rowid::text, scan_key, scan_started_rowid::text, scan_max_updated_at::text,
           last_full_at
    from sync_metadata.table_checkpoints where deployment_id = ${deploymentId}`;
}

/** Keys of rows set aside by earlier runs and not yet resolved (tried again first by the next run). */
export function unresolvedRejectedKeys(sql: Sql, deploymentId: string) {
  return sql<{ table_name: string; record_id: unknown }[]>`
    select table_name, record_id from sync_metadata.rejected_rows
    where deployment_id = ${deploymentId} and resolved_at is null and jsonb_typeof(record_id->0) = 'string'`;
}

const syncType = (kind: RunKind) => (kind === 'full' ? 'full' : 'incremental');

/** A job the agent claimed from the queue becomes this run's record. */
export function adoptQueuedJob(tx: Tx, jobId: string, tablesTotal: number, kind: RunKind, meta: string) {
  return tx`
    update sync_metadata.sync_jobs set tables_total = ${tablesTotal}, sync_type = ${syncType(kind)},
      metadata = coalesce(metadata, '{}'::jsonb) || ${meta}::text::jsonb
    where job_id = ${jobId}`;
}

/** A run started by hand (or by cron) records a job of its own. */
export async function insertJob(
  tx: Tx,
  j: { deploymentId: string; client: string; tablesTotal: number; triggeredBy: string; kind: RunKind; meta: string },
): Promise<string> {
  const [job] = await tx<{ job_id: string }[]>`
    insert into sync_metadata.sync_jobs (deployment_id, client_name, status, tables_total, triggered_by, sync_type, metadata)
    values (${j.deploymentId}, ${j.client}, 'running', ${j.tablesTotal}, ${j.triggeredBy}, ${syncType(j.kind)}, ${j.meta}::text::jsonb)
    returning job_id`;
  return job!.job_id;
}

/** The run has started: the deployment's row says so, and keeps what its next run needs of it (sql/009_fleet.sql). */
export function markDeploymentRunning(tx: Tx, deploymentId: string, jobId: string, kind: RunKind) {
  return tx`
    update sync_metadata.client_deployments set last_sync_status = 'running', updated_at = now(),
      last_run = jsonb_build_object('job_id', ${jobId}::text, 'kind', ${kind}::text, 'status', 'running', 'started_at', now())
    where deployment_id = ${deploymentId}`;
}

/** Rows set aside and conflicts awaiting an operator, over all runs of a deployment. */
export async function pendingCounts(
  sql: Sql | Tx,
  deploymentId: string,
): Promise<{ rejected: number; conflicts: number }> {
  const [counts] = await sql<{ rejected: number; conflicts: number }[]>`
    select (select count(*)::int from sync_metadata.rejected_rows where deployment_id = ${deploymentId} and resolved_at is null) as rejected,
           (select count(*)::int from sync_metadata.conflict_log where deployment_id = ${deploymentId} and resolved_at is null) as conflicts`;
  return counts!;
}

export async function finishJob(tx: Tx, jobId: string, r: SyncResult): Promise<void> {
  const t = r.totals;
  await tx`
    update sync_metadata.sync_jobs set status = ${r.status},
      tables_synced = ${r.tables.length}, rows_synced = ${t.inserted + t.updated + t.tombstoned},
      rows_failed = ${t.rejected}, bytes_transferred = ${t.bytes},
      conflicts_detected = ${t.conflicts}, conflicts_resolved = ${t.conflicts_resolved},
      error_message = ${r.error ?? null},
      metadata = metadata || ${JSON.stringify({ kind: r.kind, totals: t, tables: r.tables })}::text::jsonb
    where job_id = ${jobId}`;
  await tx`update sync_metadata.sync_progress set status = ${r.status}, completed_at = now() where job_id = ${jobId}`;
}

/** How often a deployment's successful runs purge its conflict log: retention is counted in days. */
export const CONFLICT_PURGE_EVERY_MS = 3600_000;

/** Retention of the audit log, through the purge function (the host role has no DELETE). */
export function purgeConflictLog(tx: Tx, retentionDays: number) {
  return tx`select sync_metadata.purge_conflict_log(${retentionDays})`;
}

export function markDeploymentSynced(
  tx: Tx,
  deploymentId: string,
  s: { fingerprint: string; runsSinceReconcile: number; skipped: unknown; purged: boolean; schemaHash?: string },
) {
  return tx`
    update sync_metadata.client_deployments set last_sync_at = now(), last_sync_status = 'success',
      source_schema_hash = coalesce(${s.schemaHash ?? null}, source_schema_hash),
      source_fingerprint = ${s.fingerprint}, runs_since_reconcile = ${s.runsSinceReconcile}, updated_at = now(),
      last_run = last_run || '{"status": "success"}', last_skipped_tables = ${JSON.stringify(s.skipped)}::text::jsonb,
      conflicts_purged_at = case when ${s.purged} then now() else conflicts_purged_at end
    where deployment_id = ${deploymentId}`;
}

export function markDeploymentFailed(tx: Tx, deploymentId: string, status: string) {
  return tx`
    update sync_metadata.client_deployments set last_sync_status = 'failed', updated_at = now(),
      last_run = last_run || jsonb_build_object('status', ${status}::text)
    where deployment_id = ${deploymentId}`;
}

/**
 * The deployment's last run before this one (kept on its row): if it was a full or reconciliation pass that did
 * not succeed (killed, failed, cancelled), which tables that pass had already scanned in full. A job run again
 * after its node died is its own last run: nothing is known of the one before.
 */
export function unfinishedPass(
  last: LastRun | null,
  cps: Map<string, Checkpoint>,
  currentJobId: string | undefined,
): { done: string[] } | null {
  if (!last || last.job_id === currentJobId || last.status === 'success') return null;
  if (last.kind !== 'full' && last.kind !== 'reconcile') return null;
  const started = last.started_at ? new Date(last.started_at).getTime() : Number.POSITIVE_INFINITY;
  return {
    done: [...cps.values()]
      .filter((c) => c.last_full_at && c.last_full_at.getTime() >= started)
      .map((c) => c.table_name),
  };
}
