import crypto from 'node:crypto';
import type { BinaryForm, PgType, SourcePlan, TablePlan } from '../model/plan.ts';
import { ConfigError } from '../util/errors.ts';
import type { Sql, Tx } from './connect.ts';
import { ident } from './connect.ts';

/** Sync columns every mirror table has besides Open WebUI's own. */
export const SYNC_COLUMNS = [
  '_sync_hash',
  '_sync_raw',
  '_synced_at',
  '_deleted_at',
  '_target_changed_at',
  '_sync_light',
] as const;
/** Their types when added to an existing table (nullable: existing rows have no hash yet and get one). */
const SYNC_COLUMN_TYPES: [string, string][] = [
  ['_sync_hash', 'text'],
  ['_sync_raw', 'jsonb'],
  ['_synced_at', 'timestamptz'],
  ['_deleted_at', 'timestamptz'],
  ['_target_changed_at', 'timestamptz'],
  ['_sync_light', 'text'],
];
/** The trigger that marks rows changed by anyone but the sync (sql/004_conflicts.sql). */
export const MARK_TRIGGER = 'owui_sync_mark_change';

/**
 * A partial index of the rows someone else changed: almost always empty, it lets the merge find the
 * conflicts of a batch without probing the primary key once per staged row.
 */
export function markIndexName(table: string): string {
  return `owui_changed_${crypto.createHash('sha1').update(table).digest('hex').slice(0, 16)}`;
}

function markIndexSql(schema: string, t: TablePlan): string {
  return `CREATE INDEX IF NOT EXISTS ${ident(markIndexName(t.name))} ON ${ident(schema)}.${ident(t.name)} (${t.key.map(ident).join(', ')}) WHERE _target_changed_at IS NOT NULL`;
}

function markTriggerSql(schema: string, table: string): string {
  // The WHEN clause is evaluated without calling the function: the sync's own writes cost next to nothing.
  return `CREATE OR REPLACE TRIGGER ${ident(MARK_TRIGGER)} BEFORE INSERT OR UPDATE ON ${ident(schema)}.${ident(table)} FOR EACH ROW WHEN (current_setting('owui_sync.writer', true) IS DISTINCT FROM 'sync') EXECUTE FUNCTION sync_metadata.mark_target_change()`;
}

const RESERVED_EXACT = new Set([
  'public',
  'auth',
  'storage',
  'extensions',
  'realtime',
  'vault',
  'information_schema',
  'sync_metadata',
  'graphql',
  'pgbouncer',
  'cron',
  'net',
]);
const RESERVED_PREFIX = ['graphql', 'pgsodium', 'supabase_', 'pg_'];

/**
 * A client name is the name of its PostgreSQL schema. Lower-case letters, digits, '-' and '_'
 * (the legacy toolkit's CLIENT_ID is a sanitized FQDN such as chat-example-com), at most 63 bytes,
 * and never a schema that PostgreSQL or Supabase owns.
 */
export function validateClientName(name: string): string {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) {
    throw new ConfigError(
      `invalid client name ${JSON.stringify(name)}`,
      'use lower-case letters, digits, "-" and "_", starting with a letter or digit (e.g. chat-example-com)',
    );
  }
  if (Buffer.byteLength(name) > 63)
    throw new ConfigError(
      `client name ${JSON.stringify(name)} is longer than 63 bytes`,
      'PostgreSQL schema names are at most 63 bytes; choose a shorter name',
    );
  if (RESERVED_EXACT.has(name) || RESERVED_PREFIX.some((p) => name.startsWith(p))) {
    throw new ConfigError(
      `client name ${JSON.stringify(name)} is reserved`,
      'that schema belongs to PostgreSQL or Supabase; choose another client name',
    );
  }
  return name;
}

/** Column definition of a mirror table. Key text columns compare bytewise, exactly as SQLite does. */
function columnDef(c: { name: string; pgType: PgType }, isKey: boolean): string {
  const collate = isKey && c.pgType === 'text' ? ' COLLATE "C"' : '';
  return `${ident(c.name)} ${c.pgType}${collate}${isKey ? ' NOT NULL' : ''}`;
}

export function createTableSql(schema: string, t: TablePlan): string {
  const cols = t.columns.map((c) => columnDef(c, t.key.includes(c.name)));
  // Nullable, no defaults: a row someone else inserts has no hash, which is how insert_exists is told apart.
  cols.push(
    '_sync_hash text',
    '_sync_raw jsonb',
    '_synced_at timestamptz',
    '_deleted_at timestamptz',
    '_target_changed_at timestamptz',
    // The light hash (model/values.ts lightHash), for the light pass of every run; tables with large columns only.
    '_sync_light text',
  );
  return `CREATE TABLE IF NOT EXISTS ${ident(schema)}.${ident(t.name)} (\n  ${cols.join(',\n  ')},\n  PRIMARY KEY (${t.key.map(ident).join(', ')})\n)`;
}

const PG_TYPE_BY_INFO: Record<string, PgType> = {
  bigint: 'bigint',
  integer: 'bigint',
  boolean: 'boolean',
  json: 'json',
  jsonb: 'json',
  text: 'text',
  'character varying': 'text',
  date: 'date',
  'timestamp without time zone': 'timestamp',
  'timestamp with time zone': 'timestamp',
  'double precision': 'double precision',
  numeric: 'numeric',
  bytea: 'bytea',
};

export interface TargetColumn {
  name: string;
  dataType: string;
}
export type TargetSchema = Map<string, TargetColumn[]> & { marked?: Set<string> };

export async function readTargetSchema(sql: Sql | Tx, schema: string): Promise<TargetSchema> {
  // pg_catalog rather than information_schema: the same answer (tables this role may read) about ten
  // times faster, which is most of the cost of a run that finds nothing changed.
  const rows = await sql<{ table_name: string; column_name: string; data_type: string }[]>`
    select c.relname as table_name, a.attname as column_name, format_type(a.atttypid, null) as data_type
    from pg_catalog.pg_attribute a
    join pg_catalog.pg_class c on c.oid = a.attrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
      and has_table_privilege(c.oid, 'SELECT')
    order by c.relname, a.attnum`;
  const out: TargetSchema = new Map();
  // A table is "marked" when it has both the trigger and the partial index of changed rows.
  const triggers = new Set(
    (
      await sql<{ t: string }[]>`
        select c.relname as t from pg_trigger g join pg_class c on c.oid = g.tgrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${schema} and g.tgname = ${MARK_TRIGGER}`
    ).map((r) => r.t),
  );
  const indexes = new Set(
    (
      await sql<
        { i: string }[]
      >`select indexname as i from pg_indexes where schemaname = ${schema} and indexname like 'owui_changed_%'`
    ).map((r) => r.i),
  );
  out.marked = new Set([...triggers].filter((t) => indexes.has(markIndexName(t))));
  for (const r of rows) {
    let cols = out.get(r.table_name);
    if (!cols) {
      cols = [];
      out.set(r.table_name, cols);
    }
    cols.push({ name: r.column_name, dataType: r.data_type });
  }
  return out;
}

export interface SchemaDiff {
  missingTables: { table: string; columns: number }[];
  missingColumns: { table: string; column: string; type: PgType | string }[];
  /** Present in PostgreSQL only (Open WebUI dropped them): kept, never dropped. */
  targetOnlyTables: string[];
  targetOnlyColumns: { table: string; column: string }[];
  typeDifferences: { table: string; column: string; source: PgType; target: string }[];
  skippedSourceTables: { table: string; reason: string }[];
  /** Mirror tables without the trigger that marks changes made by others (conflict detection). */
  missingTriggers: string[];
}

export function diffSchema(source: SourcePlan, target: TargetSchema): SchemaDiff {
  const d: SchemaDiff = {
    missingTables: [],
    missingColumns: [],
    targetOnlyTables: [],
    targetOnlyColumns: [],
    typeDifferences: [],
    skippedSourceTables: source.skipped,
    missingTriggers: [],
  };
  const sourceNames = new Set(source.tables.map((t) => t.name));
  for (const t of source.tables) {
    const cols = target.get(t.name);
    if (!cols) {
      d.missingTables.push({ table: t.name, columns: t.columns.length });
      continue;
    }
    const byName = new Map(cols.map((c) => [c.name, c]));
    if (!target.marked?.has(t.name)) d.missingTriggers.push(t.name);
    for (const c of t.columns) {
      const tc = byName.get(c.name);
      if (!tc) d.missingColumns.push({ table: t.name, column: c.name, type: c.pgType });
      else if (PG_TYPE_BY_INFO[tc.dataType] !== c.pgType)
        d.typeDifferences.push({ table: t.name, column: c.name, source: c.pgType, target: tc.dataType });
    }
    // A mirror made before owui-sync (the legacy toolkit's schema-init) lacks the sync columns.
    for (const [col, type] of SYNC_COLUMN_TYPES)
      if (!byName.has(col)) d.missingColumns.push({ table: t.name, column: col, type });
    const srcCols = new Set(t.columns.map((c) => c.name));
    for (const tc of cols) {
      if (!srcCols.has(tc.name) && !(SYNC_COLUMNS as readonly string[]).includes(tc.name))
        d.targetOnlyColumns.push({ table: t.name, column: tc.name });
    }
  }
  for (const name of target.keys()) if (!sourceNames.has(name)) d.targetOnlyTables.push(name);
  return d;
}

/** Drift that stops a sync: something in SQLite the mirror has no place for. */
export function blockingDrift(d: SchemaDiff): boolean {
  return d.missingTables.length > 0 || d.missingColumns.length > 0 || d.missingTriggers.length > 0;
}

/** The DDL that brings the mirror up to the source: new tables and new columns, never a drop. */
export function applySql(schema: string, source: SourcePlan, d: SchemaDiff): string[] {
  const stmts: string[] = [];
  for (const m of d.missingTables) stmts.push(createTableSql(schema, source.tables.find((t) => t.name === m.table)!));
  for (const m of d.missingColumns)
    stmts.push(`ALTER TABLE ${ident(schema)}.${ident(m.table)} ADD COLUMN IF NOT EXISTS ${ident(m.column)} ${m.type}`);
  for (const t of new Set([...d.missingTables.map((m) => m.table), ...d.missingTriggers])) {
    stmts.push(markTriggerSql(schema, t), markIndexSql(schema, source.tables.find((x) => x.name === t)!));
  }
  return stmts;
}

/** The mirror column types whose binary input model/copy.ts writes (format_type's names), and how. */
const BINARY_FORM_BY_INFO: Record<string, BinaryForm> = {
  text: 'text',
  'character varying': 'text',
  json: 'text',
  jsonb: 'jsonb',
  bigint: 'int8',
  boolean: 'bool',
  'double precision': 'float8',
  bytea: 'bytea',
};

/**
 * The binary forms of a mirror table's columns in the order a sync copies them (the plan's, then _sync_hash,
 * _sync_raw, _sync_light), or undefined when one of them has none (integer, a timestamp, date, numeric): the table's
 * COPY is then text. The mirror's own types decide, not the plan's: a mirror made elsewhere may have jsonb or varchar
 * where ours has json or text.
 */
export function binaryForms(target: TargetSchema, t: TablePlan): BinaryForm[] | undefined {
  const types = new Map((target.get(t.name) ?? []).map((c) => [c.name, c.dataType]));
  const forms: BinaryForm[] = [];
  for (const name of [...t.columns.map((c) => c.name), '_sync_hash', '_sync_raw', '_sync_light']) {
    const form = BINARY_FORM_BY_INFO[types.get(name) ?? ''];
    if (!form) return undefined;
    forms.push(form);
  }
  return forms;
}

/** Target column types of a table by name, for casts. */
export function targetTypes(target: TargetSchema, table: string): Map<string, PgType> {
  return new Map((target.get(table) ?? []).map((c) => [c.name, PG_TYPE_BY_INFO[c.dataType] ?? 'text']));
}
