// The audit log's statements (sync_metadata.conflict_log) as the sync writes them: one insert for every kind of
// entry, and the record id that names a row in it.
import type { Tx } from '../pg/connect.ts';

/** conflict_log.record_id of a row: its key's text for a one-column key, else the JSON array of the key's texts. */
export function recordIdOf(keyColumns: number, key: readonly unknown[]): string {
  return keyColumns === 1 ? String(key[0]) : JSON.stringify(key);
}

/** The key a record id names (the inverse of recordIdOf). */
export function keyOfRecordId(keyColumns: number, recordId: string): string[] {
  return keyColumns === 1 ? [recordId] : (JSON.parse(recordId) as string[]);
}

export interface ConflictEntry {
  deploymentId: string;
  clientName: string;
  table: string;
  recordId: string;
  type: 'update_conflict' | 'type_mismatch' | 'constraint_violation';
  /** Row snapshots as JSON text (null when the configuration keeps no data). */
  sourceData?: string | null;
  targetData?: string | null;
  resolvedData?: string | null;
  strategy?: 'merge' | 'manual' | null;
  /** Resolved by the sync itself as it logs it (null: it waits for review). */
  resolved?: { winner: 'source' | 'target' | 'merged' } | null;
  notes?: string | null;
  /** One entry per source version of the row: a second insert of the same version does nothing. */
  sourceHash: string;
  jobId: string;
}

/** Log one entry, once per source version of the row. */
export async function logConflict(tx: Tx, e: ConflictEntry): Promise<void> {
  const resolved = e.resolved ?? null;
  await tx`
    insert into sync_metadata.conflict_log (deployment_id, client_name, table_name, record_id, conflict_type, source_data,
      target_data, resolved_data, resolution_strategy, resolved_at, resolved_by, winner, resolution_notes, source_hash, sync_job_id)
    values (${e.deploymentId}, ${e.clientName}, ${e.table}, ${e.recordId}, ${e.type}, ${e.sourceData ?? null}::text::jsonb,
      ${e.targetData ?? null}::text::jsonb, ${e.resolvedData ?? null}::text::jsonb, ${e.strategy ?? null},
      case when ${resolved !== null}::boolean then now() end, ${resolved ? 'sync' : null}, ${resolved?.winner ?? null},
      ${e.notes ?? null}, ${e.sourceHash}, ${e.jobId})
    on conflict (deployment_id, table_name, record_id, source_hash) where source_hash is not null do nothing`;
}
