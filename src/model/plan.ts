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

/**
 * How a value goes into a binary COPY of its mirror column: its canonical text as the binary input of the column's
 * type. text, varchar and json take the UTF-8 bytes; jsonb a version byte (1) and the bytes; bigint, boolean and
 * double precision their network-order binary; bytea its bytes (model/copy.ts).
 */
export type BinaryForm = 'text' | 'jsonb' | 'int8' | 'bool' | 'float8' | 'bytea';

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
  /**
   * Set when every column of the mirror table has a binary form (pg/tenant.ts binaryForms): the forms of the
   * columns, then of _sync_hash, _sync_raw and _sync_light. Its rows are then read and copied into the mirror in
   * PostgreSQL's binary COPY format (model/copy.ts), else in the text format.
   */
  copyBinary?: BinaryForm[];
}

export interface SourcePlan {
  tables: TablePlan[];
  /** Tables that cannot be mirrored, with why (reported by sync and verify, never silently dropped). */
  skipped: { table: string; reason: string }[];
}
