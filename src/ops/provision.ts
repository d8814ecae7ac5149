import { openPg } from '../pg/connect.ts';
import { migrate, type MigrateResult } from '../pg/migrate.ts';

export interface ProvisionResult extends MigrateResult {
  schema_version: number;
}

/** Create or upgrade sync_metadata (idempotent). Runs as the admin. */
export async function provision(adminUrl: string): Promise<ProvisionResult> {
  const sql = await openPg(adminUrl, 'the admin connection');
  try {
    const r = await migrate(sql);
    const v = await sql<{ v: number }[]>`select coalesce(max(version), 0)::int as v from sync_metadata.schema_migrations`;
    return { ...r, schema_version: v[0]!.v };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
