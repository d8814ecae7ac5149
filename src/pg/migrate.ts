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
}

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
      };
    });
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
  adoptedLegacy: boolean;
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
  const result: MigrateResult = { applied: [], alreadyApplied: [], adoptedLegacy };
  for (const m of loadMigrations()) {
    try {
      await retry(
        () =>
          sql.begin(async (tx) => {
            await tx`select pg_advisory_xact_lock(hashtext('owui-sync:migrate'))`;
            const done = await tx`select 1 from sync_metadata.schema_migrations where version = ${m.version}`;
            if (done.length > 0) {
              result.alreadyApplied.push(m.name);
              return;
            }
            await tx.unsafe(m.sql);
            await tx`insert into sync_metadata.schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${m.checksum})`;
            result.applied.push(m.name);
          }),
        { isTransient: isConcurrentCatalogUpdate, attempts: 5 },
      );
    } catch (err) {
      throw withContext(`migration ${m.name}`, err);
    }
  }
  return result;
}
