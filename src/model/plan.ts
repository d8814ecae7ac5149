// The shared schema model: what a tenant's tables look like and how each column is mirrored. Built by
// src/sqlite/introspect.ts, used by every layer above it (pg/, sync/, conflicts/).

/** PostgreSQL types a mirror column can have. A closed set: type names never come from input. */
export type PgType =
  | 'bigint'
  | 'boolean'
  | 'json'
  | 'text'
  | 'date'
  | 'timestamp'
  | 'double precision'
  | 'numeric'
  | 'bytea';

export interface ColumnPlan {
  name: string;
  declared: string;
  pgType: PgType;
}

export interface TablePlan {
  name: string;
  columns: ColumnPlan[];
  /** Key columns in key order (primary key, or the narrowest unique index of pre-0.9.6 tables). */
  key: string[];
  /** Where the key came from: a PRIMARY KEY, or a UNIQUE index on a legacy table without one. */
  keySource: 'primary' | 'unique';
  hasUpdatedAt: boolean;
  /** An index whose first column is updated_at: keyset reads by (updated_at, key) are cheap. */
  updatedAtIndexed: boolean;
  /** A rowid table: new rows can be found by rowid even when their updated_at is old (imports). */
  hasRowid: boolean;
  /**
   * The table's large columns (chat.chat, file.data, ...; LARGE_COLUMNS in introspect.ts). The light pass of every
   * run reads a row's other columns and only the byte length of these: its cost grows with the number of rows, not
   * with the size of the data. Empty: the light pass compares whole rows.
   */
  large: string[];
}

export interface SourcePlan {
  tables: TablePlan[];
  /** Tables that cannot be mirrored, with why (reported by sync and verify, never silently dropped). */
  skipped: { table: string; reason: string }[];
}
