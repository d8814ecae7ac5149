import { ConfigError } from '../util/errors.ts';
import type { Sql } from './connect.ts';

export interface Deployment {
  deployment_id: string;
  client_name: string;
  container_name: string;
  host_id: string | null;
  sqlite_path: string;
  sync_enabled: boolean;
  sync_interval: number;
  status: string;
  last_sync_at: Date | null;
  last_sync_status: string | null;
  reconcile_every: number;
  runs_since_reconcile: number;
  source_fingerprint: string | null;
  /** The last run as it started or ended (sql/009_fleet.sql): its kind, job, status and start. */
  last_run: LastRun | null;
  /** The tables the last successful run skipped. */
  last_skipped_tables: { table: string; reason: string }[] | null;
  /** When a run last purged the deployment's conflict log (at most hourly). */
  conflicts_purged_at: Date | null;
  /** The hash of the tenant schema the last reading run recorded (sql/011_source_schema.sql). */
  source_schema_hash: string | null;
}

export interface LastRun {
  job_id: string;
  kind: string | null;
  status: string;
  started_at: string | null;
}

export async function findDeployment(sql: Sql, name: string): Promise<Deployment | undefined> {
  const rows = await sql<Deployment[]>`
    select deployment_id, client_name, container_name, host_id, coalesce(config->>'sqlite_path', '') as sqlite_path,
           coalesce(sync_enabled, false) as sync_enabled, coalesce(sync_interval, 300) as sync_interval,
           coalesce(status, 'active') as status, last_sync_at, last_sync_status, reconcile_every,
           runs_since_reconcile, source_fingerprint, last_run, last_skipped_tables, conflicts_purged_at,
           source_schema_hash
    from sync_metadata.client_deployments where client_name = ${name}`.catch((err) => {
    throw (err as { code?: string }).code === '42703' ? outdatedSchema(err) : err;
  });
  return rows[0];
}

/** A column this owui-sync reads is missing: sync_metadata was provisioned by an older version. */
const outdatedSchema = (_cause: unknown) =>
  new ConfigError(
    'the sync_metadata schema is older than this owui-sync',
    'upgrade it: owui-sync provision (with the admin connection); it is safe to run again',
  );

export async function getDeployment(sql: Sql, name: string): Promise<Deployment> {
  const d = await findDeployment(sql, name);
  if (!d) {
    throw new ConfigError(
      `client "${name}" is not registered`,
      `register it first: owui-sync client add ${name} --sqlite PATH (with the admin connection)`,
    );
  }
  if (!d.sqlite_path) {
    throw new ConfigError(
      `client "${name}" has no SQLite path recorded`,
      `record it: owui-sync client add ${name} --sqlite PATH (with the admin connection)`,
    );
  }
  return d;
}

/** Is sync_metadata there at all? A clear message instead of "relation does not exist". */
export async function requireProvisioned(sql: Sql): Promise<void> {
  const r =
    await sql`select 1 from information_schema.tables where table_schema = 'sync_metadata' and table_name = 'table_checkpoints'`;
  if (r.length === 0) {
    throw new ConfigError(
      'this database has no (current) sync_metadata schema',
      'run: owui-sync provision (with the admin connection, --admin-url or OWUI_SYNC_ADMIN_URL)',
    );
  }
}

/** When the leader queues the deployment's next run (legacy column: a timestamp in the server's zone). */
export async function nextSyncAt(sql: Sql, deploymentId: string): Promise<Date | null> {
  const [row] = await sql<{ next: Date | null }[]>`
    select next_sync_at at time zone current_setting('TimeZone') as next
    from sync_metadata.client_deployments where deployment_id = ${deploymentId}`;
  return row?.next ?? null;
}
