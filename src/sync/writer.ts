import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TablePolicy } from '../conflicts/config.ts';
import { mergeRow } from '../conflicts/merge.ts';
import { BINARY_COPY_HEADER, BINARY_COPY_TRAILER, CopyEncoder, copyTextOf } from '../model/copy.ts';
import type { BinaryForm, TablePlan } from '../model/plan.ts';
import { copyLine, makeRow, type NormRow, valuesOf } from '../model/values.ts';
import {
  idleLimit,
  isDataPgError,
  isTransientPgError,
  poolMode,
  poolSocketEvents,
  type Sql,
  type Tx,
} from '../pg/connect.ts';
import type { Page } from '../sqlite/reader.ts';
import { messageOf, withContext } from '../util/errors.ts';
import { retry } from '../util/retry.ts';
import { logConflict, recordIdOf } from './conflict-log.ts';
import {
  copyDirectSql,
  copyStageSql,
  createStageSql,
  mergeSql,
  mirrorRowsByKeySql,
  tombstoneSql,
  truncateStageSql,
  updateMirrorRowParams,
  updateMirrorRowSql,
} from './sql.ts';

/** Checkpoint fields a batch moves, in the same transaction as its rows. */
export interface CheckpointPatch {
  cursor_updated_at?: bigint | null;
  cursor_rowid?: bigint | null;
  scan_key?: unknown[] | null;
  scan_started_rowid?: bigint | null;
  scan_max_updated_at?: bigint | null;
  last_full_at?: boolean;
}

export interface Batch {
  table: TablePlan;
  rows: NormRow[];
  unkeyable: { values: (string | null)[]; reason: string }[];
  tombstones: string[][];
  checkpoint: CheckpointPatch;
  rowsRead: number;
  /**
   * Every row is new: a full scan found none of these keys in the mirror. They are copied straight
   * into the mirror table (no staging, no merge); a key that appeared meanwhile falls back to the merge.
   */
  allNew?: boolean;
  /**
   * A page read in its COPY form whose key range the mirror has none of (a first sync): all its rows are new, and
   * they are written from its COPY data as it is, in place of `rows` (its row records are made only if the batch
   * falls back to the merge, or meets rows set aside earlier).
   */
  newPage?: Page;
  /** Keys of set-aside rows that are gone from SQLite: their entries are resolved. */
  goneKeys?: string[][];
}

export interface BatchOutcome {
  inserted: number;
  updated: number;
  tombstoned: number;
  rejected: number;
  rawValues: number;
  bytes: number;
  /** Conflicts met in this batch; resolved by the strategy; left pending for an operator. */
  conflicts: number;
  conflictsResolved: number;
  conflictsPending: number;
}

/** What a table does with conflicts, and whether the log keeps row snapshots. */
export interface ConflictPolicyFor {
  policy: (table: string) => TablePolicy;
  snapshots: boolean;
  /** resolution_log.enabled: log the conflicts a strategy resolved (pending ones are always logged). */
  logResolved: boolean;
}

export interface WriterHooks {
  /** Runs first in every batch transaction. */
  beforeWrite?: (tx: Tx) => Promise<void>;
  /**
   * Runs last in every batch transaction, right before COMMIT: the agent's fencing check goes here, so
   * the lock it takes on the lease row is held only for the commit, never across a COPY (a process
   * paused in the middle of one would hold it for as long as it is paused).
   */
  beforeCommit?: (tx: Tx) => Promise<void>;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

interface Rejected {
  row: { key: string[]; values: (string | null)[]; hash?: string };
  reason: string;
  /** SQLSTATE: 23xxx is a constraint_violation, 22xxx a type_mismatch. */
  code?: string;
}

type MergeOutcome = { inserted: number; updated: number; conflicts: number; pending: number; rejected: Rejected[] };

/** Encode SQLite key values for JSON (BigInt is not JSON). */
export function encodeKey(key: unknown[]): unknown[] {
  return key.map((v) =>
    typeof v === 'bigint' ? { i: v.toString() } : Buffer.isBuffer(v) ? { b: v.toString('base64') } : v,
  );
}
export function decodeKey(key: unknown[]): unknown[] {
  return key.map((v) => {
    if (v && typeof v === 'object' && 'i' in v) return BigInt((v as { i: string }).i);
    if (v && typeof v === 'object' && 'b' in v) return Buffer.from((v as { b: string }).b, 'base64');
    return v;
  });
}

/** PostgreSQL refused a batch's rows copied straight into the mirror: its transaction is rolled back, and redone. */
class DirectCopyRefused extends Error {
  constructor(refusal: unknown) {
    super('the rows copied straight into the mirror were refused; written again through the merge', { cause: refusal });
  }
}

/** A batch's outcome before anything is written (and the outcome of a batch with nothing to write). */
export function emptyOutcome(): BatchOutcome {
  return {
    inserted: 0,
    updated: 0,
    tombstoned: 0,
    rejected: 0,
    rawValues: 0,
    bytes: 0,
    conflicts: 0,
    conflictsResolved: 0,
    conflictsPending: 0,
  };
}

/**
 * Writes batches for one sync job. One batch is one transaction: COPY straight into the mirror (new rows)
 * or into a staging table and a set-based merge, tombstones, set-aside rows, the table's checkpoint and the
 * job's progress.
 * A transient failure redoes the whole transaction (idempotent); a row PostgreSQL rejects is
 * isolated by bisection inside savepoints and set aside with its reason.
 */
export class BatchWriter {
  constructor(
    private readonly sql: Sql,
    private readonly ctx: {
      schema: string;
      deploymentId: string;
      clientName: string;
      jobId: string;
      signal?: AbortSignal;
      idleTransactionMs?: number;
      conflicts: ConflictPolicyFor;
      /**
       * Give rows read in their COPY form their values (read again by key): a merge and a refused row need them.
       * A row gone from SQLite meanwhile keeps none.
       */
      loadValues?: (t: TablePlan, rows: NormRow[]) => Promise<void>;
    },
    private readonly hooks: WriterHooks = {},
    /** Keys (JSON of canonical key text) of rows set aside earlier and not yet stored, per table. */
    private readonly pending: Map<string, Set<string>> = new Map(),
  ) {
    this.staging = poolMode(sql) === 'transaction' ? 'drop' : 'delete';
  }

  /**
   * Staging tables: kept by the session and emptied at each commit (session mode), or made by each batch and
   * dropped at its commit (transaction mode: the next batch may meet another server connection).
   */
  private readonly staging: 'delete' | 'drop';

  /**
   * One batch, one transaction. Its statements are sent without waiting for each other's answer where none needs
   * another's (the session settings and the lock check; the checkpoint, the progress row and the fence): each
   * answer is a round trip, and against a remote PostgreSQL the round trips are most of a batch's time. New rows
   * are copied straight into the mirror with no savepoint around the COPY; if PostgreSQL refuses them (a key that
   * appeared meanwhile, a value it does not take), the transaction is rolled back and the batch is written again
   * through the merge.
   */
  async write(b: Batch): Promise<BatchOutcome> {
    try {
      return await this.writeTx(b, true);
    } catch (err) {
      if (!(err instanceof DirectCopyRefused)) throw err;
      return this.writeTx(b, false);
    }
  }

  private writeTx(b: Batch, direct: boolean): Promise<BatchOutcome> {
    return retry(
      () =>
        this.sql.begin(async (tx) => {
          const t = tx as Tx;
          // Marks this transaction's writes as the sync's: the mirror's trigger leaves the marker alone.
          // And commits without waiting for the WAL flush: a batch and its checkpoint commit together, so a batch
          // lost to a PostgreSQL crash is lost with its checkpoint, and the next run reads it again.
          await Promise.all([
            t`select set_config('owui_sync.writer', 'sync', true), set_config('synchronous_commit', 'off', true),
                         ${idleLimit(t, this.ctx.idleTransactionMs)}`,
            this.hooks.beforeWrite?.(t),
          ]);
          const out = emptyOutcome();
          const rejected: Rejected[] = b.unkeyable.map((u) => ({
            row: { key: [], values: u.values },
            reason: u.reason,
          }));
          const page = b.newPage;
          if (page || b.rows.length > 0) {
            const r = page
              ? await this.writeRows(
                  t,
                  b.table,
                  direct,
                  framed(b.table, chunksOf(page.copy!)),
                  page.count,
                  () => page.rows,
                )
              : await this.writeRows(
                  t,
                  b.table,
                  !!b.allNew && direct,
                  copyData(b.table, b.rows, 'mirror'),
                  b.rows.length,
                  () => b.rows,
                );
            out.inserted = r.inserted;
            out.updated = r.updated;
            out.conflicts += r.conflicts;
            out.conflictsResolved += r.conflicts - r.pending;
            out.conflictsPending += r.pending;
            rejected.push(...r.rejected);
            if (page) {
              out.bytes += page.copy!.length;
              out.rawValues += page.rawValues;
            } else
              for (const row of b.rows) {
                out.bytes += row.bytes;
                if (row.raw) out.rawValues += Object.keys(row.raw).length;
              }
          }
          if (b.tombstones.length > 0) {
            const p = this.ctx.conflicts.policy(b.table.name);
            const [res] = await t.unsafe(tombstoneSql(this.ctx.schema, b.table), [
              JSON.stringify(b.tombstones),
              ...this.logParams(b.table),
              p.strategy,
              this.ctx.conflicts.logResolved,
            ] as never[]);
            out.tombstoned = res!.tombstoned as number;
            out.conflicts += res!.conflicts as number;
            out.conflictsPending += res!.pending as number;
            out.conflictsResolved += (res!.conflicts as number) - (res!.pending as number);
          }
          await this.resolveStored(t, b, rejected);
          if (rejected.length > 0) await this.setAside(t, b.table, rejected);
          out.rejected = rejected.length;
          out.conflicts += rejected.length;
          out.conflictsPending += rejected.length;
          // In this order on the server; the fence (beforeCommit) is last before COMMIT.
          await Promise.all([
            this.saveCheckpoint(t, b.table.name, b.checkpoint, out),
            this.saveProgress(t, b.table.name, b.rowsRead, out),
            this.hooks.beforeCommit?.(t),
          ]);
          return out;
        }) as Promise<BatchOutcome>,
      { isTransient: isTransientPgError, onRetry: this.hooks.onRetry, signal: this.ctx.signal },
    ).catch((err) => {
      if (err instanceof DirectCopyRefused) throw err;
      throw withContext(`table "${b.table.name}"`, err);
    });
  }

  /** Rows read in their COPY form get their values (see ctx.loadValues). */
  private async withValues(t: TablePlan, rows: NormRow[]): Promise<void> {
    const need = rows.filter((r) => !r.values);
    if (need.length > 0 && this.ctx.loadValues) await this.ctx.loadValues(t, need);
  }

  /** $2.. of the conflict-logging statements: deployment, client, table, job, snapshots. */
  private logParams(t: TablePlan): never[] {
    return [
      this.ctx.deploymentId,
      this.ctx.clientName,
      t.name,
      this.ctx.jobId,
      this.ctx.conflicts.snapshots,
    ] as never[];
  }

  private async copyMerge(tx: Tx, t: TablePlan, rows: NormRow[], isolated: boolean) {
    const writable = await tx.unsafe(copyStageSql(t)).writable();
    await this.copyOrFail(writable, copyData(t, rows, 'stage'));
    const policy = this.ctx.conflicts.policy(t.name);
    const [res] = await tx.unsafe(mergeSql(this.ctx.schema, t, policy), [
      ...this.logParams(t),
      policy.strategy,
      this.ctx.conflicts.logResolved,
    ] as never[]);
    if (isolated) await tx.unsafe(truncateStageSql(t));
    const mergeKeys = res!.merge_keys as string[][];
    if (mergeKeys.length) await this.resolveMerges(tx, t, policy, mergeKeys, rows);
    return {
      inserted: res!.inserted as number,
      updated: res!.updated as number,
      conflicts: res!.conflicts as number,
      pending: res!.pending as number,
    };
  }

  /**
   * Conflicts under the merge strategy: each column by its rule (the chat column merges its message
   * tree), the rest from the newer side by the compare field. The merged row is written with the
   * source's hash, so an unchanged source does not conflict again, and keeps its marker, so the next
   * source change merges again instead of overwriting what only the mirror has.
   */
  private async resolveMerges(tx: Tx, t: TablePlan, policy: TablePolicy, keys: string[][], rows: NormRow[]) {
    const bySource = new Map(rows.map((r) => [JSON.stringify(r.key), r]));
    await this.withValues(
      t,
      keys.map((k) => bySource.get(JSON.stringify(k))).filter((r): r is NormRow => !!r),
    );
    const targets = await tx.unsafe(mirrorRowsByKeySql(this.ctx.schema, t, keys.length), keys.flat()).values();
    const keyIdx = t.key.map((k) => t.columns.findIndex((c) => c.name === k));
    for (const tv of targets as unknown as (string | null)[][]) {
      const src = bySource.get(JSON.stringify(keyIdx.map((i) => tv[i])));
      if (!src?.values) continue; // gone from SQLite meanwhile: the next run tombstones it
      const srcValues = src.values;
      const merged = mergeRow(t, policy, tv, srcValues);
      await tx.unsafe(
        updateMirrorRowSql(this.ctx.schema, t, { undelete: false, clearMarker: false }),
        updateMirrorRowParams(
          t,
          merged,
          src.hash,
          keyIdx.map((i) => tv[i]),
          src.light,
        ) as never[],
      );
      const snap = (vals: (string | null)[]) =>
        this.ctx.conflicts.snapshots
          ? JSON.stringify(Object.fromEntries(t.columns.map((c, i) => [c.name, vals[i]])))
          : null;
      if (!this.ctx.conflicts.logResolved) continue;
      await logConflict(tx, {
        deploymentId: this.ctx.deploymentId,
        clientName: this.ctx.clientName,
        table: t.name,
        recordId: recordIdOf(t.key.length, src.key),
        type: 'update_conflict',
        sourceData: snap(srcValues),
        targetData: snap(tv),
        resolvedData: snap(merged),
        strategy: 'merge',
        resolved: { winner: 'merged' },
        sourceHash: src.hash,
        jobId: this.ctx.jobId,
      });
    }
  }

  /** COPY data; if the connection dies meanwhile, fail (as a transient error) instead of waiting forever. */
  private async copyOrFail(writable: NodeJS.WritableStream, text: Iterable<string | Buffer>) {
    const events = poolSocketEvents(this.sql);
    let onClose: (() => void) | undefined;
    const lost = new Promise<never>((_, reject) => {
      onClose = () => reject(Object.assign(new Error('connection lost during COPY'), { code: 'CONNECTION_CLOSED' }));
      events?.once('close', onClose);
    });
    try {
      await Promise.race([
        pipeline(Readable.from(text), writable as NodeJS.WritableStream & import('node:stream').Writable),
        lost,
      ]);
    } catch (err) {
      (writable as import('node:stream').Writable).destroy();
      throw err;
    } finally {
      if (onClose) events?.off('close', onClose);
    }
  }

  /**
   * A batch's rows: copied straight into the mirror when they are all new (`direct`: their COPY data, `count`
   * rows), else staged and merged (`rows()`: a page's records are made only then).
   */
  private async writeRows(
    tx: Tx,
    t: TablePlan,
    direct: boolean,
    text: Iterable<string | Buffer>,
    count: number,
    rows: () => NormRow[],
  ): Promise<MergeOutcome> {
    if (direct) return this.copyNew(tx, t, text, count);
    await tx.unsafe(createStageSql(t, this.staging));
    return this.mergeRows(tx, t, rows(), false);
  }

  /** COPY into the mirror table itself; refused, the batch is written again through the merge (write). */
  private async copyNew(tx: Tx, t: TablePlan, text: Iterable<string | Buffer>, count: number): Promise<MergeOutcome> {
    try {
      await this.copyOrFail(await tx.unsafe(copyDirectSql(this.ctx.schema, t)).writable(), text);
    } catch (err) {
      if (isDataPgError(err)) throw new DirectCopyRefused(err);
      throw err;
    }
    return { inserted: count, updated: 0, conflicts: 0, pending: 0, rejected: [] };
  }

  /** Merge rows; on a data error, split the batch until the rows PostgreSQL refuses are isolated. */
  private async mergeRows(tx: Tx, t: TablePlan, rows: NormRow[], isolated: boolean): Promise<MergeOutcome> {
    try {
      const r = await tx.savepoint((sp: Tx) => this.copyMerge(sp as Tx, t, rows, isolated));
      return { ...r, rejected: [] };
    } catch (err) {
      if (!isDataPgError(err)) throw err;
      if (rows.length === 1) return this.strictSingle(tx, t, rows[0]!, err);
      const mid = rows.length >> 1;
      const a = await this.mergeRows(tx, t, rows.slice(0, mid), true);
      const b = await this.mergeRows(tx, t, rows.slice(mid), true);
      return {
        inserted: a.inserted + b.inserted,
        updated: a.updated + b.updated,
        conflicts: a.conflicts + b.conflicts,
        pending: a.pending + b.pending,
        rejected: a.rejected.concat(b.rejected),
      };
    }
  }

  /**
   * One row PostgreSQL refused. Ask PostgreSQL which values do not cast to their column type and
   * store those in the raw side channel (lossless); if the row is still refused, set it aside.
   */
  private async strictSingle(tx: Tx, t: TablePlan, row: NormRow, first: unknown): Promise<MergeOutcome> {
    await this.withValues(t, [row]);
    if (!row.values) return { inserted: 0, updated: 0, conflicts: 0, pending: 0, rejected: [] }; // gone meanwhile
    const refused = { key: row.key, values: row.values, hash: row.hash };
    const values = row.values.slice();
    const raw = { ...(row.raw ?? {}) };
    let moved = 0;
    const movedCols: string[] = [];
    for (let i = 0; i < t.columns.length; i++) {
      const c = t.columns[i]!;
      const v = values[i];
      if (v === null || c.pgType === 'text' || t.key.includes(c.name)) continue;
      try {
        await tx.savepoint((sp: Tx) => sp.unsafe(`SELECT $1::text::${c.pgType}`, [v]));
      } catch (err) {
        if (!isDataPgError(err)) throw err;
        raw[c.name] = ['text', Buffer.from(v, 'utf8').toString('base64')];
        values[i] = null;
        moved++;
        movedCols.push(c.name);
      }
    }
    if (moved > 0) {
      const keyIdx = t.key.map((k) => t.columns.findIndex((c) => c.name === k));
      // The light hash stays the source's (what the light pass reads from SQLite).
      const fixed = { ...makeRow(t, keyIdx, values, raw), light: row.light };
      try {
        const r = await tx.savepoint((sp: Tx) => this.copyMerge(sp as Tx, t, [fixed], true));
        row.raw = fixed.raw;
        row.hash = fixed.hash;
        row.values = fixed.values;
        row.copy = undefined;
        // A type_mismatch, resolved: the value is in the mirror, in its raw form.
        if (this.ctx.conflicts.logResolved)
          await logConflict(tx, {
            deploymentId: this.ctx.deploymentId,
            clientName: this.ctx.clientName,
            table: t.name,
            recordId: recordIdOf(t.key.length, fixed.key),
            type: 'type_mismatch',
            resolved: { winner: 'source' },
            notes: `PostgreSQL refused ${movedCols.join(', ')} (${messageOf(first)}); stored in _sync_raw`,
            sourceHash: fixed.hash,
            jobId: this.ctx.jobId,
          });
        return { ...r, rejected: [] };
      } catch (err) {
        if (!isDataPgError(err)) throw err;
        return {
          inserted: 0,
          updated: 0,
          conflicts: 0,
          pending: 0,
          rejected: [{ row: refused, reason: messageOf(err), code: (err as { code?: string }).code }],
        };
      }
    }
    return {
      inserted: 0,
      updated: 0,
      conflicts: 0,
      pending: 0,
      rejected: [{ row: refused, reason: messageOf(first), code: (first as { code?: string }).code }],
    };
  }

  /** Rows set aside by an earlier run that this batch stored (or that are gone from SQLite) are resolved. */
  private async resolveStored(tx: Tx, b: Batch, rejected: Rejected[]) {
    const pending = this.pending.get(b.table.name);
    if (!pending || pending.size === 0) return;
    const refused = new Set(rejected.map((r) => JSON.stringify(r.row.key)));
    const keys = (b.newPage ? b.newPage.rows : b.rows)
      .map((r) => JSON.stringify(r.key))
      .concat((b.goneKeys ?? []).map((k) => JSON.stringify(k)));
    const done = keys.filter((k) => pending.has(k) && !refused.has(k));
    if (done.length === 0) return;
    await tx`
      update sync_metadata.rejected_rows set resolved_at = now()
      where deployment_id = ${this.ctx.deploymentId} and table_name = ${b.table.name} and resolved_at is null
        and record_id in (select value from jsonb_array_elements(${`[${done.join(',')}]`}::text::jsonb))`;
    // Their audit entries too: the row is in the mirror now.
    const ids = done.map((k) => recordIdOf(b.table.key.length, JSON.parse(k) as string[]));
    await tx`
      update sync_metadata.conflict_log set resolved_at = now(), resolved_by = 'sync', winner = 'source',
        resolution_notes = coalesce(resolution_notes || '; ', '') || 'stored by a later run'
      where deployment_id = ${this.ctx.deploymentId} and table_name = ${b.table.name} and resolved_at is null
        and conflict_type in ('constraint_violation', 'type_mismatch') and record_id in ${tx(ids)}`;
    // Forgotten only after the commit would be exact; a retried batch just updates nothing.
    for (const k of done) pending.delete(k);
  }

  private async setAside(tx: Tx, t: TablePlan, rejected: Rejected[]) {
    const { deploymentId, clientName, jobId } = this.ctx;
    for (const r of rejected) {
      const data = Object.fromEntries(t.columns.map((c, i) => [c.name, r.row.values[i] ?? null]));
      // A row without a usable key is identified by its content, so a rerun updates the same entry.
      const recordId = r.row.key.length
        ? r.row.key
        : [{ unkeyable: crypto.createHash('sha1').update(JSON.stringify(r.row.values)).digest('hex') }];
      await tx`
        insert into sync_metadata.rejected_rows (deployment_id, client_name, table_name, record_id, reason, row_data, sync_job_id)
        values (${deploymentId}, ${clientName}, ${t.name}, ${JSON.stringify(recordId)}::text::jsonb, ${r.reason}, ${JSON.stringify(data)}::text::jsonb, ${jobId})
        on conflict (deployment_id, table_name, record_id) do update
          set reason = excluded.reason, row_data = excluded.row_data, sync_job_id = excluded.sync_job_id,
              last_seen_at = now(), attempts = rejected_rows.attempts + 1, resolved_at = null`;
      // Also an entry of the audit log, pending review, once per source version of the row.
      const type = r.code?.startsWith('23') ? 'constraint_violation' : 'type_mismatch';
      await logConflict(tx, {
        deploymentId,
        clientName,
        table: t.name,
        recordId: r.row.key.length ? recordIdOf(t.key.length, r.row.key) : JSON.stringify(recordId),
        type,
        sourceData: this.ctx.conflicts.snapshots ? JSON.stringify(data) : null,
        strategy: 'manual',
        notes: r.reason,
        sourceHash: `rejected:${r.row.hash ?? JSON.stringify(recordId)}`,
        jobId,
      });
    }
  }

  private async saveCheckpoint(tx: Tx, table: string, p: CheckpointPatch, out: BatchOutcome) {
    const s = (v: bigint | null | undefined) => (v === undefined || v === null ? null : v.toString());
    const has = (k: keyof CheckpointPatch) => (k in p ? 1 : 0);
    await tx`
      insert into sync_metadata.table_checkpoints as c
        (deployment_id, table_name, cursor_updated_at, cursor_rowid, scan_key, scan_started_rowid, scan_max_updated_at,
         last_full_at, rows_written, rows_tombstoned, updated_at)
      values (${this.ctx.deploymentId}, ${table}, ${s(p.cursor_updated_at)}, ${s(p.cursor_rowid)},
              ${p.scan_key ? JSON.stringify(encodeKey(p.scan_key)) : null}::text::jsonb, ${s(p.scan_started_rowid)}, ${s(p.scan_max_updated_at)},
              ${p.last_full_at ? new Date() : null}, ${out.inserted + out.updated}, ${out.tombstoned}, now())
      on conflict (deployment_id, table_name) do update set
        cursor_updated_at   = case when ${has('cursor_updated_at')} = 1 then excluded.cursor_updated_at else c.cursor_updated_at end,
        cursor_rowid        = case when ${has('cursor_rowid')} = 1 then excluded.cursor_rowid else c.cursor_rowid end,
        scan_key            = case when ${has('scan_key')} = 1 then excluded.scan_key else c.scan_key end,
        scan_started_rowid  = case when ${has('scan_started_rowid')} = 1 then excluded.scan_started_rowid else c.scan_started_rowid end,
        scan_max_updated_at = case when ${has('scan_max_updated_at')} = 1 then excluded.scan_max_updated_at else c.scan_max_updated_at end,
        last_full_at        = case when ${has('last_full_at')} = 1 then excluded.last_full_at else c.last_full_at end,
        rows_written        = c.rows_written + excluded.rows_written,
        rows_tombstoned     = c.rows_tombstoned + excluded.rows_tombstoned,
        updated_at          = now()`;
  }

  private async saveProgress(tx: Tx, table: string, rowsRead: number, out: BatchOutcome) {
    await tx`
      insert into sync_metadata.sync_progress as p (job_id, table_name, rows_processed, rows_failed, status)
      values (${this.ctx.jobId}, ${table}, ${rowsRead}, ${out.rejected}, 'running')
      on conflict (job_id, table_name) do update set
        rows_processed = p.rows_processed + excluded.rows_processed,
        rows_failed = p.rows_failed + excluded.rows_failed,
        updated_at = now()`;
  }
}

/** COPY chunks: about 256 KB each (larger chunks only raise peak memory). */
const CHUNK = 1 << 18;

/** A buffer of COPY data, in chunks. */
function* chunksOf(buf: Buffer): Generator<Buffer> {
  for (let at = 0; at < buf.length; at += CHUNK) yield buf.subarray(at, Math.min(buf.length, at + CHUNK));
}

/** COPY data for the mirror table: binary data with its header and trailer (TablePlan.copyBinary), text as it is. */
function* framed(t: TablePlan, data: Iterable<string | Buffer>): Generator<string | Buffer> {
  if (t.copyBinary) yield BINARY_COPY_HEADER;
  yield* data;
  if (t.copyBinary) yield BINARY_COPY_TRAILER;
}

/**
 * COPY data of rows, yielded in chunks of about 256 KB (larger chunks only raise peak memory), for the mirror table
 * itself (binary where the table's types allow: TablePlan.copyBinary) or the staging table (all text, always text).
 * Rows read in their COPY form are slices of their page's buffer, sent as they are (neighbours in one slice) when the
 * formats agree; a binary row bound for the staging table is written as text again, and rows read with their values
 * are encoded here. Canonical values are valid input for their column types (booleans as true/false, JSON as
 * written).
 */
function copyData(t: TablePlan, rows: NormRow[], into: 'mirror' | 'stage'): Iterable<string | Buffer> {
  return into === 'mirror' ? framed(t, rowsData(t, rows, t.copyBinary)) : rowsData(t, rows, undefined);
}

/** copyData's rows, in the binary forms given (unframed), or as text. */
function* rowsData(t: TablePlan, rows: NormRow[], binary: BinaryForm[] | undefined): Generator<string | Buffer> {
  const pages = t.copyBinary; // the form the reader wrote its pages in
  let text = '';
  let enc: CopyEncoder | null = null;
  let run: { buf: Buffer; start: number; end: number } | null = null;
  const flush = function* () {
    if (run) yield* chunksOf(run.buf.subarray(run.start, run.end));
    run = null;
    if (text) yield text;
    text = '';
    if (enc) yield enc.result();
    enc = null;
  };
  for (const r of rows) {
    if (r.copy && (binary || !pages)) {
      if (!run || run.buf !== r.copy.buf || run.end !== r.copy.start) {
        yield* flush();
        run = { ...r.copy };
      } else run.end = r.copy.end;
      continue;
    }
    if (run) yield* flush();
    if (r.copy) text += copyTextOf(pages!, r.copy.buf, r.copy.start);
    else if (binary) {
      enc ??= new CopyEncoder(Buffer.allocUnsafe, CHUNK, binary);
      enc.add(valuesOf(r), r.hash, r.raw, r.light);
      if (enc.result().length > CHUNK) yield* flush();
    } else text += copyLine(valuesOf(r), r.hash, r.raw, r.light);
    if (text.length > CHUNK) yield* flush();
  }
  yield* flush();
}
