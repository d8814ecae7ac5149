import crypto from 'node:crypto';
import type { PgType, TablePlan } from './plan.ts';

/**
 * Lossless storage of values PostgreSQL cannot hold as they are (see docs/how-a-sync-works.md "How values are stored").
 * A value that does not fit its column (a NUL byte in text, invalid UTF-8, a REAL in a bigint column,
 * invalid JSON text in a json column, a blob in a text column) is stored twice:
 *   - in its column, a display form: text with each NUL / invalid byte shown as U+FFFD, or NULL
 *     where there is no faithful display form;
 *   - in `_sync_raw` (jsonb), `{"<column>": ["<sqlite storage class>", "<base64 of the exact bytes>"]}`.
 * Restoring a value: if `_sync_raw` has the column, decode its bytes; otherwise take the column.
 */
export type RawEntry = [storageClass: 'text' | 'integer' | 'real' | 'blob', base64: string];

export interface NormValue {
  text: string | null;
  raw?: RawEntry;
  /** The string contains U+FFFD: it may be SQLite bytes that were not valid UTF-8; re-read as a blob. */
  suspect?: boolean;
}

export interface NormRow {
  /** Canonical text of the key columns, in key order. */
  key: string[];
  /**
   * Canonical text of every column, in plan order; null is SQL NULL. Absent on a row read by a sync's reader
   * thread in its COPY form (`copy`): the few paths that need the values (a merge, a refused row) read them again.
   */
  values?: (string | null)[];
  /**
   * The row as COPY data (values, hash, raw side channel, light hash: a line of text, or a binary row where the
   * plan says so, TablePlan.copyBinary), encoded by the reader thread into one buffer per page: the sync's main
   * thread sends it to PostgreSQL as it is.
   */
  copy?: { buf: Buffer; start: number; end: number };
  /** The row's updated_at as canonical text (null when it has none). */
  updatedAt?: string | null;
  raw: Record<string, RawEntry> | null;
  hash: string;
  /**
   * Hash of the row's light form (every column but the table's large ones, and the byte length of those), kept
   * in the mirror's `_sync_light` for the light pass; null for tables without large columns (their light pass
   * compares `hash`).
   */
  light: string | null;
  /** Approximate size on the wire, for the batch byte cap. */
  bytes: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{0,5}[1-9])?$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const NUMERIC_RE = /^-?(0|[1-9]\d*)(\.\d+)?$/; // only forms PostgreSQL prints back unchanged

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const rawOf = (v: unknown): RawEntry => {
  if (Buffer.isBuffer(v)) return ['blob', v.toString('base64')];
  if (typeof v === 'bigint') return ['integer', b64(v.toString())];
  if (typeof v === 'number') return ['real', b64(String(v))];
  return ['text', b64(String(v))];
};
const asRaw = (v: unknown, display: string | null = null): NormValue => ({ text: display, raw: rawOf(v) });

/**
 * normaliseValue's answer for the most common values, without a NormValue each (the reader asks for every value
 * of a page): NULL, and text in a text or JSON column with no NUL and no U+FFFD. Undefined for any other value.
 */
export function plainValue(v: unknown, type: PgType): string | null | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' && (type === 'text' || type === 'json') && !v.includes('\0') && !v.includes('\uFFFD'))
    return v;
  return undefined;
}

/** Canonical text of one SQLite value for a column of the given PostgreSQL type. */
export function normaliseValue(v: unknown, type: PgType): NormValue {
  const plain = plainValue(v, type);
  if (plain !== undefined) return { text: plain };
  switch (type) {
    case 'text': {
      if (typeof v === 'string') {
        if (v.includes('\0')) return { text: v.replaceAll('\0', '\uFFFD'), raw: rawOf(v) };
        return v.includes('\uFFFD') ? { text: v, suspect: true } : { text: v };
      }
      if (typeof v === 'bigint') return { text: v.toString() };
      if (typeof v === 'number') return { text: String(v) };
      return asRaw(v);
    }
    case 'json': {
      // SQLite gives JSON columns NUMERIC affinity: '5' comes back as the integer 5, '1.50' as 1.5.
      if (typeof v === 'string') {
        if (v.includes('\0')) return asRaw(v);
        return v.includes('\uFFFD') ? { text: v, suspect: true } : { text: v };
      }
      if (typeof v === 'bigint') return { text: v.toString() };
      if (typeof v === 'number') return Number.isFinite(v) ? { text: String(v) } : asRaw(v);
      return asRaw(v);
    }
    case 'bigint': {
      if (typeof v === 'bigint') return { text: v.toString() };
      if (typeof v === 'number') return Number.isInteger(v) ? { text: BigInt(v).toString() } : asRaw(v);
      if (typeof v === 'string' && /^-?\d{1,19}$/.test(v)) {
        const n = BigInt(v);
        if (n >= INT64_MIN && n <= INT64_MAX && n.toString() === v) return { text: v };
      }
      return asRaw(v);
    }
    case 'boolean': {
      if (v === 0n || v === 0) return { text: 'false' };
      if (v === 1n || v === 1) return { text: 'true' };
      return asRaw(v);
    }
    case 'double precision': {
      if (typeof v === 'number') return Number.isFinite(v) ? { text: String(v) } : asRaw(v);
      if (typeof v === 'bigint') return { text: v.toString() };
      return asRaw(v);
    }
    case 'numeric': {
      if (typeof v === 'bigint') return { text: v.toString() };
      if (typeof v === 'number') return Number.isFinite(v) ? { text: String(v) } : asRaw(v);
      if (typeof v === 'string' && NUMERIC_RE.test(v)) return { text: v };
      return asRaw(v);
    }
    case 'date':
      return typeof v === 'string' && DATE_RE.test(v) ? { text: v } : asRaw(v);
    case 'timestamp':
      return typeof v === 'string' && TIMESTAMP_RE.test(v) ? { text: v } : asRaw(v);
    case 'bytea':
      return Buffer.isBuffer(v) ? { text: `\\x${v.toString('hex')}` } : asRaw(v);
  }
}

/**
 * Canonicalise a value PostgreSQL returned as `col::text`, so it hashes like the source value.
 * Only types whose text output can differ in form from the source's need a rule.
 */
export function canonicalTargetText(text: string | null, type: PgType): string | null {
  if (text === null) return null;
  if (type === 'double precision') return String(Number(text));
  return text;
}

/** A value this long (UTF-16 code units) is hashed, and written as COPY text, by itself rather than joined with the others first. */
const LARGE_PIECE = 2048;

/** Hash of a row in canonical form: independent of column order, stable across runs and hosts. */
export function rowHash(
  plan: TablePlan,
  values: readonly (string | null)[],
  raw: Record<string, RawEntry> | null,
): string {
  // The small pieces joined into one update (a call into the hash for every column costs more than the join);
  // a large value goes in by itself, so it is not copied into a joined string first. The bytes hashed are the
  // same either way, and so is the hash.
  // A row with no large value is hashed in one call (crypto.hash): a Hash object per row costs more than the hashing.
  const s = shapeOf(plan);
  let h: crypto.Hash | null = null;
  let text = '';
  for (const i of s.order) {
    const v = values[i];
    if (v === null) text += s.isNull[i];
    else if (v.length >= LARGE_PIECE) {
      h ??= crypto.createHash('sha1');
      h.update(text + s.value[i]);
      h.update(v);
      text = '\u0002';
    } else text += `${s.value[i]}${v}\u0002`;
  }
  const rj = rawJson(raw);
  if (rj) text += rj;
  return h ? h.update(text).digest('base64url') : crypto.hash('sha1', text, 'base64url');
}

/**
 * What the hashes of a table's rows are made of, but the values: its columns in name order and each one's text
 * before its value (`<name>\u0001V`, `<name>\u0001L` for a large column's length) or in its place when NULL
 * (`<name>\u0001N\u0002`). Made once per plan: a row's hashes then only join its values in.
 */
interface HashShape {
  order: number[];
  value: string[];
  length: string[];
  isNull: string[];
  /** Index in plan.large, or -1. */
  large: number[];
}

const shapes = new WeakMap<TablePlan, HashShape>();
function shapeOf(plan: TablePlan): HashShape {
  let s = shapes.get(plan);
  if (!s) {
    const names = plan.columns.map((c) => c.name);
    s = {
      order: names.map((_, i) => i).sort((a, b) => (names[a]! < names[b]! ? -1 : 1)),
      value: names.map((n) => `${n}\u0001V`),
      length: names.map((n) => `${n}\u0001L`),
      isNull: names.map((n) => `${n}\u0001N\u0002`),
      large: names.map((n) => plan.large.indexOf(n)),
    };
    shapes.set(plan, s);
  }
  return s;
}

/** `_sync_raw` as JSON text with sorted keys, or null when the row needs none. */
export function rawJson(raw: Record<string, RawEntry> | null): string | null {
  if (!raw) return null;
  const keys = Object.keys(raw).sort();
  if (keys.length === 0) return null;
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, raw[k]])));
}

/**
 * Hash of a row's light form: the columns that are not large, as rowHash hashes them (their raw side channel
 * included), and the large ones' byte lengths as SQLite stores them (octet_length). Null for a table without
 * large columns.
 */
export function lightHash(
  plan: TablePlan,
  values: readonly (string | null)[],
  raw: Record<string, RawEntry> | null,
  lengths: readonly (bigint | number | null)[],
): string | null {
  if (plan.large.length === 0) return null;
  const s = shapeOf(plan);
  let text = '';
  for (const i of s.order) {
    const li = s.large[i]!;
    if (li >= 0) {
      const len = lengths[li] ?? null;
      text += len === null ? s.isNull[i] : `${s.length[i]}${len}\u0002`;
      continue;
    }
    const v = values[i];
    text += v === null ? s.isNull[i] : `${s.value[i]}${v}\u0002`;
    const r = raw?.[plan.columns[i]!.name];
    if (r) text += `\u0003${r[0]}:${r[1]}`;
  }
  return crypto.hash('sha1', text, 'base64url');
}

/**
 * Build a normalised row from canonical values (raw side channel already resolved). `lengths` are the large
 * columns' octet lengths (the light hash); `lightOnly`: the row was read without its large columns, so it has
 * a light hash and no full hash.
 */
export function makeRow(
  plan: TablePlan,
  keyIdx: readonly number[],
  values: (string | null)[],
  raw: Record<string, RawEntry> | null,
  lengths: readonly (bigint | number | null)[] | null = null,
  lightOnly = false,
): NormRow {
  let bytes = 16;
  for (const v of values) bytes += v === null ? 2 : v.length + 1;
  const key = keyIdx.map((i) => values[i] ?? '');
  return {
    key,
    values,
    raw,
    hash: lightOnly ? '' : rowHash(plan, values, raw),
    light: lengths ? lightHash(plan, values, raw, lengths) : null,
    bytes,
  };
}

/**
 * COPY text format: backslash, newline, carriage return and tab escaped; NULL is \N. Each character is looked for
 * with includes() (a fast scan) and replaced with replaceAll(): much cheaper than a regular expression with a
 * replacer function over JSON text, which nearly always holds a backslash.
 */
export function copyField(v: string | null): string {
  if (v === null) return '\\N';
  let s = v;
  if (s.includes('\\')) s = s.replaceAll('\\', '\\\\');
  if (s.includes('\n')) s = s.replaceAll('\n', '\\n');
  if (s.includes('\r')) s = s.replaceAll('\r', '\\r');
  if (s.includes('\t')) s = s.replaceAll('\t', '\\t');
  return s;
}

/** A row's fields in its line of COPY text: its values, then its hash, raw side channel and light hash. */
type CopyFields = [
  values: readonly (string | null)[],
  hash: string,
  raw: Record<string, RawEntry> | null,
  light: string | null,
];

/**
 * A row as one line of COPY text: its values, then its hash, raw side channel and light hash (the staging table's
 * and the mirror's column order: sync/sql.ts). Canonical values are valid input for their column types.
 */
export function copyLine(...fields: CopyFields): string {
  let line = '';
  writeCopyLine(
    (s) => {
      line += s;
    },
    ...fields,
  );
  return line;
}

/**
 * copyLine's text, in pieces: the small fields joined, a large one (LARGE_PIECE) by itself, so that a caller that
 * writes them into a buffer never copies a large value into a joined string first (writing a joined string
 * flattens it).
 */
export function writeCopyLine(put: (text: string) => void, ...[values, hash, raw, light]: CopyFields): void {
  let text = '';
  for (const v of values) {
    const f = copyField(v);
    if (f.length < LARGE_PIECE) text += `${f}\t`;
    else {
      put(text);
      put(f);
      text = '\t';
    }
  }
  put(`${text}${copyField(hash)}\t${copyField(rawJson(raw))}\t${copyField(light)}\n`);
}

/** A field of COPY text as it was before copyField (null for \\N). */
function copyUnescape(s: string): string | null {
  if (s === '\\N') return null;
  if (!s.includes('\\')) return s;
  return s.replace(/\\([\s\S])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c));
}

/**
 * The rows of a page's COPY text (copyLine's lines), as records without their values: key, hashes, raw side
 * channel, and each row's place in the buffer. Only the key fields and the last three are read; the other fields
 * (most of a row's bytes) are passed over.
 */
export function rowsOfCopy(plan: TablePlan, buf: Buffer): NormRow[] {
  const keyIdx = plan.key.map((k) => plan.columns.findIndex((c) => c.name === k));
  const lastKey = Math.max(...keyIdx);
  const rows: NormRow[] = [];
  const fields: string[] = new Array(lastKey + 1);
  for (let start = 0; start < buf.length; ) {
    const end = buf.indexOf(10, start) + 1;
    if (end === 0) throw new Error(`internal: COPY text of "${plan.name}" ends inside a row`);
    for (let i = 0, at = start; i <= lastKey; i++) {
      const tab = buf.indexOf(9, at);
      fields[i] = buf.toString('utf8', at, tab);
      at = tab + 1;
    }
    // The last three fields: hash, raw side channel, light hash.
    const t3 = buf.lastIndexOf(9, end - 2);
    const t2 = buf.lastIndexOf(9, t3 - 1);
    const t1 = buf.lastIndexOf(9, t2 - 1);
    const raw = copyUnescape(buf.toString('utf8', t2 + 1, t3));
    rows.push({
      key: keyIdx.map((i) => copyUnescape(fields[i]!) ?? ''),
      copy: { buf, start, end },
      raw: raw === null ? null : (JSON.parse(raw) as Record<string, RawEntry>),
      hash: buf.toString('latin1', t1 + 1, t2),
      light: copyUnescape(buf.toString('latin1', t3 + 1, end - 1)),
      bytes: end - start,
    });
    start = end;
  }
  return rows;
}

/** The values of a row read with them (the command line's reads, verify, a conflict's row). */
export function valuesOf(r: NormRow): (string | null)[] {
  if (!r.values) throw new Error('internal: a row read in its COPY form has no values here');
  return r.values;
}

/**
 * A value to bind when writing a mirror row back into SQLite (restore): the inverse of normaliseValue. `text` is
 * the mirror column as PostgreSQL prints it (`col::text`), `raw` the column's `_sync_raw` entry, if any. The result
 * is bound as it is and SQLite applies the column's affinity, as it did when Open WebUI wrote the value: text that
 * reads as a number in a NUMERIC column (JSON) becomes that number again. Text whose exact bytes are not valid
 * UTF-8 comes back as `textBytes`, to be stored with CAST(? AS TEXT).
 */
export function restoreValue(
  text: string | null,
  raw: RawEntry | undefined,
  type: PgType,
): { value: string | bigint | number | Buffer | null; textBytes?: Buffer } {
  if (raw) {
    const bytes = Buffer.from(raw[1], 'base64');
    switch (raw[0]) {
      case 'blob':
        return { value: bytes };
      case 'integer':
        return { value: BigInt(bytes.toString('utf8')) };
      case 'real':
        return { value: Number(bytes.toString('utf8')) };
      case 'text': {
        const s = bytes.toString('utf8');
        return Buffer.from(s, 'utf8').equals(bytes) ? { value: s } : { value: null, textBytes: bytes };
      }
    }
  }
  if (text === null) return { value: null };
  switch (type) {
    case 'bigint':
      return { value: BigInt(text) };
    case 'boolean':
      return { value: text === 'true' ? 1n : 0n };
    case 'double precision':
      return { value: Number(text) };
    case 'bytea':
      return { value: Buffer.from(text.slice(2), 'hex') };
    default:
      return { value: text };
  }
}
