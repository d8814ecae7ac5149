import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { withContext } from '../util/errors.ts';
import { packagePath } from '../util/paths.ts';
import { retry } from '../util/retry.ts';
import type { Sql } from './connect.ts';
import { isTransientPgError } from './connect.ts';

/** Roles are shared by the server's databases: provisioning two of them at once can collide on one. */
const isConcurrentCatalogUpdate = (err: unknown) =>
  isTransientPgError(err) || /tuple concurrently (updated|deleted)/.test(String((err as Error)?.message));

export const SQL_DIR = packagePath('sql');

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
  /**
   * A function the migration creates, run once for each client's schema (its header names it:
   * `-- per-client: sync_metadata.fn`): a change to every mirror table runs in bounded pieces, one client a
   * transaction, and resumes with the clients not done when it was interrupted.
   */
  perClient?: string;
}

const PER_CLIENT = /^-- per-client: (sync_metadata\.[a-z0-9_]+)$/m;

export function loadMigrations(dir = SQL_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_.+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = fs.readFileSync(path.join(dir, f), 'utf8');
      return {
        version: Number(f.slice(0, 3)),
        name: f,
        sql,
        checksum: crypto.createHash('sha256').update(sql).digest('hex').slice(0, 16),
        perClient: PER_CLIENT.exec(sql)?.[1],
      };
    });
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
  adoptedLegacy: boolean;
  /** Per-client steps run now, by migration (clients already done by an interrupted run are not counted). */
  clientSteps: Record<string, number>;
}

/**
 * Apply the numbered migrations in sql/ that this database has not seen, each in its own
 * transaction under an advisory lock (two provisioners at once wait for each other).
 * Every migration is written to be safe on a database laid out by the legacy toolkit.
 */
export async function migrate(sql: Sql): Promise<MigrateResult> {
  const legacy = await sql<{ n: number }[]>`
    select count(*)::int as n from information_schema.tables
    where table_schema = 'sync_metadata' and table_name = 'client_deployments'`;
  const versionTable = await sql<{ n: number }[]>`
    select count(*)::int as n from information_schema.tables
    where table_schema = 'sync_metadata' and table_name = 'schema_migrations'`;
  const adoptedLegacy = legacy[0]!.n > 0 && versionTable[0]!.n === 0;
  await sql`create schema if not exists sync_metadata`;
  await sql`create table if not exists sync_metadata.schema_migrations (
    version integer primary key, name text not null, checksum text not null, applied_at timestamptz not null default now())`;
  await sql`create table if not exists sync_metadata.client_migrations (
    version integer not null, client_name text not null, applied_at timestamptz not null default now(),
    primary key (version, client_name))`;
  const result: MigrateResult = { applied: [], alreadyApplied: [], adoptedLegacy, clientSteps: {} };
  const record = (tx: Sql, m: Migration) =>
    tx`insert into sync_metadata.schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${m.checksum})`;
  for (const m of loadMigrations()) {
    try {
      const pending = await retry(
        () =>
          sql.begin(async (tx) => {
            await tx`select pg_advisory_xact_lock(hashtext('owui-sync:migrate'))`;
            const done = await tx`select 1 from sync_metadata.schema_migrations where version = ${m.version}`;
            if (done.length > 0) {
              result.alreadyApplied.push(m.name);
              return false;
            }
            await tx.unsafe(m.sql);
            if (!m.perClient) await record(tx as unknown as Sql, m);
            return true;
          }),
        { isTransient: isConcurrentCatalogUpdate, attempts: 5 },
      );
      if (!pending) continue;
      if (m.perClient) result.clientSteps[m.name] = await perClient(sql, m, record);
      result.applied.push(m.name);
    } catch (err) {
      throw withContext(`migration ${m.name}`, err);
    }
  }
  return result;
}

/**
 * A migration's per-client step, one client's schema a transaction, each recorded as done: at fleet size a
 * change to every mirror table is thousands of schemas, which one transaction would hold locked together (and an
 * interruption would undo whole). Interrupted, the next provision carries on with the clients not done; the
 * migration counts as applied once every client is.
 */
async function perClient(sql: Sql, m: Migration, record: (tx: Sql, m: Migration) => unknown): Promise<number> {
  const fn = m.perClient!;
  const clients = await sql<{ client_name: string }[]>`
    select d.client_name from sync_metadata.client_deployments d
    where exists (select 1 from pg_catalog.pg_namespace n where n.nspname = d.client_name)
      and not exists (select 1 from sync_metadata.client_migrations c where c.version = ${m.version} and c.client_name = d.client_name)
    order by d.client_name`;
  let n = 0;
  for (const { client_name } of clients) {
    await retry(
      () =>
        sql.begin(async (tx) => {
          await tx`select pg_advisory_xact_lock(hashtext('owui-sync:migrate'))`;
          const [done] = await tx`
            select 1 from sync_metadata.client_migrations where version = ${m.version} and client_name = ${client_name}`;
          if (done) return;
          // The function's name comes from the migration file (checked against PER_CLIENT), the schema is a parameter.
          await tx.unsafe(`select ${fn}($1)`, [client_name]);
          await tx`insert into sync_metadata.client_migrations (version, client_name) values (${m.version}, ${client_name})`;
          n++;
        }),
      { isTransient: isConcurrentCatalogUpdate, attempts: 5 },
    ).catch((err) => {
      throw withContext(`client "${client_name}"`, err);
    });
  }
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('owui-sync:migrate'))`;
    const done = await tx`select 1 from sync_metadata.schema_migrations where version = ${m.version}`;
    if (done.length === 0) await record(tx as unknown as Sql, m);
  });
  return n;
}
