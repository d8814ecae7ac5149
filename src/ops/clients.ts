import path from 'node:path';
import { ident, openPg, type Sql, type Tx } from '../pg/connect.ts';
import { type Deployment, findDeployment, getDeployment, requireProvisioned } from '../pg/deployments.ts';
import { adminRoleOf, explainAdminError } from '../pg/privileges.ts';
import { grantClientSchema } from '../pg/roles.ts';
import { applySql, diffSchema, readTargetSchema, type SchemaDiff, validateClientName } from '../pg/tenant.ts';
import { introspect } from '../sqlite/introspect.ts';
import { openTenant } from '../sqlite/open.ts';
import { ConfigError, withContext } from '../util/errors.ts';

export interface ClientAddInput {
  name: string;
  sqlitePath: string;
  adminUrl: string;
  intervalSeconds?: number;
  containerName?: string;
  reconcileEvery?: number;
  /** The host whose agents sync this client: only its role gets the client's schema. */
  host?: string;
}

export interface ClientAddResult {
  client: string;
  deployment_id: string;
  created: boolean;
  sqlite_path: string;
  tables_created: number;
  columns_added: number;
  sync_interval: number;
  host: string | null;
  role: string | null;
}

/**
 * Register a tenant: validate the name and the SQLite file, create schema NAME with one mirror
 * table per Open WebUI table, record the deployment. Idempotent: running it again updates the path
 * and interval and creates what is missing, all in one transaction.
 */
export async function clientAdd(input: ClientAddInput): Promise<ClientAddResult> {
  const name = validateClientName(input.name);
  const sqlitePath = path.resolve(input.sqlitePath);
  const db = openTenant(sqlitePath);
  let plan: ReturnType<typeof introspect>;
  try {
    plan = introspect(db);
  } finally {
    db.close();
  }
  const sql = await openPg(input.adminUrl, 'the admin connection');
  try {
    await requireProvisioned(sql);
    const existing = await findDeployment(sql, name);
    const container = input.containerName ?? existing?.container_name ?? `openwebui-${name}`;
    let result!: ClientAddResult;
    await sql.begin(async (tx) => {
      await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${ident(name)}`);
      const diff = diffSchema(plan, await readTargetSchema(tx as unknown as Sql, name));
      for (const stmt of applySql(name, plan, diff)) await tx.unsafe(stmt);
      const interval = input.intervalSeconds ?? existing?.sync_interval ?? 300;
      const host = input.host === undefined ? null : await findHost(tx as unknown as Sql, input.host);
      const hostId = host?.host_id ?? existing?.host_id ?? null;
      const previousRole = existing?.host_id
        ? ((
            await tx<
              { role_name: string | null }[]
            >`select role_name from sync_metadata.hosts where host_id = ${existing.host_id}`
          )[0]?.role_name ?? null)
        : null;
      const rows = await tx<{ deployment_id: string; created: boolean }[]>`
        insert into sync_metadata.client_deployments (client_name, container_name, host_id, database_type, sync_enabled, sync_interval,
               last_sync_status, status, config, reconcile_every)
        values (${name}, ${container}, ${hostId}, 'sqlite', true, ${interval}, 'pending', 'active',
                ${JSON.stringify({ sqlite_path: sqlitePath })}::text::jsonb, ${input.reconcileEvery ?? existing?.reconcile_every ?? 12})
        on conflict (client_name) do update set
          container_name = excluded.container_name, sync_interval = excluded.sync_interval, host_id = excluded.host_id,
          config = coalesce(client_deployments.config, '{}'::jsonb) || excluded.config,
          reconcile_every = ${input.reconcileEvery ?? existing?.reconcile_every ?? 12}, updated_at = now()
        returning deployment_id, (xmax = 0) as created`;
      const role = host?.role_name ?? (hostId ? previousRole : null);
      await grantClientSchema(tx as unknown as Tx, name, role, previousRole);
      result = {
        client: name,
        deployment_id: rows[0]!.deployment_id,
        created: rows[0]!.created,
        sqlite_path: sqlitePath,
        tables_created: diff.missingTables.length,
        columns_added: diff.missingColumns.length,
        sync_interval: interval,
        host: host?.hostname ?? null,
        role,
      };
    });
    return result;
  } catch (err) {
    if ((err as { code?: string }).code === '23505') {
      throw new ConfigError(
        `container name of client "${name}" is already used by another client`,
        'pass --container with the Open WebUI container of this client',
      );
    }
    throw explainAdminError(withContext(`client add ${name}`, err), adminRoleOf(input.adminUrl), `client add ${name}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function findHost(sql: Sql, name: string): Promise<{ host_id: string; hostname: string; role_name: string }> {
  const rows = await sql<{ host_id: string; hostname: string; role_name: string | null; cluster_name: string }[]>`
    select host_id, hostname, role_name, cluster_name from sync_metadata.hosts where hostname = ${name}`;
  const withRole = rows.filter((r) => r.role_name);
  if (withRole.length === 0)
    throw new ConfigError(
      `host "${name}" is not provisioned`,
      `provision it first: owui-sync provision --host ${name} --secret-file PATH`,
    );
  if (withRole.length > 1)
    throw new ConfigError(
      `host "${name}" is registered in several clusters (${withRole.map((r) => r.cluster_name).join(', ')})`,
      'remove the stale one: owui-sync host remove',
    );
  return withRole[0] as { host_id: string; hostname: string; role_name: string };
}

export interface ClientRemoveResult {
  client: string;
  removed: boolean;
  schema_dropped: boolean;
  jobs_removed: number;
}

/** Unregister a client (its job history goes with it); with dropSchema also its mirror. Admin only. */
export async function clientRemove(adminUrl: string, name: string, dropSchema: boolean): Promise<ClientRemoveResult> {
  validateClientName(name);
  const sql = await openPg(adminUrl, 'the admin connection');
  try {
    await requireProvisioned(sql);
    let out!: ClientRemoveResult;
    await sql.begin(async (tx) => {
      const [jobs] = await tx<{ n: number }[]>`
        select count(*)::int as n from sync_metadata.sync_jobs j join sync_metadata.client_deployments d using (deployment_id) where d.client_name = ${name}`;
      const del = await tx`delete from sync_metadata.client_deployments where client_name = ${name}`;
      const exists = (await tx`select 1 from pg_namespace where nspname = ${name}`).length > 0;
      if (del.count === 0 && !(dropSchema && exists))
        throw new ConfigError(`client "${name}" is not registered`, 'owui-sync status lists the registered clients');
      if (dropSchema && exists) await tx.unsafe(`DROP SCHEMA ${ident(name)} CASCADE`);
      out = { client: name, removed: del.count > 0, schema_dropped: dropSchema && exists, jobs_removed: jobs!.n };
    });
    return out;
  } catch (err) {
    throw explainAdminError(err, adminRoleOf(adminUrl), `client remove ${name}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export interface SchemaDiffResult {
  client: string;
  in_sync: boolean;
  diff: SchemaDiff;
  statements: string[];
}

/** Compare the tenant's SQLite schema with its mirror (read-only on both). */
export async function schemaDiff(sql: Sql, name: string): Promise<SchemaDiffResult> {
  await requireProvisioned(sql);
  const dep = await getDeployment(sql, name);
  const db = openTenant(dep.sqlite_path);
  try {
    const plan = introspect(db);
    const diff = diffSchema(plan, await readTargetSchema(sql, name));
    const statements = applySql(name, plan, diff);
    return { client: name, in_sync: statements.length === 0, diff, statements };
  } finally {
    db.close();
  }
}

/** Apply the drift (new tables, new columns) as the admin, in one transaction. Never drops. */
export async function schemaApply(adminUrl: string, name: string): Promise<SchemaDiffResult & { applied: number }> {
  const sql = await openPg(adminUrl, 'the admin connection');
  try {
    const before = await schemaDiff(sql, name);
    await sql.begin(async (tx) => {
      await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${ident(name)}`);
      for (const s of before.statements) await tx.unsafe(s);
      // Default privileges follow the role that created the schema; another admin's new tables need
      // the host role's grant spelled out.
      const [owner] = await tx<{ role_name: string | null }[]>`
        select h.role_name from sync_metadata.client_deployments d join sync_metadata.hosts h using (host_id) where d.client_name = ${name}`;
      if (owner?.role_name) await grantClientSchema(tx as unknown as Tx, name, owner.role_name, null);
    });
    return { ...before, applied: before.statements.length };
  } catch (err) {
    throw explainAdminError(err, adminRoleOf(adminUrl), `schema apply ${name}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export interface ClientStatus {
  client: string;
  sqlite_path: string;
  sync_enabled: boolean;
  status: string;
  sync_interval: number;
  last_sync_at: string | null;
  last_sync_status: string | null;
  last_job: {
    job_id: string;
    status: string;
    sync_type: string;
    started_at: string;
    duration_seconds: number | null;
    rows_synced: number;
    error_message: string | null;
  } | null;
  rejected_pending: number;
}

/** What every registered client's sync looks like now (read-only). */
export async function status(sql: Sql, name?: string): Promise<ClientStatus[]> {
  await requireProvisioned(sql);
  const deps = await sql<(Deployment & { last_sync_at: Date | null })[]>`
    select client_name, coalesce(config->>'sqlite_path', '') as sqlite_path, coalesce(sync_enabled, false) as sync_enabled,
           coalesce(status, 'active') as status, coalesce(sync_interval, 300) as sync_interval,
           -- legacy columns are timestamp without time zone, written in the server's zone
           last_sync_at at time zone current_setting('TimeZone') as last_sync_at, last_sync_status, deployment_id
    from sync_metadata.client_deployments ${name ? sql`where client_name = ${name}` : sql``} order by client_name`;
  if (name && deps.length === 0) await getDeployment(sql, name);
  const out: ClientStatus[] = [];
  for (const d of deps) {
    const job = await sql<
      {
        job_id: string;
        status: string;
        sync_type: string;
        started_at: Date;
        duration_seconds: string | null;
        rows_synced: string;
        error_message: string | null;
      }[]
    >`
      select job_id, status, sync_type, started_at at time zone current_setting('TimeZone') as started_at, duration_seconds, rows_synced, error_message
      from sync_metadata.sync_jobs where deployment_id = ${d.deployment_id} order by started_at desc limit 1`;
    const rej = await sql<
      { n: number }[]
    >`select count(*)::int as n from sync_metadata.rejected_rows where deployment_id = ${d.deployment_id} and resolved_at is null`;
    const j = job[0];
    out.push({
      client: d.client_name,
      sqlite_path: d.sqlite_path,
      sync_enabled: d.sync_enabled,
      status: d.status,
      sync_interval: d.sync_interval,
      last_sync_at: d.last_sync_at ? d.last_sync_at.toISOString() : null,
      last_sync_status: d.last_sync_status,
      last_job: j
        ? {
            job_id: j.job_id,
            status: j.status,
            sync_type: j.sync_type,
            started_at: j.started_at.toISOString(),
            duration_seconds: j.duration_seconds === null ? null : Number(j.duration_seconds),
            rows_synced: Number(j.rows_synced),
            error_message: j.error_message,
          }
        : null,
      rejected_pending: rej[0]!.n,
    });
  }
  return out;
}
