import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Sql, Tx } from '../pg/connect.ts';
import { isDataPgError, isTransientPgError, poolSocketEvents } from '../pg/connect.ts';
import type { TablePlan } from '../sqlite/introspect.ts';
import { messageOf, withContext } from '../util/errors.ts';
import { retry } from '../util/retry.ts';
import { makeRow, rawJson, type NormRow } from './normalise.ts';
import { copyDirectSql, copyField, copyStageSql, createStageSql, mergeSql, tombstoneSql, truncateStageSql } from './sql.ts';


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
}

export interface WriterHooks {
  /** Runs first in every batch transaction (the agent's fencing check goes here). */
  beforeWrite?: (tx: Tx) => Promise<void>;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

interface Rejected {
  row: { key: string[]; values: (string | null)[] };
  reason: string;
}

/** Encode SQLite key values for JSON (BigInt is not JSON). */
export function encodeKey(key: unknown[]): unknown[] {
  return key.map((v) => (typeof v === 'bigint' ? { i: v.toString() } : Buffer.isBuffer(v) ? { b: v.toString('base64') } : v));
}
export function decodeKey(key: unknown[]): unknown[] {
  return key.map((v) => {
    if (v && typeof v === 'object' && 'i' in v) return BigInt((v as { i: string }).i);
    if (v && typeof v === 'object' && 'b' in v) return Buffer.from((v as { b: string }).b, 'base64');
    return v;
  });
}

/**
 * Writes batches for one sync job. One batch is one transaction: COPY into a staging table, a
 * set-based merge, tombstones, set-aside rows, the table's checkpoint and the job's progress.
 * A transient failure redoes the whole transaction (idempotent); a row PostgreSQL rejects is
 * isolated by bisection inside savepoints and set aside with its reason.
 */
export class BatchWriter {
  constructor(
    private readonly sql: Sql,
    private readonly ctx: { schema: string; deploymentId: string; clientName: string; jobId: string; signal?: AbortSignal },
    private readonly hooks: WriterHooks = {},
    /** Keys (JSON of canonical key text) of rows set aside earlier and not yet stored, per table. */
    private readonly pending: Map<string, Set<string>> = new Map(),
  ) {}

  async write(b: Batch): Promise<BatchOutcome> {
    return retry(
      () =>
        this.sql.begin(async (tx) => {
          const t = tx as Tx;
          await this.hooks.beforeWrite?.(t);
          const out: BatchOutcome = { inserted: 0, updated: 0, tombstoned: 0, rejected: 0, rawValues: 0, bytes: 0 };
          const rejected: Rejected[] = b.unkeyable.map((u) => ({ row: { key: [], values: u.values }, reason: u.reason }));
          if (b.rows.length > 0) {
            const r = (b.allNew && (await this.copyNew(t, b.table, b.rows))) || (await t.unsafe(createStageSql(b.table)), await this.mergeRows(t, b.table, b.rows, false));
            out.inserted = r.inserted;
            out.updated = r.updated;
            rejected.push(...r.rejected);
            for (const row of b.rows) {
              out.bytes += row.bytes;
              if (row.raw) out.rawValues += Object.keys(row.raw).length;
            }
          }
          if (b.tombstones.length > 0) {
            const res = await t.unsafe(tombstoneSql(this.ctx.schema, b.table), [JSON.stringify(b.tombstones)]);
            out.tombstoned = res.count;
          }
          await this.resolveStored(t, b, rejected);
          if (rejected.length > 0) await this.setAside(t, b.table, rejected);
          out.rejected = rejected.length;
          await this.saveCheckpoint(t, b.table.name, b.checkpoint, out);
          await this.saveProgress(t, b.table.name, b.rowsRead, out);
          return out;
        }) as Promise<BatchOutcome>,
      { isTransient: isTransientPgError, onRetry: this.hooks.onRetry, signal: this.ctx.signal },
    ).catch((err) => {
      throw withContext(`table "${b.table.name}"`, err);
    });
  }

  private async copyMerge(tx: Tx, t: TablePlan, rows: NormRow[], isolated: boolean) {
    const writable = await tx.unsafe(copyStageSql(t)).writable();
    await this.copyOrFail(writable, rows);
    const res = await tx.unsafe(mergeSql(this.ctx.schema, t));
    if (isolated) await tx.unsafe(truncateStageSql(t));
    let inserted = 0;
    for (const r of res) if (r.inserted) inserted++;
    return { inserted, updated: res.length - inserted };
  }

  /** COPY the rows; if the connection dies meanwhile, fail (as a transient error) instead of waiting forever. */
  private async copyOrFail(writable: NodeJS.WritableStream, rows: NormRow[]) {
    const events = poolSocketEvents(this.sql);
    let onClose: (() => void) | undefined;
    const lost = new Promise<never>((_, reject) => {
      onClose = () => reject(Object.assign(new Error('connection lost during COPY'), { code: 'CONNECTION_CLOSED' }));
      events?.once('close', onClose);
    });
    try {
      await Promise.race([pipeline(Readable.from(copyLines(rows)), writable as NodeJS.WritableStream & import('node:stream').Writable), lost]);
    } catch (err) {
      (writable as import('node:stream').Writable).destroy();
      throw err;
    } finally {
      if (onClose) events?.off('close', onClose);
    }
  }

  /** The fast path for new rows: COPY into the mirror table itself. Null when it must fall back. */
  private async copyNew(tx: Tx, t: TablePlan, rows: NormRow[]) {
    try {
      return await tx.savepoint(async (sp: Tx) => {
        await this.copyOrFail(await sp.unsafe(copyDirectSql(this.ctx.schema, t)).writable(), rows);
        return { inserted: rows.length, updated: 0, rejected: [] as Rejected[] };
      });
    } catch (err) {
      if (!isDataPgError(err)) throw err;
      return null;
    }
  }

  /** Merge rows; on a data error, split the batch until the rows PostgreSQL refuses are isolated. */
  private async mergeRows(tx: Tx, t: TablePlan, rows: NormRow[], isolated: boolean): Promise<{ inserted: number; updated: number; rejected: Rejected[] }> {
    try {
      const r = await tx.savepoint((sp: Tx) => this.copyMerge(sp as Tx, t, rows, isolated));
      return { ...r, rejected: [] };
    } catch (err) {
      if (!isDataPgError(err)) throw err;
      if (rows.length === 1) return this.strictSingle(tx, t, rows[0]!, err);
      const mid = rows.length >> 1;
      const a = await this.mergeRows(tx, t, rows.slice(0, mid), true);
      const b = await this.mergeRows(tx, t, rows.slice(mid), true);
      return { inserted: a.inserted + b.inserted, updated: a.updated + b.updated, rejected: a.rejected.concat(b.rejected) };
    }
  }

  /**
   * One row PostgreSQL refused. Ask PostgreSQL which values do not cast to their column type and
   * store those in the raw side channel (lossless); if the row is still refused, set it aside.
   */
  private async strictSingle(tx: Tx, t: TablePlan, row: NormRow, first: unknown) {
    const values = row.values.slice();
    const raw = { ...(row.raw ?? {}) };
    let moved = 0;
    for (let i = 0; i < t.columns.length; i++) {
      const c = t.columns[i]!;
      const v = values[i];
      if (v === null || c.pgType === 'text' || t.key.includes(c.name)) continue;
      try {
        await tx.savepoint((sp: Tx) => sp.unsafe(`SELECT $1::${c.pgType}`, [v]));
      } catch (err) {
        if (!isDataPgError(err)) throw err;
        raw[c.name] = ['text', Buffer.from(v, 'utf8').toString('base64')];
        values[i] = null;
        moved++;
      }
    }
    if (moved > 0) {
      const keyIdx = t.key.map((k) => t.columns.findIndex((c) => c.name === k));
      const fixed = makeRow(t, keyIdx, values, raw);
      try {
        const r = await tx.savepoint((sp: Tx) => this.copyMerge(sp as Tx, t, [fixed], true));
        row.raw = fixed.raw;
        row.hash = fixed.hash;
        row.values = fixed.values;
        return { ...r, rejected: [] };
      } catch (err) {
        if (!isDataPgError(err)) throw err;
        return { inserted: 0, updated: 0, rejected: [{ row, reason: messageOf(err) }] };
      }
    }
    return { inserted: 0, updated: 0, rejected: [{ row, reason: messageOf(first) }] };
  }

  /** Rows set aside by an earlier run that this batch stored (or that are gone from SQLite) are resolved. */
  private async resolveStored(tx: Tx, b: Batch, rejected: Rejected[]) {
    const pending = this.pending.get(b.table.name);
    if (!pending || pending.size === 0) return;
    const refused = new Set(rejected.map((r) => JSON.stringify(r.row.key)));
    const keys = b.rows.map((r) => JSON.stringify(r.key)).concat((b.goneKeys ?? []).map((k) => JSON.stringify(k)));
    const done = keys.filter((k) => pending.has(k) && !refused.has(k));
    if (done.length === 0) return;
    await tx`
      update sync_metadata.rejected_rows set resolved_at = now()
      where deployment_id = ${this.ctx.deploymentId} and table_name = ${b.table.name} and resolved_at is null
        and record_id in (select value from jsonb_array_elements(${'[' + done.join(',') + ']'}::text::jsonb))`;
    // Forgotten only after the commit would be exact; a retried batch just updates nothing.
    for (const k of done) pending.delete(k);
  }

  private async setAside(tx: Tx, t: TablePlan, rejected: Rejected[]) {
    const { deploymentId, clientName, jobId } = this.ctx;
    for (const r of rejected) {
      const data = Object.fromEntries(t.columns.map((c, i) => [c.name, r.row.values[i] ?? null]));
      // A row without a usable key is identified by its content, so a rerun updates the same entry.
      const recordId = r.row.key.length ? r.row.key : [{ unkeyable: crypto.createHash('sha1').update(JSON.stringify(r.row.values)).digest('hex') }];
      await tx`
        insert into sync_metadata.rejected_rows (deployment_id, client_name, table_name, record_id, reason, row_data, sync_job_id)
        values (${deploymentId}, ${clientName}, ${t.name}, ${JSON.stringify(recordId)}::text::jsonb, ${r.reason}, ${JSON.stringify(data)}::text::jsonb, ${jobId})
        on conflict (deployment_id, table_name, record_id) do update
          set reason = excluded.reason, row_data = excluded.row_data, sync_job_id = excluded.sync_job_id,
              last_seen_at = now(), attempts = rejected_rows.attempts + 1, resolved_at = null`;
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

/**
 * COPY text lines, yielded in chunks of about 256 KB (larger chunks only raise peak memory). The
 * same lines serve the staging table (all text) and the mirror table itself: canonical values are
 * valid input for their column types (booleans as true/false, JSON as written).
 */
function* copyLines(rows: NormRow[]): Generator<string> {
  let chunk = '';
  for (const r of rows) {
    let line = '';
    for (const v of r.values) line += copyField(v) + '\t';
    line += copyField(r.hash) + '\t' + copyField(rawJson(r.raw)) + '\n';
    chunk += line;
    if (chunk.length > 1 << 18) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}
