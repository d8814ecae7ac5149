import type { SourcePlan } from '../model/plan.ts';
import { isTransientPgError, poolMode, type Sql, type Tx } from '../pg/connect.ts';
import type { Deployment } from '../pg/deployments.ts';
import { fingerprint } from '../sqlite/fingerprint.ts';
import { introspect } from '../sqlite/introspect.ts';
import { isSqliteBusy, openTenant, type TenantDb } from '../sqlite/open.ts';
import { openWorkerSource, type TenantSource } from '../sqlite/source.ts';
import { ConfigError, isFenced, messageOf, OwuiError, withContext } from '../util/errors.ts';
import { retry } from '../util/retry.ts';
import { finish, keepLock, type LockState, type Prepared, prepare, releaseLock } from './bookkeeping.ts';
import { conflictPolicy } from './conflict-policy.ts';
import { DEFAULTS, type RunOptions, type SyncOptions } from './options.ts';
import { addBatch, addTable, emptyTotals, type SyncResult } from './result.ts';
import { readLimitsFor, retrySetAside, syncTable, type TableCtx } from './scan.ts';
import { BatchWriter } from './writer.ts';

// One sync run, orchestrated: open the tenant, prepare (bookkeeping.ts), scan each table (scan.ts) through
// the batch writer (writer.ts), finish (bookkeeping.ts).

export { SyncBusyError } from './bookkeeping.ts';
export type { SyncOptions } from './options.ts';

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
  // The tenant is opened (in a reader thread) only when the run has something to read.
  let opening: Promise<TenantSource> | null = null;
  const reader = () => {
    opening ??= openReader(dep.sqlite_path, o.signal);
    return opening;
  };
  const lock: LockState = { pid: null, perTransaction: poolMode(sql) === 'transaction' };
  try {
    // A connection lost while preparing is retried like one lost in a batch: nothing is written yet.
    const prep = await retry(() => prepare(sql, dep, async () => (await reader()).plan, fpBefore, o, lock), {
      isTransient: isTransientPgError,
      onRetry: o.hooks?.onRetry,
      signal: o.signal,
    });
    // A run over an unchanged tenant reads nothing, unless no schema of it is recorded yet (restore needs one):
    // then it opens the tenant for that alone.
    if (prep.kind === 'unchanged' && !dep.source_schema_hash) await reader();
    // The reader normalises values for the column types the mirror really has (prepare shaped the plan).
    const src = opening ? await reader() : null;
    await src?.setPlan(prep.plan);
    const hooks = o.job
      ? {
          ...o.hooks,
          beforeCommit: async (tx: Tx) => {
            await o.hooks?.beforeCommit?.(tx);
            await o.job!.fence(tx);
          },
        }
      : o.hooks;
    return await execute(sql, src, dep, prep.plan, prep, { ...o, hooks: keepLock(dep, lock, hooks) }, started);
  } finally {
    if (opening) await (await (opening as Promise<TenantSource>).catch(() => null))?.close();
    await releaseLock(sql, dep, lock);
  }
}

/**
 * Open a tenant for a sync run in a reader thread of its own (sqlite/source.ts), retrying while Open WebUI holds
 * its lock past the busy timeout.
 */
function openReader(path: string, signal?: AbortSignal): Promise<TenantSource> {
  return retry(() => openWorkerSource(path), { isTransient: isSqliteBusy, signal, attempts: 4 });
}

/** Open a tenant and read its schema in this thread, retrying while Open WebUI holds its lock past the busy timeout. */
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

/** Scan every table in turn (unless nothing changed), then record the outcome. */
async function execute(
  sql: Sql,
  src: TenantSource | null,
  dep: Deployment,
  plan: SourcePlan,
  prep: Prepared,
  o: RunOptions,
  started: number,
): Promise<SyncResult> {
  const { jobId, kind, cps, pending } = prep;
  const result: SyncResult = {
    client: dep.client_name,
    job_id: jobId,
    kind,
    status: 'success',
    tables: [],
    skipped_tables: plan.skipped,
    totals: emptyTotals(),
    rejected_pending: 0,
    conflicts_pending: 0,
    duration_ms: 0,
  };
  const read = readLimitsFor(src?.journal ?? 'wal', o.readStatementMs);
  const writer = new BatchWriter(
    sql,
    {
      schema: dep.client_name,
      deploymentId: dep.deployment_id,
      clientName: dep.client_name,
      jobId,
      signal: o.signal,
      idleTransactionMs: o.idleTransactionMs,
      conflicts: conflictPolicy(prep.conflicts, plan, o.detectConflicts !== false),
      loadValues: async (t, rows) => {
        const { page } = await src!.table(t, 'values').readKeys(rows.map((r) => r.key));
        const byKey = new Map(page.rows.map((r) => [JSON.stringify(r.key), r]));
        for (const r of rows) {
          const got = byKey.get(JSON.stringify(r.key));
          if (got)
            Object.assign(r, { values: got.values, raw: got.raw, hash: got.hash, light: got.light, copy: undefined });
        }
      },
    },
    o.hooks,
    pending,
  );
  let failure: unknown;
  for (let i = 0; i < plan.tables.length && kind !== 'unchanged'; i++) {
    const t = plan.tables[i]!;
    try {
      if (o.signal?.aborted) throw new OwuiError('cancelled');
      const ctx: TableCtx = {
        read,
        sql,
        src: src!, // opened: a run that reads tables is never 'unchanged'
        dep,
        t,
        cp: cps.get(t.name),
        kind,
        writer,
        o,
        index: i,
        count: plan.tables.length,
        doneInPass: prep.finishing?.has(t.name),
      };
      const setAside = pending.get(t.name);
      const retried = setAside?.size
        ? await retrySetAside(
            ctx,
            [...setAside].map((k) => JSON.parse(k) as string[]),
          )
        : null;
      const r = await syncTable(ctx);
      if (retried) addBatch(r, retried, retried.rowsRead);
      result.tables.push(r);
      addTable(result.totals, r);
    } catch (err) {
      // A batch refused by the fence stays fenced even if the run was told to stop meanwhile.
      failure =
        o.signal?.aborted && !isFenced(err)
          ? new OwuiError('cancelled')
          : withContext(`sync of client "${dep.client_name}", table "${t.name}"`, err);
      break;
    }
  }
  result.status = failure ? (o.signal?.aborted ? 'cancelled' : 'failed') : 'success';
  result.error = failure ? messageOf(failure) : undefined;
  if (isFenced(failure)) result.fenced = true;
  result.duration_ms = Date.now() - started;
  await finish(sql, dep, prep, result, o, src?.snapshot);
  return result;
}
