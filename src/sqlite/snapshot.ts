import crypto from 'node:crypto';
import type { TenantDb } from './open.ts';

/** One entry of sqlite_master: a table, index, view or trigger, with the DDL SQLite keeps for it. */
export interface SchemaObject {
  type: 'table' | 'index' | 'view' | 'trigger';
  name: string;
  tbl_name: string;
  /** Null for the indexes SQLite makes itself (a PRIMARY KEY or UNIQUE constraint's). */
  sql: string | null;
}

/**
 * The tenant's schema as a restore needs it to rebuild the file (sql/011_source_schema.sql): every sqlite_master
 * entry in file order, the Alembic revision Open WebUI's migrations left, PRAGMA user_version and the journal mode.
 */
export interface SchemaSnapshot {
  hash: string;
  objects: SchemaObject[];
  alembic_version: string | null;
  user_version: number;
  journal_mode: string;
}

/**
 * Read the schema of an open tenant. Read-only, a handful of rows; the hash covers everything a restore would
 * rebuild, so an unchanged schema is recognised without comparing the DDL.
 */
export function readSnapshot(db: TenantDb): SchemaSnapshot {
  const objects = db
    .prepare(
      "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('table', 'index', 'view', 'trigger') ORDER BY rowid",
    )
    .all() as SchemaObject[];
  let alembic: string | null = null;
  if (objects.some((o) => o.type === 'table' && o.name === 'alembic_version')) {
    const row = db.prepare('SELECT version_num FROM alembic_version LIMIT 1').get() as
      | { version_num: unknown }
      | undefined;
    alembic = row?.version_num == null ? null : String(row.version_num);
  }
  const userVersion = Number(db.pragma('user_version', { simple: true }));
  const journal = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
  const hash = crypto
    .createHash('sha256')
    .update(JSON.stringify([objects, alembic, userVersion, journal === 'wal' ? 'wal' : 'rollback']))
    .digest('hex');
  return { hash, objects, alembic_version: alembic, user_version: userVersion, journal_mode: journal };
}
