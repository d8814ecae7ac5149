import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { ColumnPlan, PgType, SourcePlan, TablePlan } from '../model/plan.ts';
import { codePath } from '../util/paths.ts';
import type { TenantDb } from './open.ts';

const CANONICAL_SQL = codePath('sqlite', 'openwebui-v0.11.sql');
let canonical: Map<string, Map<string, string>> | undefined;

/** Open WebUI v0.11 declared types by table and column, from the bundled schema. */
export function canonicalTypes(): Map<string, Map<string, string>> {
  if (canonical) return canonical;
  const db = new Database(':memory:');
  try {
    db.exec(fs.readFileSync(CANONICAL_SQL, 'utf8'));
    canonical = new Map();
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as {
      name: string;
    }[]) {
      const cols = new Map<string, string>();
      for (const c of db.prepare('SELECT name, type FROM pragma_table_info(?)').all(name) as {
        name: string;
        type: string;
      }[]) {
        cols.set(c.name, c.type);
      }
      canonical.set(name, cols);
    }
    return canonical;
  } finally {
    db.close();
  }
}

/** The Open WebUI v0.11 DDL, for fixtures and the demo tenant. */
export function openWebUISchemaSql(): string {
  return fs.readFileSync(CANONICAL_SQL, 'utf8');
}

/**
 * Map a SQLite declared type to the type Open WebUI itself uses on PostgreSQL (JSON -> json,
 * BIGINT -> bigint, BOOLEAN -> boolean). VARCHAR(n) becomes text: the mirror must accept every
 * value SQLite accepted, and SQLite never enforces a length.
 */
export function pgTypeFor(declared: string): PgType {
  const t = declared.toUpperCase().trim();
  if (t === 'BOOLEAN' || t === 'BOOL') return 'boolean';
  if (t === 'JSON' || t === 'JSONB') return 'json';
  if (t.includes('INT')) return 'bigint';
  if (t === 'DATE') return 'date';
  if (t === 'DATETIME' || t.startsWith('TIMESTAMP')) return 'timestamp';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'text';
  if (t.includes('BLOB')) return 'bytea';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'double precision';
  if (t.includes('NUMERIC') || t.includes('DECIMAL')) return 'numeric';
  return 'text';
}

const SHADOW_SUFFIXES = ['_content', '_data', '_idx', '_docsize', '_config', '_segments', '_segdir', '_stat'];

/** Read the tenant's tables and columns now: Open WebUI upgrades change them at start-up. */
export function introspect(db: TenantDb): SourcePlan {
  const rows = db.prepare("SELECT name, sql FROM sqlite_master WHERE type='table' ORDER BY name").all() as {
    name: string;
    sql: string | null;
  }[];
  const virtual = rows.filter((r) => /^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(r.sql ?? '')).map((r) => r.name);
  const isShadow = (n: string) => virtual.some((v) => SHADOW_SUFFIXES.some((s) => n === v + s));
  const canon = canonicalTypes();
  const tables: TablePlan[] = [];
  const skipped: SourcePlan['skipped'] = [];
  for (const { name, sql } of rows) {
    if (name.startsWith('sqlite_') || name.startsWith('_alembic_tmp_') || virtual.includes(name) || isShadow(name))
      continue;
    const info = db
      .prepare('SELECT name, type, pk, "notnull" AS nn FROM pragma_table_info(?) ORDER BY cid')
      .all(name) as {
      name: string;
      type: string;
      pk: bigint;
      nn: bigint;
    }[];
    const canonCols = canon.get(name);
    const columns: ColumnPlan[] = info.map((c) => {
      const declared = canonCols?.get(c.name) ?? c.type;
      return { name: c.name, declared: c.type, pgType: pgTypeFor(declared) };
    });
    let key = info
      .filter((c) => Number(c.pk) > 0)
      .sort((a, b) => Number(a.pk - b.pk))
      .map((c) => c.name);
    let keySource: TablePlan['keySource'] = 'primary';
    if (key.length === 0) {
      key = narrowestUniqueIndex(db, name);
      keySource = 'unique';
    }
    if (key.length === 0) {
      skipped.push({ table: name, reason: 'no primary key and no unique index: rows cannot be identified' });
      continue;
    }
    const hasUpdatedAt = info.some((c) => c.name === 'updated_at');
    tables.push({
      name,
      columns,
      key,
      keySource,
      hasUpdatedAt,
      updatedAtIndexed: hasUpdatedAt && firstIndexedColumns(db, name).has('updated_at'),
      hasRowid: !/WITHOUT\s+ROWID/i.test(sql ?? ''),
      large: (LARGE_COLUMNS[name] ?? []).filter((l) => columns.some((c) => c.name === l && c.name !== 'updated_at')),
    });
  }
  return { tables, skipped };
}

/**
 * Open WebUI's large columns (docs: openwebui-schema.md section 4): a chat's whole message tree, a message's
 * content and tool output, a document's extracted text, a feedback's chat snapshot. The light pass of every run
 * reads only their byte length (octet_length, which SQLite answers from the record header without reading the
 * value); Open WebUI bumps updated_at when it rewrites them, except for changes that also change another
 * column or the length (a retitle, a status added to a message), which the light pass sees.
 */
export const LARGE_COLUMNS: Record<string, string[]> = {
  chat: ['chat'],
  chat_message: ['content', 'output', 'sources'],
  shared_chat: ['chat'],
  file: ['data'],
  feedback: ['snapshot'],
  note: ['data'],
  message: ['content'],
  prompt_history: ['snapshot'],
  document: ['content'],
};

function indexColumns(db: TenantDb, index: string): (string | null)[] {
  return (
    db.prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno').all(index) as { name: string | null }[]
  ).map((r) => r.name);
}

function narrowestUniqueIndex(db: TenantDb, table: string): string[] {
  const idx = db.prepare('SELECT name, "unique" AS u, partial FROM pragma_index_list(?)').all(table) as {
    name: string;
    u: bigint;
    partial: bigint;
  }[];
  let best: string[] = [];
  for (const i of idx) {
    if (Number(i.u) !== 1 || Number(i.partial) !== 0) continue;
    const cols = indexColumns(db, i.name);
    if (cols.some((c) => c === null)) continue; // expression index
    if (best.length === 0 || cols.length < best.length || (cols.length === best.length && cols[0] === 'id'))
      best = cols as string[];
  }
  return best;
}

function firstIndexedColumns(db: TenantDb, table: string): Set<string> {
  const out = new Set<string>();
  for (const i of db.prepare('SELECT name FROM pragma_index_list(?)').all(table) as { name: string }[]) {
    const first = indexColumns(db, i.name)[0];
    if (first) out.add(first);
  }
  return out;
}
