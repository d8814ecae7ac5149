// SQL text of the data path, as small pure functions (one place to read and test it).
// Identifiers go through ident(); types come from the closed PgType set; values are parameters.
import crypto from 'node:crypto';
import { ident } from '../pg/connect.ts';
import type { PgType, TablePlan } from '../sqlite/introspect.ts';

/** Name of the session's staging table for a mirror table (temporary tables live in pg_temp). */
export function stageName(table: string): string {
  return 'owui_stage_' + crypto.createHash('sha1').update(table).digest('hex').slice(0, 16);
}

/** Staging table: every column as text, so COPY never fails on a value; casts happen in the merge. */
export function createStageSql(t: TablePlan): string {
  const cols = t.columns.map((_, i) => `c${i} text`).concat(['h text', 'r text']);
  return `CREATE TEMP TABLE IF NOT EXISTS ${ident(stageName(t.name))} (${cols.join(', ')}) ON COMMIT DELETE ROWS`;
}

export function copyStageSql(t: TablePlan): string {
  return `COPY pg_temp.${ident(stageName(t.name))} FROM STDIN`;
}

/** COPY straight into the mirror table: only for rows known to be new (a full scan found no such key). */
export function copyDirectSql(schema: string, t: TablePlan): string {
  const cols = t.columns.map((c) => ident(c.name)).concat(['_sync_hash', '_sync_raw']);
  return `COPY ${ident(schema)}.${ident(t.name)} (${cols.join(', ')}) FROM STDIN`;
}

export function truncateStageSql(t: TablePlan): string {
  return `TRUNCATE pg_temp.${ident(stageName(t.name))}`;
}

const cast = (expr: string, type: PgType) => (type === 'text' ? expr : `${expr}::${type}`);

/**
 * Set-based merge of the staged rows: new rows are inserted, rows whose hash differs (or that were
 * tombstoned and came back) are updated, unchanged rows are not touched. Returns one row per row written.
 */
export function mergeSql(schema: string, t: TablePlan): string {
  const target = `${ident(schema)}.${ident(t.name)}`;
  const names = t.columns.map((c) => ident(c.name));
  const sel = t.columns.map((c, i) => cast(`s.c${i}`, c.pgType));
  const nonKey = t.columns.filter((c) => !t.key.includes(c.name)).map((c) => `${ident(c.name)} = EXCLUDED.${ident(c.name)}`);
  const sets = nonKey.concat(['_sync_hash = EXCLUDED._sync_hash', '_sync_raw = EXCLUDED._sync_raw', '_synced_at = EXCLUDED._synced_at', '_deleted_at = NULL']);
  return `INSERT INTO ${target} AS t (${names.join(', ')}, _sync_hash, _sync_raw, _synced_at, _deleted_at)
SELECT ${sel.join(', ')}, s.h, s.r::jsonb, now(), NULL FROM pg_temp.${ident(stageName(t.name))} s
ON CONFLICT (${t.key.map(ident).join(', ')}) DO UPDATE SET ${sets.join(', ')}
WHERE t._sync_hash IS DISTINCT FROM EXCLUDED._sync_hash OR t._deleted_at IS NOT NULL
RETURNING (xmax = 0) AS inserted`;
}

function keyTuple(t: TablePlan, prefix = ''): string {
  return `(${t.key.map((k) => prefix + ident(k)).join(', ')})`;
}

function keyTypes(t: TablePlan): PgType[] {
  return t.key.map((k) => t.columns.find((c) => c.name === k)!.pgType);
}

function paramTuple(t: TablePlan, first: number): string {
  return `(${keyTypes(t).map((ty, i) => `$${first + i}::${ty}`).join(', ')})`;
}

/** Tombstone rows that are gone from SQLite: an UPDATE, never a DELETE. $1 is a JSON array of key arrays. */
export function tombstoneSql(schema: string, t: TablePlan): string {
  const elems = keyTypes(t).map((ty, i) => `(e->>${i})::${ty}`).join(', ');
  return `UPDATE ${ident(schema)}.${ident(t.name)} SET _deleted_at = now(), _synced_at = now()
WHERE _deleted_at IS NULL AND ${keyTuple(t)} IN (SELECT ${elems} FROM jsonb_array_elements($1::text::jsonb) e)`;
}

/**
 * Target rows with keys in (lo, hi]: the other side of a page of a full scan. Either bound may be
 * absent. With `content`, every column comes back as text (for verify); otherwise key and hash only.
 */
export function targetRangeSql(schema: string, t: TablePlan, hasLo: boolean, hasHi: boolean, content: boolean): string {
  const where: string[] = [];
  let p = 1;
  if (hasLo) {
    where.push(`${keyTuple(t)} > ${paramTuple(t, p)}`);
    p += t.key.length;
  }
  if (hasHi) where.push(`${keyTuple(t)} <= ${paramTuple(t, p)}`);
  const keys = t.key.map((k) => `${ident(k)}::text`);
  const cols = content ? t.columns.map((c) => `${ident(c.name)}::text`).concat(['_sync_raw::text']) : [];
  return `SELECT ${keys.concat(cols, ['_sync_hash', '_deleted_at IS NOT NULL AS dead']).join(', ')}
FROM ${ident(schema)}.${ident(t.name)}${where.length ? ' WHERE ' + where.join(' AND ') : ''}`;
}

/** COPY text format: backslash, newline, carriage return and tab escaped; NULL is \N. */
export function copyField(v: string | null): string {
  if (v === null) return '\\N';
  if (!/[\\\n\r\t]/.test(v)) return v;
  return v.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}
