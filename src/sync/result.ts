import type { BatchOutcome } from './writer.ts';

// What a run reports: per table and in total. Also what sync_jobs.metadata records.

export interface Progress {
  table: string;
  tableIndex: number;
  tableCount: number;
  mode: TableMode;
  rowsRead: number;
  rowsTotal: number | null;
  rowsWritten: number;
  bytes: number;
}

export type TableMode = 'full' | 'incremental' | 'hash-diff' | 'light';
export type RunKind = 'full' | 'reconcile' | 'incremental' | 'unchanged';

export interface TableResult {
  table: string;
  mode: TableMode;
  rows_read: number;
  inserted: number;
  updated: number;
  tombstoned: number;
  rejected: number;
  raw_values: number;
  bytes: number;
  batches: number;
  conflicts: number;
  conflicts_resolved: number;
  conflicts_pending: number;
  /** The light pass of an incremental run (scan.ts lightPass): light rows compared, and how many differed. */
  light_rows?: number;
  light_changed?: number;
}

/** What a run (or one table of it) wrote, counted. */
export type Totals = Omit<TableResult, 'table' | 'mode' | 'batches' | 'light_rows' | 'light_changed'>;

export interface SyncResult {
  client: string;
  job_id: string;
  kind: RunKind;
  status: 'success' | 'failed' | 'cancelled';
  tables: TableResult[];
  skipped_tables: { table: string; reason: string }[];
  totals: Totals;
  /** Rows set aside in sync_metadata.rejected_rows and still unresolved, over all runs. */
  rejected_pending: number;
  /** Conflicts in conflict_log awaiting an operator (manual strategy, refused rows), over all runs. */
  conflicts_pending: number;
  duration_ms: number;
  error?: string;
  /** The run stopped because its job or its leader's term is no longer current: nothing more of it landed. */
  fenced?: boolean;
  /**
   * The run's own record (its job row, the deployment's last result, the counts above) could not be written
   * after retries. The batches it committed stay committed; the job row stays 'running' until the next run
   * marks it abandoned.
   */
  bookkeeping_error?: string;
}

export function emptyResult(table: string, mode: TableMode): TableResult {
  return { table, mode, batches: 0, ...emptyTotals() };
}

export function emptyTotals(): Totals {
  return {
    rows_read: 0,
    inserted: 0,
    updated: 0,
    tombstoned: 0,
    rejected: 0,
    raw_values: 0,
    bytes: 0,
    conflicts: 0,
    conflicts_resolved: 0,
    conflicts_pending: 0,
  };
}

/** Count one written batch into a table's result. */
export function addBatch(r: TableResult, b: BatchOutcome, rowsRead: number) {
  r.rows_read += rowsRead;
  r.inserted += b.inserted;
  r.updated += b.updated;
  r.tombstoned += b.tombstoned;
  r.rejected += b.rejected;
  r.raw_values += b.rawValues;
  r.bytes += b.bytes;
  r.conflicts += b.conflicts;
  r.conflicts_resolved += b.conflictsResolved;
  r.conflicts_pending += b.conflictsPending;
  r.batches++;
}

/** Count a table's result into the run's totals. */
export function addTable(totals: Totals, r: TableResult): void {
  for (const k of Object.keys(totals) as (keyof Totals)[]) totals[k] += r[k];
}
