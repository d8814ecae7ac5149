import type Database from 'better-sqlite3';
import { CopyEncoder, rowsOfPage } from '../model/copy.ts';
import type { TablePlan } from '../model/plan.ts';
import {
  lightHash,
  makeRow,
  type NormRow,
  normaliseValue,
  plainValue,
  type RawEntry,
  rowHash,
} from '../model/values.ts';
import { youngRoom } from '../util/memory.ts';
import type { TenantDb } from './open.ts';

/**
 * The most one read statement takes of a page (UTF-16 code units of its values), rows made after it: what stays
 * alive at once in the reader thread, well inside its young generation (source.ts). Every scavenge copies what is
 * alive: 256 KB took a full sync of the 75,000-row tenant from 3.6-3.8 s to 3.2-3.4 s against 1 MB (three runs
 * each), the reader thread's collection from 545 to 224 ms; 64 and 128 KB were within the noise of 256 KB.
 */
const STATEMENT_BYTES = 1 << 18;

/** SQLite identifier quoting (reserved names such as "user" and "group" included). */
export const qi = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Where a page starts and which rows it takes. */
export type PageQuery =
  /** Every row, in key order, after `after` (a full scan or a reconciliation pass). */
  | { kind: 'key'; after: unknown[] | null; minUpdatedAt?: bigint }
  /** Rows whose integer updated_at is at least `min`, in (updated_at, key) order, after `after`. */
  | { kind: 'cursor'; min: bigint; after: { updatedAt: bigint; key: unknown[] } | null }
  /** Rows added after rowid `after` (inserts, whatever their timestamps say). */
  | { kind: 'rowid'; after: bigint };

export interface Page {
  /**
   * The page's rows. A page in its COPY form (`copy`) comes without them: they are made from its COPY data when
   * first asked for (unpack), which a batch of rows the mirror has none of never does.
   */
  rows: NormRow[];
  /** How many rows the page has (without making them). */
  count: number;
  /** How many of their values are stored in the raw side channel (without making the rows). */
  rawValues: number;
  /** Rows that cannot be keyed (a NULL key column): set aside by the writer, never dropped. */
  unkeyable: { values: (string | null)[]; reason: string }[];
  /** Source values of the last row's key, to continue from. */
  lastKey: unknown[] | null;
  lastUpdatedAt: bigint | null;
  lastRowid: bigint | null;
  maxUpdatedAt: bigint | null;
  /** Fewer rows than the limit came back: the scan is at its end. */
  done: boolean;
  /**
   * The rows' COPY data, one buffer for the page: a line of text or a binary row (TablePlan.copyBinary) a row (rows
   * read in their COPY form; see NormRow.copy).
   */
  copy?: Buffer;
}

/**
 * A page read in its COPY form, where it is used: its rows are made from its COPY data the first time they are
 * asked for, and only then (sync/scan.ts writes a page whose key range the mirror lacks from its COPY data as it
 * is). The reader thread sends its pages without rows: making 1,000 row records there, and cloning them into this
 * thread, cost both threads most of their garbage collection (bench/README.md). After the page is given back
 * (TenantSource.recycle), rows made before keep their keys and hashes but lose their COPY data; rows never made
 * cannot be made any more.
 */
export function unpack(page: Page, plan: TablePlan): Page {
  const buf = page.copy;
  if (!buf || page.rows.length === page.count) return page;
  let rows: NormRow[] | null = null;
  Object.defineProperty(page, 'rows', {
    configurable: true,
    enumerable: true,
    get(): NormRow[] {
      if (page.copy === buf) {
        rows ??= rowsOfPage(plan, buf);
        return rows;
      }
      if (!rows)
        throw new Error(`internal: the rows of a page of "${plan.name}" were asked for after it was given back`);
      for (const r of rows) r.copy = undefined;
      return rows;
    },
    set(v: NormRow[]) {
      rows = v;
    },
  });
  return page;
}

/** Limits of one page. Each statement is one short read transaction on the tenant. */
export interface PageLimits {
  rows: number;
  bytes: number;
  /**
   * How long one statement may hold the tenant's shared lock, in milliseconds. In rollback-journal mode
   * that lock keeps Open WebUI's writer from committing: a statement that has used its time ends, and the page
   * goes on in a new statement after the last row read. (A writer waiting to commit holds SQLite's PENDING
   * lock, which refuses new readers, so it gets its turn between two statements.) Unset: no time bound.
   */
  statementMs?: number;
}

/**
 * Reads pages of one table. Each page is a single statement that finishes before the caller
 * talks to PostgreSQL, so no read transaction is held across a network round trip, and in
 * rollback-journal mode Open WebUI's writer waits at most one page for its lock.
 */
export class TableReader {
  private readonly stmts = new Map<string, Database.Statement>();
  private readonly keyIdx: number[];
  private readonly updIdx: number;
  private readonly cols: string;
  private readonly keyList: string;

  /**
   * `light`: read the rows' light form only (the light pass): the large columns come back as NULL, with their
   * byte lengths, so the rows carry a light hash and no full hash. Every read of a table with large columns also
   * selects those lengths (octet_length, answered from the record header), so every row written carries its
   * light hash.
   */
  constructor(
    private readonly db: TenantDb,
    readonly plan: TablePlan,
    private readonly light = false,
    /**
     * Rows in their COPY form (a sync's reader thread): each page's rows are encoded as COPY data into one buffer
     * (`Page.copy`), taken from this function, and carry no values.
     */
    private readonly copy: false | ((size: number) => Buffer) = false,
  ) {
    this.keyIdx = plan.key.map((k) => plan.columns.findIndex((c) => c.name === k));
    this.updIdx = plan.columns.findIndex((c) => c.name === 'updated_at');
    this.cols = plan.columns
      .map((c) => (light && plan.large.includes(c.name) ? 'NULL' : qi(c.name)))
      .concat(plan.large.map((l) => `octet_length(${qi(l)})`))
      .join(', ');
    this.keyList = plan.key.map(qi).join(', ');
  }

  private stmt(id: string, sql: string): Database.Statement {
    let s = this.stmts.get(id);
    if (!s) {
      s = this.db.prepare(sql).raw(true);
      this.stmts.set(id, s);
    }
    return s;
  }

  /** Keyset paging cannot pass a NULL key: such rows are read apart (readUnkeyable) and set aside. */
  private keyAfter(params: unknown[], after: unknown[] | null): string {
    const notNull = this.plan.key.map((k) => `${qi(k)} IS NOT NULL`).join(' AND ');
    if (!after) return notNull;
    params.push(...after);
    return `${notNull} AND (${this.keyList}) > (${after.map(() => '?').join(', ')})`;
  }

  /**
   * Rows with the given keys (canonical text), one short statement each: the retry of set-aside rows, the rows
   * the light pass found changed. With `maxBytes`, it stops after the key that reaches it; `consumed` is how many
   * keys were looked up.
   */
  readKeys(
    keys: string[][],
    maxBytes = Number.POSITIVE_INFINITY,
  ): { page: Page; missing: string[][]; consumed: number } {
    const where = this.plan.key.map((k) => `${qi(k)} = ?`).join(' AND ');
    const withRowid = this.plan.hasRowid ? ', _rowid_' : '';
    const stmt = this.stmt('keys', `SELECT ${this.cols}${withRowid} FROM ${qi(this.plan.name)} WHERE ${where}`);
    const found: unknown[][] = [];
    const missing: string[][] = [];
    let bytes = 0;
    let consumed = 0;
    for (const k of keys) {
      consumed++;
      const r = stmt.get(...k) as unknown[] | undefined;
      if (r) {
        found.push(r);
        for (const v of r) bytes += typeof v === 'string' ? v.length : Buffer.isBuffer(v) ? v.length : 8;
      } else missing.push(k);
      if (bytes >= maxBytes) break;
    }
    return { page: this.pageOf(found), missing, consumed };
  }

  /** Rows whose key has a NULL (SQLite allows it in legacy tables): they cannot be mirrored. */
  readUnkeyable(): Page['unkeyable'] {
    const where = this.plan.key.map((k) => `${qi(k)} IS NULL`).join(' OR ');
    const withRowid = this.plan.hasRowid ? ', _rowid_' : '';
    const rows = this.db
      .prepare(`SELECT ${this.cols}${withRowid} FROM ${qi(this.plan.name)} WHERE ${where}`)
      .raw(true)
      .all() as unknown[][];
    return this.pageOf(rows).unkeyable;
  }

  /** max(rowid) now: where the insert cursor starts after a full scan. */
  maxRowid(): bigint | null {
    if (!this.plan.hasRowid) return null;
    const r = this.db
      .prepare(`SELECT max(_rowid_) FROM ${qi(this.plan.name)}`)
      .raw(true)
      .get() as [bigint | null];
    return r[0];
  }

  count(): number {
    const r = this.db
      .prepare(`SELECT count(*) FROM ${qi(this.plan.name)}`)
      .raw(true)
      .get() as [bigint];
    return Number(r[0]);
  }

  /**
   * One page, read in statements of at most STATEMENT_BYTES, each one's rows made into page rows (normalised,
   * hashed, in the COPY form encoded) once it has ended. A statement only reads: its read transaction (a shared
   * lock in rollback-journal mode, a WAL snapshot that checkpoints must keep) lasts no longer than its reading.
   * And only a statement's worth of SQLite's strings is alive at once, so the reader thread's young generation
   * collects them without promoting them (a whole page's values outlived it, and were collected from the old
   * generation: most of a full sync's time).
   */
  read(q: PageQuery, limits: PageLimits): Page {
    const page = emptyPage(false);
    const enc = this.copy ? new CopyEncoder(this.copy, limits.bytes, this.plan.copyBinary) : null;
    let rows = 0;
    let bytes = 0;
    let query = q;
    for (;;) {
      const got = this.readStatement(
        query,
        limits.rows - rows,
        Math.min(limits.bytes - bytes, STATEMENT_BYTES),
        limits.statementMs,
      );
      for (const r of got.rows) this.take(page, r, enc);
      const last = got.rows[got.rows.length - 1];
      rows += got.rows.length;
      bytes += got.bytes;
      if (last) this.position(page, last);
      // A statement that used its time, or its share of the page's bytes, is followed by another after its last row.
      const more = got.stop === 'time' || (got.stop === 'bytes' && bytes < limits.bytes);
      if (!more) {
        page.done = got.stop === 'end';
        if (enc) page.copy = enc.result();
        return page;
      }
      query = this.after(query, last!);
    }
  }

  /**
   * One statement: rows until the row or byte limit, the time budget, or the end.
   * iterate() ends the read transaction (and releases the shared lock) when we break out of it.
   */
  private readStatement(
    q: PageQuery,
    rowLimit: number,
    byteLimit: number,
    ms: number | undefined,
  ): { rows: unknown[][]; bytes: number; stop: 'end' | 'rows' | 'bytes' | 'time' } {
    const t = qi(this.plan.name);
    const params: unknown[] = [];
    let sql: string;
    let id: string;
    const withRowid = this.plan.hasRowid ? ', _rowid_' : '';
    if (q.kind === 'key') {
      const where = [this.keyAfter(params, q.after)];
      if (q.minUpdatedAt !== undefined) {
        where.push('updated_at >= ?');
        params.push(q.minUpdatedAt);
      }
      id = `key:${!!q.after}:${q.minUpdatedAt !== undefined}`;
      sql = `SELECT ${this.cols}${withRowid} FROM ${t} WHERE ${where.join(' AND ')} ORDER BY ${this.keyList} LIMIT ?`;
    } else if (q.kind === 'cursor') {
      params.push(q.min);
      let after = '';
      if (q.after) {
        after = ` AND (updated_at > ? OR (updated_at = ? AND (${this.keyList}) > (${q.after.key.map(() => '?').join(', ')})))`;
        params.push(q.after.updatedAt, q.after.updatedAt, ...q.after.key);
      }
      id = `cursor:${!!q.after}`;
      sql = `SELECT ${this.cols}${withRowid} FROM ${t} WHERE updated_at >= ? AND typeof(updated_at) = 'integer' AND ${this.plan.key.map((k) => `${qi(k)} IS NOT NULL`).join(' AND ')}${after} ORDER BY updated_at, ${this.keyList} LIMIT ?`;
    } else {
      params.push(q.after);
      id = 'rowid';
      sql = `SELECT ${this.cols}, _rowid_ FROM ${t} WHERE _rowid_ > ? ORDER BY _rowid_ LIMIT ?`;
    }
    params.push(rowLimit);
    const stmt = this.stmt(id, sql);
    // A time-bounded statement (rollback journal: it holds the lock Open WebUI's writer needs) starts with room for
    // its values in the young generation, so that no scavenge falls inside it: its UTF-16 strings, and the rows.
    if (ms !== undefined) youngRoom(2 * byteLimit + 64 * 1024);
    const rows: unknown[][] = [];
    let bytes = 0;
    const deadline = ms === undefined ? Number.POSITIVE_INFINITY : performance.now() + ms;
    for (const r of stmt.iterate(...params) as IterableIterator<unknown[]>) {
      rows.push(r);
      for (const v of r) bytes += typeof v === 'string' ? v.length : Buffer.isBuffer(v) ? v.length : 8;
      if (bytes >= byteLimit) return { rows, bytes, stop: 'bytes' };
      if (rows.length < rowLimit && performance.now() >= deadline) return { rows, bytes, stop: 'time' };
    }
    return { rows, bytes, stop: rows.length < rowLimit ? 'end' : 'rows' };
  }

  /** The same query, continuing after a row it returned. */
  private after(q: PageQuery, r: unknown[]): PageQuery {
    const key = this.keyIdx.map((i) => r[i]);
    if (q.kind === 'key') return { ...q, after: key };
    if (q.kind === 'cursor') return { ...q, after: { updatedAt: r[this.updIdx] as bigint, key } };
    return { kind: 'rowid', after: r[this.plan.columns.length + this.plan.large.length] as bigint };
  }

  /** A page of rows read already (by key, or the unkeyable ones): a complete page. */
  private pageOf(rawRows: unknown[][]): Page {
    const page = emptyPage(true);
    const enc = this.copy ? new CopyEncoder(this.copy, 64 * 1024, this.plan.copyBinary) : null;
    for (const r of rawRows) {
      this.take(page, r, enc);
      this.position(page, r);
    }
    if (enc) page.copy = enc.result();
    return page;
  }

  /**
   * One row read into the page: normalised, its U+FFFD values read again by key (resolveSuspects: only between
   * statements, SQLite cannot run it inside one), then made into its page row.
   */
  private take(page: Page, r: unknown[], enc: CopyEncoder | null): void {
    const n = this.normalise(r);
    const raw = n.suspects
      ? this.resolveSuspects(
          this.keyIdx.map((i) => r[i]),
          n.suspects,
          n.values,
          n.raw,
        )
      : n.raw;
    this.addRow(page, r, n.values, raw, enc);
  }

  /** A row's values for their column types, with the raw side channel and the columns to read again. */
  private normalise(r: unknown[]): {
    values: (string | null)[];
    raw: Record<string, RawEntry> | null;
    suspects: number[] | null;
  } {
    const ncols = this.plan.columns.length;
    const values: (string | null)[] = new Array(ncols);
    let raw: Record<string, RawEntry> | null = null;
    let suspects: number[] | null = null;
    for (let i = 0; i < ncols; i++) {
      const col = this.plan.columns[i]!;
      const v = r[i];
      const plain = plainValue(v, col.pgType);
      if (plain !== undefined) {
        values[i] = plain;
        continue;
      }
      const nv = normaliseValue(v, col.pgType);
      values[i] = nv.text;
      if (nv.raw) {
        raw ??= {};
        raw[col.name] = nv.raw;
      }
      if (nv.suspect) {
        suspects ??= [];
        suspects.push(i);
      }
    }
    return { values, raw, suspects };
  }

  /** Where the page ends: its last row read (key, updated_at, rowid), and the newest updated_at in it. */
  private position(page: Page, r: unknown[]): void {
    page.lastKey = this.keyIdx.map((i) => r[i]);
    if (this.updIdx >= 0) {
      const u = r[this.updIdx];
      if (typeof u === 'bigint') page.lastUpdatedAt = u;
    }
    if (this.plan.hasRowid) page.lastRowid = r[this.plan.columns.length + this.plan.large.length] as bigint;
  }

  private addRow(
    page: Page,
    r: unknown[],
    values: (string | null)[],
    raw: Record<string, RawEntry> | null,
    enc: CopyEncoder | null,
  ): void {
    const ncols = this.plan.columns.length;
    const nlarge = this.plan.large.length;
    if (this.updIdx >= 0) {
      const u = r[this.updIdx];
      if (typeof u === 'bigint' && (page.maxUpdatedAt === null || u > page.maxUpdatedAt)) page.maxUpdatedAt = u;
    }
    const nullKey = this.keyIdx.find((i) => values[i] === null);
    if (nullKey !== undefined) {
      page.unkeyable.push({ values, reason: `key column "${this.plan.columns[nullKey]!.name}" is NULL` });
      return;
    }
    const lengths = nlarge ? (r.slice(ncols, ncols + nlarge) as (bigint | null)[]) : null;
    page.count++;
    if (raw) page.rawValues += Object.keys(raw).length;
    if (enc) {
      // The COPY form: the row is its COPY data, nothing else (unpack makes its record if it is needed).
      enc.add(
        values,
        rowHash(this.plan, values, raw),
        raw,
        lengths ? lightHash(this.plan, values, raw, lengths) : null,
      );
      return;
    }
    const row = makeRow(this.plan, this.keyIdx, values, raw, lengths, this.light);
    row.updatedAt = this.updIdx >= 0 ? values[this.updIdx]! : null;
    page.rows.push(row);
  }

  /**
   * better-sqlite3 turns bytes that are not valid UTF-8 into U+FFFD. A string with U+FFFD is read
   * again as a blob: if the bytes are not valid UTF-8, they go to the raw side channel intact.
   */
  private resolveSuspects(
    keyVals: unknown[],
    idx: number[],
    values: (string | null)[],
    raw: Record<string, RawEntry> | null,
  ) {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const where = this.plan.key.map((k) => `${qi(k)} = ?`).join(' AND ');
    for (const i of idx) {
      const col = this.plan.columns[i]!;
      const s = this.db
        .prepare(`SELECT CAST(${qi(col.name)} AS BLOB) FROM ${qi(this.plan.name)} WHERE ${where}`)
        .raw(true);
      const got = s.get(...keyVals) as [Buffer | null] | undefined;
      const bytes = got?.[0];
      if (!bytes) continue;
      try {
        decoder.decode(bytes);
      } catch {
        raw ??= {};
        raw[col.name] = ['text', bytes.toString('base64')];
        if (col.pgType === 'json') values[i] = null;
      }
    }
    return raw;
  }
}

function emptyPage(done: boolean): Page {
  return {
    rows: [],
    count: 0,
    rawValues: 0,
    unkeyable: [],
    lastKey: null,
    lastUpdatedAt: null,
    lastRowid: null,
    maxUpdatedAt: null,
    done,
  };
}
