import type { ConflictConfig } from '../conflicts/config.ts';
import type { SourcePlan } from '../model/plan.ts';
import { isTransientPgError, type Sql, type Tx } from '../pg/connect.ts';
import type { Deployment } from '../pg/deployments.ts';
import { recordSchema } from '../pg/source-schema.ts';
import { binaryForms, blockingDrift, diffSchema, readTargetSchema, targetTypes } from '../pg/tenant.ts';
import type { SchemaSnapshot } from '../sqlite/snapshot.ts';
import { ConfigError, isFenced, messageOf, OwuiError } from '../util/errors.ts';
import { retry } from '../util/retry.ts';
import { checkCompareFields, loadConflictConfig } from './conflict-policy.ts';
import * as jobs from './jobs.ts';
import type { RunOptions } from './options.ts';
import type { RunKind, SyncResult } from './result.ts';
import type { WriterHooks } from './writer.ts';

// The run's bookkeeping: everything before the first batch (drift check, lock, abandoned jobs, checkpoints,
// the job row) and after the last one (the job's result, the deployment's last sync).

/** The deployment's lock is held by another run: nothing was written; try again later. */
export class SyncBusyError extends OwuiError {
  constructor(client: string) {
    super(`another sync of "${client}" is running`, {
      hint: 'wait for it to finish (owui-sync status shows running jobs), then run again',
    });
    this.name = 'SyncBusyError';
  }
}

/**
 * Which backend holds the deployment's lock (a session lock: a new connection does not). In transaction mode
 * (`perTransaction`) there is no session to hold it: every writing transaction of the run takes it for itself.
 */
export interface LockState {
  pid: number | null;
  perTransaction?: boolean;
}

async function takeLock(q: Sql | Tx, dep: Deployment, lock: LockState): Promise<boolean> {
  const { pid, ok } = await jobs.tryLock(q, dep.deployment_id, lock.pid);
  if (ok) lock.pid = pid;
  return ok;
}

export async function releaseLock(sql: Sql, dep: Deployment, lock: LockState): Promise<void> {
  if (lock.pid !== null) await jobs.unlock(sql, dep.deployment_id).catch(() => {});
}

/**
 * The deployment lock is a session lock, so it is gone after a reconnect (a transient error). Every
 * batch transaction checks that its connection is the one holding it, and takes it again if not;
 * if another run has it by then, this run stops before writing.
 */
export function keepLock(dep: Deployment, lock: LockState, hooks: WriterHooks | undefined): WriterHooks {
  return {
    ...hooks,
    beforeWrite: async (tx) => {
      const held = lock.perTransaction ? await jobs.tryXactLock(tx, dep.deployment_id) : await takeLock(tx, dep, lock);
      if (!held) {
        throw new OwuiError(
          `another sync of "${dep.client_name}" started while this one was reconnecting; this run stops`,
          { hint: 'nothing is lost: the other run carries on from the last committed batch' },
        );
      }
      await hooks?.beforeWrite?.(tx);
    },
  };
}

export interface Prepared {
  conflicts: ConflictConfig;
  fpBefore: string;
  jobId: string;
  kind: RunKind;
  cps: Map<string, jobs.Checkpoint>;
  /** Keys (JSON text) of rows set aside by earlier runs, by table. */
  pending: Map<string, Set<string>>;
  /**
   * This run finishes a full or reconciliation pass that was interrupted: these tables were scanned in full by
   * it already and are read incrementally; every other table is scanned in full.
   */
  finishing?: Set<string>;
}

/**
 * Everything before the first batch: drift check, lock, abandoned jobs, checkpoints, the job row. The tenant's
 * plan is asked for (`getPlan`: that opens the tenant) only when the run has something to read: a run whose
 * database files are unchanged since the last successful run, with nothing pending, never opens it.
 */
export async function prepare(
  sql: Sql,
  dep: Deployment,
  getPlan: () => Promise<SourcePlan>,
  fpBefore: string,
  o: RunOptions,
  lock: LockState,
): Promise<Prepared & { plan: SourcePlan }> {
  const maybeUnchanged = !o.full && dep.last_sync_status === 'success' && dep.source_fingerprint === fpBefore;
  const conflicts = await loadConflictConfig(sql, dep);
  let plan = maybeUnchanged ? null : await checkedPlan(sql, dep, getPlan, conflicts);
  if (!lock.perTransaction) {
    if (!(await takeLock(sql, dep, lock))) throw new SyncBusyError(dep.client_name);
    // We hold the deployment's lock, so a job still marked running was abandoned (its process died). Without a
    // session lock (transaction mode) nothing can tell: a queued job whose node died is claimed again and
    // carried on instead, and the queue's one-active-job index keeps two runs of the agents apart.
    await jobs.markAbandoned(sql, dep.deployment_id, o.job?.id);
  }
  const cps = new Map((await jobs.loadCheckpoints(sql, dep.deployment_id)).map((c) => [c.table_name, c]));
  const reconcileDue = dep.runs_since_reconcile + 1 >= dep.reconcile_every;
  // A full or reconciliation pass that was interrupted is finished by this run, whatever kind was asked.
  const unfinished = o.full || cps.size === 0 ? null : jobs.unfinishedPass(dep.last_run, cps, o.job?.id);
  // The first run of a deployment is a full one whatever was asked.
  let kind: RunKind = o.full || cps.size === 0 ? 'full' : reconcileDue || unfinished ? 'reconcile' : 'incremental';
  const pending = new Map<string, Set<string>>();
  for (const r of await jobs.unresolvedRejectedKeys(sql, dep.deployment_id)) {
    if (!pending.has(r.table_name)) pending.set(r.table_name, new Set());
    pending.get(r.table_name)!.add(JSON.stringify(r.record_id));
  }
  // The files are as the last successful run left them, and it finished every table: nothing to read.
  const allCheckpointed = [...cps.values()].every((c) => !c.scan_key);
  if (kind === 'incremental' && maybeUnchanged && allCheckpointed && pending.size === 0) kind = 'unchanged';
  plan ??=
    kind === 'unchanged'
      ? { tables: [], skipped: dep.last_skipped_tables ?? [] }
      : await checkedPlan(sql, dep, getPlan, conflicts);
  const meta = JSON.stringify({ kind, skipped_tables: plan.skipped });
  const tablesTotal = kind === 'unchanged' ? cps.size : plan.tables.length;
  const jobId = await sql.begin(async (tx) => {
    if (lock.perTransaction && !(await jobs.tryXactLock(tx, dep.deployment_id)))
      throw new SyncBusyError(dep.client_name);
    let id: string;
    if (o.job) {
      await o.job.fence(tx);
      await jobs.adoptQueuedJob(tx, o.job.id, tablesTotal, kind, meta);
      id = o.job.id;
    } else {
      id = await jobs.insertJob(tx, {
        deploymentId: dep.deployment_id,
        client: dep.client_name,
        tablesTotal,
        triggeredBy: o.triggeredBy ?? 'manual',
        kind,
        meta,
      });
    }
    await jobs.markDeploymentRunning(tx, dep.deployment_id, id, kind);
    return id;
  });
  return {
    plan,
    conflicts,
    fpBefore,
    jobId,
    kind,
    cps,
    pending,
    finishing: unfinished ? new Set(unfinished.done) : undefined,
  };
}

/** The tenant's plan, checked against the mirror (drift stops the run) and shaped to the mirror's column types. */
async function checkedPlan(
  sql: Sql,
  dep: Deployment,
  getPlan: () => Promise<SourcePlan>,
  conflicts: ConflictConfig,
): Promise<SourcePlan> {
  const plan = await getPlan();
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
  // Values are shaped for the column type the mirror really has, and copied in binary where its types allow.
  for (const t of plan.tables) {
    const types = targetTypes(target, t.name);
    for (const c of t.columns) c.pgType = types.get(c.name) ?? c.pgType;
    t.copyBinary = binaryForms(target, t);
  }
  checkCompareFields(conflicts, plan, dep.client_name);
  return plan;
}

/** Retention is counted in days: a deployment's conflict log is purged by at most one run an hour. */
const purgeDue = (dep: Deployment) =>
  !dep.conflicts_purged_at || Date.now() - dep.conflicts_purged_at.getTime() > jobs.CONFLICT_PURGE_EVERY_MS;

/**
 * After the last batch: the pending counts, the job's result and the deployment's last sync, retried on a
 * lost connection. If that still fails, the run says so in `bookkeeping_error` (the data it committed stays
 * committed, and the job row left 'running' is marked abandoned by the next run); a fenced run's record is
 * refused, which `fenced` says.
 */
export async function finish(
  sql: Sql,
  dep: Deployment,
  prep: Prepared,
  result: SyncResult,
  o: RunOptions,
  snapshot?: SchemaSnapshot,
) {
  // The tenant's schema, recorded when the run read one other than the last recorded (restore rebuilds from it).
  const newSchema = snapshot && snapshot.hash !== dep.source_schema_hash ? snapshot : undefined;
  try {
    // Read first, retried like a batch when the connection is lost (the run may have ended because it was).
    const counts = await retry(() => jobs.pendingCounts(sql, dep.deployment_id), {
      isTransient: isTransientPgError,
      attempts: 4,
    });
    result.rejected_pending = counts.rejected;
    result.conflicts_pending = counts.conflicts;
    const { kind } = prep;
    const runsSince =
      kind === 'full' || kind === 'reconcile' ? 0 : dep.runs_since_reconcile + (kind === 'unchanged' ? 0 : 1);
    await retry(
      () =>
        sql.begin(async (tx) => {
          await o.job?.fence(tx);
          await jobs.finishJob(tx, prep.jobId, result);
          if (result.status === 'success') {
            const purged = purgeDue(dep);
            if (purged)
              await jobs.purgeConflictLog(tx, prep.conflicts.conflict_resolution.resolution_log.retention_days);
            if (newSchema) await recordSchema(tx, dep.deployment_id, newSchema);
            await jobs.markDeploymentSynced(tx, dep.deployment_id, {
              fingerprint: prep.fpBefore,
              runsSinceReconcile: runsSince,
              skipped: result.skipped_tables,
              purged,
              schemaHash: newSchema?.hash,
            });
          } else {
            await jobs.markDeploymentFailed(tx, dep.deployment_id, result.status);
          }
        }),
      { isTransient: (err) => !isFenced(err), attempts: 4 },
    );
  } catch (err) {
    if (isFenced(err)) result.fenced = true;
    else result.bookkeeping_error = `the run's record in sync_metadata could not be written: ${messageOf(err)}`;
  }
}
