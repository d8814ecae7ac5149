import type { TablePlan } from '../model/plan.ts';
import type { NormRow } from '../model/values.ts';
import { isTransientPgError, type Sql } from '../pg/connect.ts';
import type { Deployment } from '../pg/deployments.ts';
import { isSqliteBusy } from '../sqlite/open.ts';
import type { Page, PageLimits, PageQuery } from '../sqlite/reader.ts';
import type { JournalMode, TableSource, TenantSource } from '../sqlite/source.ts';
import { OwuiError } from '../util/errors.ts';
import { retry } from '../util/retry.ts';
import type { Checkpoint } from './jobs.ts';
import type { RunOptions } from './options.ts';
import { addBatch, emptyResult, type RunKind, type TableMode, type TableResult } from './result.ts';
import { targetRangeSql } from './sql.ts';
import { type BatchOutcome, type BatchWriter, type CheckpointPatch, decodeKey, emptyOutcome } from './writer.ts';

// The scan strategies of one table: a full scan compared with the mirror page by page (first sync, --full,
// reconciliation, and every run of a table without large columns), and the light pass of a table with them.
// The updated_at and rowid cursors are still saved by every full scan (a cursorable table without one is
// scanned in full); bench/cursor-baseline.ts reads by them to measure what the light pass costs.

/**
 * Bytes per read statement. In rollback-journal mode a reader's shared lock keeps Open WebUI's writer
 * from committing for as long as the statement runs, so pages are small there; in WAL mode readers
 * never block the writer and larger pages cost fewer round trips.
 */
const READ_BYTES = { wal: 4 << 20, rollback: 1 << 20 };

/**
 * How long one read statement may hold a rollback-journal tenant's shared lock: Open WebUI's writer cannot
 * commit meanwhile. Its wait is longer than the statement's: SQLite's busy handler (Open WebUI's too) sleeps 1 ms,
 * then 2, then 5 between its tries, so a writer that finds the lock held waits until its next try. Measured with
 * the disk taken out (bench/locks.ts, bench/README.md): with the reader of 3f5dbb6, 0.5 ms added 1.8 to 2.4 ms to
 * the writer's p99 (target: 2 ms), no bound 13 to 15 ms. The faster reader after it holds the lock more of the
 * time: with 0.5 ms it added 2.3 to 4.0 ms in six runs; 0.1 ms added less than 0.5 ms in both runs that had
 * both (1.8 against 3.2 ms, 3.7 against 4.0 ms), for a full sync 4 to 12% longer. WAL readers never block the
 * writer.
 */
const ROLLBACK_STATEMENT_MS = 0.1;

/**
 * Page limits for this tenant's journal mode. `statementMs` is the setting (SyncSettings.readStatementMs):
 * unset, ROLLBACK_STATEMENT_MS; null, no time bound (rows and bytes only).
 */
export function readLimitsFor(
  journal: JournalMode,
  statementMs?: number | null,
): { bytes: number; statementMs?: number } {
  if (journal === 'wal') return { bytes: READ_BYTES.wal };
  const ms = statementMs === undefined ? ROLLBACK_STATEMENT_MS : (statementMs ?? undefined);
  return { bytes: READ_BYTES.rollback, statementMs: ms };
}

const big = (s: string | null | undefined) => (s === null || s === undefined ? null : BigInt(s));
const maxBig = (a: bigint | null, b: bigint | null) => (a === null ? b : b === null ? a : a > b ? a : b);

export interface TableCtx {
  read: { bytes: number; statementMs?: number };
  sql: Sql;
  src: TenantSource;
  dep: Deployment;
  t: TablePlan;
  cp: Checkpoint | undefined;
  kind: RunKind;
  writer: BatchWriter;
  o: RunOptions;
  index: number;
  count: number;
  /** Scanned in full already by the interrupted pass this run finishes. */
  doneInPass?: boolean;
}

/** Rows set aside by earlier runs are tried again first: once the cause is fixed, they land. */
export async function retrySetAside(c: TableCtx, keys: string[][]): Promise<BatchOutcome & { rowsRead: number }> {
  const { page, missing } = await c.src.table(c.t, 'copy').readKeys(keys);
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

const cursorable = (t: TablePlan) =>
  t.hasUpdatedAt && t.columns.find((c) => c.name === 'updated_at')?.pgType === 'bigint';

export async function syncTable(c: TableCtx): Promise<TableResult> {
  const { t, cp, kind } = c;
  const resumeScan = !!cp?.scan_key && kind !== 'full';
  // Finishing an interrupted pass: a table it already scanned in full needs only what changed since.
  const passNeedsIt = kind === 'full' || (kind === 'reconcile' && !c.doneInPass);
  const full = passNeedsIt || !cp || resumeScan || (cp.cursor_updated_at === null && cursorable(t));
  if (full) return fullScan(c, 'full');
  // Every run is exact for what Open WebUI changes without bumping updated_at, and for deletes: a table with
  // large columns has its light form compared (lightPass); any other table is compared whole (small rows: the
  // cost grows with their number). The light form holds updated_at and every key, so it also sees what the
  // cursors would (bumped rows, imports with old timestamps): reading by cursor too would only read twice
  // (chat_message has no index on updated_at: its cursor read is a scan of the whole table).
  if (t.large.length > 0) {
    const res = emptyResult(t.name, 'light');
    await lightPass(c, res);
    return res;
  }
  return fullScan(c, 'hash-diff');
}

/** Light rows per page: keys, light columns and lengths are small, so pages are larger than batches. */
const LIGHT_PAGE_ROWS = 5000;

/**
 * The light pass: every row's light form (its columns but the large ones, and their byte lengths) in key order,
 * compared page by page with the mirror's light hashes of the same key range. A row that differs, or that the
 * mirror lacks, is read whole and written (in batches bounded by rows and bytes); a mirror row gone from SQLite
 * is tombstoned. It sees what a cursor sees (bumped rows, imports with old timestamps) and what a cursor cannot:
 * deletes, edits that do not bump updated_at (a retitle, tags, archive-all, folder moves, a role change, a status
 * added to a message). A large column's length costs nothing to read (SQLite has it in the record header); the
 * columns stored after a large value cost SQLite a walk along its overflow pages (bench/README.md). A rewrite
 * of a large column that keeps its length and bumps nothing is left to the reconciliation pass.
 */
async function lightPass(c: TableCtx, res: TableResult): Promise<void> {
  const { t, o } = c;
  const light = c.src.table(t, 'light');
  const whole = c.src.table(t, 'copy');
  res.light_rows = 0;
  res.light_changed = 0;
  const limits = { rows: LIGHT_PAGE_ROWS, bytes: c.read.bytes, statementMs: c.read.statementMs };
  const batch = { rows: o.batchRows, bytes: Math.min(o.batchBytes, c.read.bytes) };
  let afterText: string[] | null = null;
  let page = await readPage(light, { kind: 'key', after: null }, limits, o.signal);
  for (;;) {
    if (o.signal?.aborted) throw new OwuiError('cancelled');
    const hiText = page.done ? null : page.lastKey!.map(keyText);
    // The next light page is read while PostgreSQL answers for this one.
    const next = page.done ? null : readPage(light, { kind: 'key', after: page.lastKey }, limits, o.signal);
    next?.catch(() => {});
    const mirror = await mirrorRange(c, afterText, hiText);
    const changed: string[][] = [];
    for (const row of page.rows) {
      const k = JSON.stringify(row.key);
      const m = mirror.get(k);
      mirror.delete(k);
      if (!m || m.dead || m.light !== row.light) changed.push(row.key);
    }
    const tombstones: string[][] = [];
    for (const [k, v] of mirror) if (!v.dead) tombstones.push(JSON.parse(k) as string[]);
    res.light_rows += page.rows.length;
    res.light_changed += changed.length;
    o.onProgress?.({
      table: t.name,
      tableIndex: c.index,
      tableCount: c.count,
      mode: 'light',
      rowsRead: res.light_rows,
      rowsTotal: null,
      rowsWritten: res.inserted + res.updated,
      bytes: res.bytes,
    });
    // The rows that differ, read whole a batch at a time (bounded by rows and bytes: a chat can be megabytes).
    let i = 0;
    do {
      const keys = changed.slice(i, i + batch.rows);
      const got = keys.length
        ? await retry(() => whole.readKeys(keys, batch.bytes), { isTransient: isSqliteBusy, signal: o.signal })
        : { page: { rows: [] as NormRow[] }, missing: [] as string[][], consumed: 0 };
      i += got.consumed;
      tombstones.push(...got.missing);
      const rows = got.page.rows;
      if (rows.length || tombstones.length) {
        const out = await c.writer.write({
          table: t,
          rows,
          unkeyable: [],
          tombstones: tombstones.splice(0),
          checkpoint: {},
          rowsRead: rows.length,
        });
        addBatch(res, out, rows.length);
      }
      c.src.recycle(got.page as Page);
    } while (i < changed.length);
    if (!next) return;
    afterText = hiText;
    page = await next;
  }
}

/** The mirror's side of a key range (lo, hi]: key -> hashes and whether it is a tombstone. */
async function mirrorRange(
  c: TableCtx,
  lo: string[] | null,
  hi: string[] | null,
): Promise<Map<string, { hash: string; light: string | null; dead: boolean }>> {
  const { t, o, sql, dep } = c;
  const rows = await retry(
    () =>
      sql.unsafe(targetRangeSql(dep.client_name, t, lo !== null, hi !== null, false), [...(lo ?? []), ...(hi ?? [])]),
    { isTransient: isTransientPgError, onRetry: o.hooks?.onRetry, signal: o.signal },
  );
  const nk = t.key.length;
  const out = new Map<string, { hash: string; light: string | null; dead: boolean }>();
  for (const r of rows) {
    const vals = Object.values(r) as unknown[];
    out.set(JSON.stringify(vals.slice(0, nk)), {
      hash: r._sync_hash as string,
      light: (r._sync_light as string | null) ?? null,
      dead: r.dead as boolean,
    });
  }
  return out;
}

/** Would this end-of-scan checkpoint leave the stored one as it is? */
function checkpointHolds(cp: Checkpoint | undefined, p: CheckpointPatch): boolean {
  const s = (v: bigint | null | undefined) => (v === undefined || v === null ? null : v.toString());
  return (
    !!cp &&
    !cp.scan_key &&
    cp.cursor_rowid === s(p.cursor_rowid) &&
    cp.cursor_updated_at === s(p.cursor_updated_at) &&
    cp.last_full_at !== null
  );
}

/** SQLite reads retry on SQLITE_BUSY (Open WebUI holding its write lock longer than the busy timeout). */
function readPage(reader: TableSource, q: PageQuery, limits: PageLimits, signal?: AbortSignal): Promise<Page> {
  return retry(() => reader.read(q, limits), { isTransient: isSqliteBusy, signal });
}

/**
 * Full scan in key order, compared page by page with the same key range of the mirror: rows that
 * are new or whose hash differs are written, mirror rows gone from SQLite are tombstoned. Used
 * for the first sync of a table, --full, the reconciliation pass, and tables without updated_at.
 * Resumable: the position is checkpointed with each batch.
 */
async function fullScan(c: TableCtx, mode: TableMode): Promise<TableResult> {
  const { t, cp, o } = c;
  const reader = c.src.table(t, 'copy');
  const res = emptyResult(t.name, mode);
  const resume = cp?.scan_key && c.kind !== 'full' ? decodeKey(cp.scan_key) : null;
  let after: unknown[] | null = resume;
  let afterText: string[] | null = resume ? resume.map(keyText) : null;
  const startedRowid = resume ? big(cp!.scan_started_rowid) : await reader.maxRowid();
  let maxUpd = resume ? big(cp!.scan_max_updated_at) : null;
  const total = o.onProgress ? await reader.count() : null;
  const limits = { rows: o.batchRows, bytes: Math.min(o.batchBytes, c.read.bytes), statementMs: c.read.statementMs };
  let page = await readPage(reader, { kind: 'key', after }, limits, o.signal);
  let ahead: Promise<Page | null> | null = null;
  let wrote = false;
  for (;;) {
    if (o.signal?.aborted) throw new OwuiError('cancelled');
    maxUpd = maxBig(maxUpd, page.maxUpdatedAt);
    const hiText = page.done ? null : page.lastKey!.map(keyText);
    const unkeyable = after === null ? (await reader.readUnkeyable()).concat(page.unkeyable) : page.unkeyable;
    // Mirror side of the same key range (after, last key of the page], or to the end when done.
    const targetByKey = await mirrorRange(c, afterText, hiText);
    // The mirror has none of this key range (a first sync): every row is new, and the page is written from its
    // COPY data as it is, without its rows ever being made (Batch.newPage).
    const fresh = targetByKey.size === 0 && page.copy !== undefined && page.count > 0;
    let absent = 0;
    const changed = fresh
      ? []
      : page.rows.filter((row) => {
          const k = JSON.stringify(row.key);
          const tr = targetByKey.get(k);
          targetByKey.delete(k);
          if (!tr) absent++;
          // The light hash too: a mirror row without one (made before the light pass) gets it.
          return !tr || tr.dead || tr.hash !== row.hash || tr.light !== row.light;
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
    const n = page.count + page.unkeyable.length;
    // A table compared whole on an ordinary run that finds nothing to change writes nothing: no batch, no progress
    // row, no checkpoint (it would say what it says already). A fleet's tenants are mostly unchanged each minute.
    const idle =
      mode === 'hash-diff' &&
      !fresh &&
      changed.length === 0 &&
      tombstones.length === 0 &&
      unkeyable.length === 0 &&
      (!page.done || (!wrote && checkpointHolds(cp, checkpoint)));
    if (!idle) wrote = true;
    const writing = idle
      ? Promise.resolve(emptyOutcome())
      : c.writer.write({
          table: t,
          rows: changed,
          newPage: fresh ? page : undefined,
          unkeyable,
          tombstones,
          checkpoint,
          rowsRead: n,
          allNew: changed.length > 0 && absent === changed.length,
        });
    // The reader thread keeps two pages ahead of PostgreSQL: the next one is read (or in) while this batch is
    // written, and the one after it is asked for as soon as the next is in, so the thread does not wait out this
    // batch's round trips (it is a full sync's slowest part: bench/README.md).
    // (`ahead` is the read asked for after this page was in: a page, as this one is not the last.)
    const next: Promise<Page> | null = page.done
      ? null
      : ((ahead as Promise<Page> | null) ?? readPage(reader, { kind: 'key', after: page.lastKey }, limits, o.signal));
    const further: Promise<Page | null> | undefined = next?.then((p: Page) =>
      p.done ? null : readPage(reader, { kind: 'key', after: p.lastKey }, limits, o.signal),
    );
    next?.catch(() => {});
    further?.catch(() => {});
    const out = await writing;
    c.src.recycle(page);
    addBatch(res, out, n);
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
    ahead = further ?? null;
  }
}

/** Canonical text of a SQLite key value, as the mirror's key column prints it. */
function keyText(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  return String(v);
}
