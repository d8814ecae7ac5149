// SQL text of the data path, as small pure functions (one place to read and test it).
// Identifiers go through ident(); types come from the closed PgType set; values are parameters.
import crypto from 'node:crypto';
import type { PgType, TablePlan } from '../model/plan.ts';
import { ident } from '../pg/connect.ts';

/**
 * Name of the session's staging table for a mirror table (temporary tables live in pg_temp). It names the
 * table's column count as well as its name: one session serves the runs of many deployments, and two tenants on
 * different Open WebUI versions have tables of the same name with other columns (a staging table made for one
 * would refuse the other's COPY).
 */
export function stageName(t: TablePlan): string {
  return `owui_stage_${crypto.createHash('sha1').update(`${t.name}\0${t.columns.length}`).digest('hex').slice(0, 16)}`;
}

/**
 * Staging table: every column as text, so COPY never fails on a value; casts happen in the merge. Emptied at
 * commit and kept for the session's next batch, or dropped at commit where no session outlives a transaction.
 */
export function createStageSql(t: TablePlan, onCommit: 'delete' | 'drop' = 'delete'): string {
  const cols = t.columns.map((_, i) => `c${i} text`).concat(['h text', 'r text', 'l text']);
  return `CREATE TEMP TABLE IF NOT EXISTS ${ident(stageName(t))} (${cols.join(', ')}) ON COMMIT ${onCommit === 'drop' ? 'DROP' : 'DELETE ROWS'}`;
}

export function copyStageSql(t: TablePlan): string {
  return `COPY pg_temp.${ident(stageName(t))} FROM STDIN`;
}

/**
 * COPY straight into the mirror table: only for rows known to be new (a full scan found no such key). In the binary
 * format where the mirror's column types all have one (TablePlan.copyBinary).
 */
export function copyDirectSql(schema: string, t: TablePlan): string {
  const cols = t.columns.map((c) => ident(c.name)).concat(['_sync_hash', '_sync_raw', '_sync_light']);
  return `COPY ${ident(schema)}.${ident(t.name)} (${cols.join(', ')}) FROM STDIN${t.copyBinary ? ' (FORMAT binary)' : ''}`;
}

export function truncateStageSql(t: TablePlan): string {
  return `TRUNCATE pg_temp.${ident(stageName(t))}`;
}

const cast = (expr: string, type: PgType) => (type === 'text' ? expr : `${expr}::${type}`);

/** How a table's conflicts are decided inside the merge (see src/conflicts/config.ts). */
export interface MergePolicy {
  strategy: 'newest_wins' | 'source_wins' | 'target_wins' | 'merge' | 'manual';
  compareField: string;
  /** false only to measure what detection costs (bench/): the conflict CTE is folded away. */
  detect?: boolean;
}

/** SQL for "the source version wins this conflict", comparing source alias `s` with target alias `t`. */
function sourceWins(p: MergePolicy, s: string): string {
  if (p.strategy === 'source_wins') return 'true';
  if (p.strategy !== 'newest_wins' || !p.compareField) return 'false';
  // Newer compare field wins; a tie, or a source without the field, keeps the target (so does a
  // table without the field at all: nothing to compare, nothing overwritten).
  const f = ident(p.compareField);
  return `coalesce(${s}.${f} > t.${f}, ${s}.${f} IS NOT NULL AND t.${f} IS NULL)`;
}

/** conflict_log.record_id: the key as text, or a JSON array of the key's texts for composite keys. */
function recordId(t: TablePlan, alias: string): string {
  return t.key.length === 1
    ? `${alias}.${ident(t.key[0]!)}::text`
    : `json_build_array(${t.key.map((k) => `${alias}.${ident(k)}::text`).join(', ')})::text`;
}

const LOG_COLUMNS =
  'deployment_id, client_name, table_name, record_id, conflict_type, source_data, target_data, resolution_strategy, resolved_at, resolved_by, winner, source_hash, sync_job_id';

/**
 * One statement per batch: detect conflicts, log them, merge. Parameters: $1 deployment, $2 client,
 * $3 table, $4 job, $5 keep data snapshots, $6 strategy, $7 log conflicts the strategy resolved.
 *  - A conflict: the mirror row was changed by someone else (_target_changed_at) and the source now
 *    differs from what the sync last wrote (_sync_hash). insert_exists when the sync never wrote it.
 *  - New rows are inserted; changed rows are updated unless they are conflicts the strategy gives to
 *    the target; unchanged rows are not touched. A source win clears the marker.
 *  - Conflicts are logged once per source version; manual ones stay pending; merge ones are resolved
 *    by the caller (their keys come back in merge_keys).
 */
export function mergeSql(schema: string, t: TablePlan, p: MergePolicy): string {
  const target = `${ident(schema)}.${ident(t.name)}`;
  const names = t.columns.map((c) => ident(c.name));
  const sel = t.columns.map((c, i) => `${cast(`st.c${i}`, c.pgType)} AS ${ident(c.name)}`);
  const on = t.key.map((k) => `t.${ident(k)} = s.${ident(k)}`).join(' AND ');
  const nonKey = t.columns
    .filter((c) => !t.key.includes(c.name))
    .map((c) => `${ident(c.name)} = EXCLUDED.${ident(c.name)}`);
  const sets = nonKey.concat([
    '_sync_hash = EXCLUDED._sync_hash',
    '_sync_raw = EXCLUDED._sync_raw',
    '_sync_light = EXCLUDED._sync_light',
    '_synced_at = EXCLUDED._synced_at',
    '_deleted_at = NULL',
    '_target_changed_at = NULL',
  ]);
  return `WITH s AS (
  SELECT ${sel.join(', ')}, st.h AS _h, st.r::jsonb AS _r, st.l AS _l FROM pg_temp.${ident(stageName(t))} st
), cf AS (
  SELECT ${recordId(t, 's')} AS rid, s._h, t._sync_hash IS NULL AS ins, ${sourceWins(p, 's')} AS sw, row_to_json(s) AS sdata, row_to_json(t) AS tdata,
         json_build_array(${t.key.map((k) => `s.${ident(k)}::text`).join(', ')}) AS k
  FROM s JOIN ${target} t ON ${on}
  WHERE ${p.detect === false ? 'false AND ' : ''}t._target_changed_at IS NOT NULL AND t._deleted_at IS NULL AND t._sync_hash IS DISTINCT FROM s._h
), lg AS (
  INSERT INTO sync_metadata.conflict_log (${LOG_COLUMNS})
  SELECT $1::uuid, $2, $3, cf.rid, CASE WHEN cf.ins THEN 'insert_exists' ELSE 'update_conflict' END,
         CASE WHEN $5::boolean THEN sync_metadata.safe_jsonb(cf.sdata) END, CASE WHEN $5::boolean THEN sync_metadata.safe_jsonb(cf.tdata) END,
         $6::text, CASE WHEN $6::text = 'manual' THEN NULL ELSE now() END, CASE WHEN $6::text = 'manual' THEN NULL ELSE 'sync' END,
         CASE WHEN $6::text = 'manual' THEN NULL WHEN cf.sw THEN 'source' ELSE 'target' END, cf._h, $4::uuid
  FROM cf WHERE $6::text <> 'merge' AND ($7::boolean OR $6::text = 'manual')
  ON CONFLICT (deployment_id, table_name, record_id, source_hash) WHERE source_hash IS NOT NULL DO NOTHING
  RETURNING resolved_at IS NULL AS pending
), up AS (
  INSERT INTO ${target} AS t (${names.join(', ')}, _sync_hash, _sync_raw, _sync_light, _synced_at, _deleted_at, _target_changed_at)
  SELECT ${names.map((n) => `s.${n}`).join(', ')}, s._h, s._r, s._l, now(), NULL, NULL FROM s
  ON CONFLICT (${t.key.map(ident).join(', ')}) DO UPDATE SET ${sets.join(', ')}
  WHERE (t._sync_hash IS DISTINCT FROM EXCLUDED._sync_hash OR t._deleted_at IS NOT NULL OR t._sync_light IS DISTINCT FROM EXCLUDED._sync_light)
    AND (t._target_changed_at IS NULL OR t._deleted_at IS NOT NULL OR ${sourceWins(p, 'EXCLUDED')})
  RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM up WHERE inserted)::int AS inserted, (SELECT count(*) FROM up WHERE NOT inserted)::int AS updated,
       (SELECT count(*) FROM cf)::int AS conflicts, (SELECT count(*) FROM lg)::int AS logged,
       (SELECT count(*) FROM lg WHERE pending)::int AS pending,
       (SELECT coalesce(json_agg(cf.k), '[]') FROM cf WHERE $6::text = 'merge') AS merge_keys`;
}

function keyTuple(t: TablePlan, prefix = ''): string {
  return `(${t.key.map((k) => prefix + ident(k)).join(', ')})`;
}

function keyTypes(t: TablePlan): PgType[] {
  return t.key.map((k) => t.columns.find((c) => c.name === k)!.pgType);
}

function paramTuple(t: TablePlan, first: number): string {
  return `(${keyTypes(t)
    .map((ty, i) => `$${first + i}::${ty}`)
    .join(', ')})`;
}

/**
 * Tombstone rows that are gone from SQLite: an UPDATE, never a DELETE. A row someone else changed in the
 * mirror is a delete_conflict: tombstoned only under source_wins, otherwise kept (and logged).
 * Parameters: $1 JSON array of key arrays, then as in mergeSql: $2 deployment ... $7 strategy, $8 log resolved.
 */
export function tombstoneSql(schema: string, t: TablePlan): string {
  const target = `${ident(schema)}.${ident(t.name)}`;
  const elems = keyTypes(t)
    .map((ty, i) => `(e->>${i})::${ty} AS ${ident(t.key[i]!)}`)
    .join(', ');
  const on = t.key.map((k) => `t.${ident(k)} = d.${ident(k)}`).join(' AND ');
  return `WITH d AS (SELECT ${elems} FROM jsonb_array_elements($1::text::jsonb) e
), cf AS (
  SELECT ${recordId(t, 't')} AS rid, t._sync_hash, row_to_json(t) AS tdata FROM ${target} t JOIN d ON ${on}
  WHERE t._deleted_at IS NULL AND t._target_changed_at IS NOT NULL
), lg AS (
  INSERT INTO sync_metadata.conflict_log (${LOG_COLUMNS})
  SELECT $2::uuid, $3, $4, cf.rid, 'delete_conflict', NULL, CASE WHEN $6::boolean THEN sync_metadata.safe_jsonb(cf.tdata) END,
         $7::text, CASE WHEN $7::text = 'manual' THEN NULL ELSE now() END, CASE WHEN $7::text = 'manual' THEN NULL ELSE 'sync' END,
         CASE WHEN $7::text = 'manual' THEN NULL WHEN $7::text = 'source_wins' THEN 'source' ELSE 'target' END,
         'deleted:' || coalesce(cf._sync_hash, ''), $5::uuid
  FROM cf WHERE $8::boolean OR $7::text = 'manual'
  ON CONFLICT (deployment_id, table_name, record_id, source_hash) WHERE source_hash IS NOT NULL DO NOTHING
  RETURNING resolved_at IS NULL AS pending
), up AS (
  UPDATE ${target} t SET _deleted_at = now(), _synced_at = now(), _target_changed_at = NULL FROM d
  WHERE ${on} AND t._deleted_at IS NULL AND (t._target_changed_at IS NULL OR $7::text = 'source_wins')
  RETURNING 1
)
SELECT (SELECT count(*) FROM up)::int AS tombstoned, (SELECT count(*) FROM cf)::int AS conflicts,
       (SELECT count(*) FROM lg)::int AS logged, (SELECT count(*) FROM lg WHERE pending)::int AS pending`;
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
  return `SELECT ${keys.concat(cols, ['_sync_hash', '_sync_light', '_deleted_at IS NOT NULL AS dead']).join(', ')}
FROM ${ident(schema)}.${ident(t.name)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
}

/** COPY text escaping lives with the values it escapes (the reader thread builds COPY lines too). */
export { copyField } from '../model/values.ts';

/**
 * Restore's read of one mirror table (src/ops/restore.ts), a page at a time in key order: the live rows after the
 * key given as parameters ($1.. the key's columns as text, cast to their types; none for the first page), at most
 * the last parameter's number of rows. Each column as PostgreSQL prints it (c0, c1, ... in the order given), the
 * row's raw side channel, and whether someone changed it in PostgreSQL after its sync.
 */
export function restorePageSql(
  schema: string,
  table: string,
  cols: string[],
  key: { name: string; type: PgType }[],
  first: boolean,
): string {
  const list = cols
    .map((c, i) => `${ident(c)}::text AS c${i}`)
    .concat(['_sync_raw', '_target_changed_at IS NOT NULL AS _changed']);
  const k = key.map((c) => ident(c.name)).join(', ');
  const after = first ? '' : ` AND (${k}) > (${key.map((c, i) => `$${i + 1}::${c.type}`).join(', ')})`;
  return `SELECT ${list.join(', ')} FROM ${ident(schema)}.${ident(table)} WHERE _deleted_at IS NULL${after} ORDER BY ${k} LIMIT $${first ? 1 : key.length + 1}`;
}

/** A mirror table's primary key columns in key order ($1 schema, $2 table). */
export function restoreKeySql(): string {
  return `SELECT a.attname AS k FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
    WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary
    ORDER BY array_position(i.indkey::int2[], a.attnum)`;
}

/** PostgreSQL's estimate of the rows of a client's mirror tables ($1 schema): restore's progress. */
export function mirrorRowsEstimateSql(): string {
  return `SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint::text AS n FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`;
}

/** `key = $first, ...` of a table's key, compared as text. */
function keyCondition(t: TablePlan, first: number): string {
  return t.key.map((k, j) => `${ident(k)}::text = $${first + j}`).join(' AND ');
}

/**
 * Whole mirror rows (every column as text, in plan order) of `count` keys: parameters are the keys' texts, key by
 * key. FOR UPDATE when the caller writes the rows back in the same transaction.
 */
export function mirrorRowsByKeySql(schema: string, t: TablePlan, count: number, forUpdate = false): string {
  const where = Array.from({ length: count }, (_, i) => `(${keyCondition(t, i * t.key.length + 1)})`).join(' OR ');
  return `SELECT ${t.columns.map((c) => `${ident(c.name)}::text`).join(', ')} FROM ${ident(schema)}.${ident(t.name)} WHERE ${where}${forUpdate ? ' FOR UPDATE' : ''}`;
}

/**
 * One mirror row rewritten with the given values (a merge, or a conflict resolved by hand): parameters are
 * updateMirrorRowParams'. `undelete` clears a tombstone; `clearMarker` forgets that the mirror changed the row.
 */
export function updateMirrorRowSql(
  schema: string,
  t: TablePlan,
  o: { undelete: boolean; clearMarker: boolean },
): string {
  const nonKey = t.columns.filter((c) => !t.key.includes(c.name));
  const sets = nonKey.map((c, n) => `${ident(c.name)} = $${n + 1}::text::${c.pgType}`);
  const n = nonKey.length;
  return `UPDATE ${ident(schema)}.${ident(t.name)} SET ${sets.join(', ')}, _sync_hash = $${n + 1}, _sync_light = $${n + 2 + t.key.length}, _synced_at = now()${o.undelete ? ', _deleted_at = NULL' : ''}${o.clearMarker ? ', _target_changed_at = NULL' : ''} WHERE ${keyCondition(t, n + 2)}`;
}

export function updateMirrorRowParams(
  t: TablePlan,
  values: readonly (string | null)[],
  hash: string,
  key: readonly unknown[],
  light: string | null,
): unknown[] {
  const nonKey = t.columns.map((c, i) => [c, i] as const).filter(([c]) => !t.key.includes(c.name));
  return [...nonKey.map(([, i]) => values[i]), hash, ...key, light];
}

/** One mirror row tombstoned by hand (the source row is gone and the source wins): parameters are the key. */
export function tombstoneMirrorRowSql(schema: string, t: TablePlan): string {
  return `UPDATE ${ident(schema)}.${ident(t.name)} SET _deleted_at = now(), _synced_at = now(), _target_changed_at = NULL WHERE ${keyCondition(t, 1)}`;
}

/**
 * The mirror's version of a row kept (the target wins): it takes the source's hashes, so the same source version
 * does not conflict again. Parameters: the hash, the key, the light hash.
 */
export function keepMirrorRowSql(schema: string, t: TablePlan): string {
  return `UPDATE ${ident(schema)}.${ident(t.name)} SET _sync_hash = $1, _sync_light = $${2 + t.key.length} WHERE ${keyCondition(t, 2)}`;
}
