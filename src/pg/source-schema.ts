import type { SchemaSnapshot } from '../sqlite/snapshot.ts';
import type { Sql, Tx } from './connect.ts';

// The tenant schemas kept beside a mirror (sql/011_source_schema.sql): written by a run that finds a schema other
// than the one recorded last, read by restore.

/** A recorded schema, as restore reads it. */
export interface RecordedSchema extends Omit<SchemaSnapshot, 'hash'> {
  schema_hash: string;
  captured_at: Date;
  last_seen_at: Date;
}

/** Keep the schema a run found (once per distinct schema; seen again, only its last_seen_at moves). */
export function recordSchema(tx: Tx, deploymentId: string, s: SchemaSnapshot) {
  return tx`
    insert into sync_metadata.source_schemas
      (deployment_id, schema_hash, alembic_version, user_version, journal_mode, objects)
    values (${deploymentId}, ${s.hash}, ${s.alembic_version}, ${s.user_version}, ${s.journal_mode},
            ${JSON.stringify(s.objects)}::text::jsonb)
    on conflict (deployment_id, schema_hash) do update set last_seen_at = now()`;
}

/** The schema the deployment's last run recorded (the one its mirror holds now), or undefined. */
export async function currentSchema(sql: Sql, deploymentId: string): Promise<RecordedSchema | undefined> {
  const [r] = await sql<RecordedSchema[]>`
    select s.schema_hash, s.captured_at, s.last_seen_at, s.alembic_version, s.user_version::int as user_version,
           s.journal_mode, s.objects
    from sync_metadata.source_schemas s
    join sync_metadata.client_deployments d on d.deployment_id = s.deployment_id and d.source_schema_hash = s.schema_hash
    where s.deployment_id = ${deploymentId}`;
  return r;
}
