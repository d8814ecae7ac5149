import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { type EmbeddedPg, type PgMajor, startEmbedded } from '../../src/pg/embedded.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL: only for creating databases and the admin role, and for checks. */
    pgUrl: string;
    /** The admin role every admin-side test uses: Supabase's attributes, not a superuser. */
    adminRole: { name: string; password: string };
    pgMajor: number;
  }
}

/**
 * The admin as Supabase has it: its `postgres` role is not a superuser but has these attributes (and ALL on
 * the database and on schema public, which freshDatabase grants).
 */
export const SUPABASE_ADMIN_ATTRIBUTES = 'LOGIN CREATEROLE CREATEDB REPLICATION BYPASSRLS';

const servers: { pg?: EmbeddedPg; dir?: string; external?: { url: string; role: string } }[] = [];

/**
 * One real PostgreSQL per project for the whole run: OWUI_SYNC_TEST_DATABASE_URL (a superuser URL) if set,
 * otherwise an embedded PostgreSQL (17, or 15 for the project named pg15) started here and always stopped in
 * teardown. The superuser then creates the admin role; every admin-side test logs in as that role.
 */
export async function setup(project: TestProject) {
  // Tests that start the real binary run the compiled code: compile it first when a source is newer.
  // @ts-expect-error: a plain JavaScript module without type declarations
  const { buildIfStale } = (await import('../../scripts/build.mjs')) as { buildIfStale: () => Promise<boolean> };
  await buildIfStale();
  const major: PgMajor = project.name === 'pg15' ? 15 : 17;
  const server: (typeof servers)[number] = {};
  servers.push(server);
  let url = process.env.OWUI_SYNC_TEST_DATABASE_URL;
  if (!url) {
    server.dir = fs.mkdtempSync(path.join(os.tmpdir(), `owui-sync-test-pg${major}-`));
    fs.chmodSync(server.dir, 0o755);
    server.pg = await startEmbedded({ dataDir: path.join(server.dir, 'pg'), durable: false, major });
    url = server.pg.url;
  }
  const admin = {
    name: `owui_test_admin_${crypto.randomBytes(4).toString('hex')}`,
    password: crypto.randomBytes(18).toString('base64url'),
  };
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`CREATE ROLE ${admin.name} ${SUPABASE_ADMIN_ATTRIBUTES} PASSWORD '${admin.password}'`);
    project.provide('pgMajor', Number((await sql`show server_version_num`)[0]!.server_version_num) / 10000);
  } finally {
    await sql.end({ timeout: 5 });
  }
  if (!server.pg) server.external = { url, role: admin.name };
  project.provide('pgUrl', url);
  project.provide('adminRole', admin);
}

export async function teardown() {
  for (const server of servers.splice(0)) {
    if (server.external) {
      // Someone else's server: take the admin role away again (best effort; the databases are dropped already).
      const sql = postgres(server.external.url, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP ROLE IF EXISTS ${server.external.role}`).catch(() => {});
      await sql.end({ timeout: 5 });
    }
    try {
      await server.pg?.stop();
    } finally {
      if (server.pg?.pid) {
        try {
          process.kill(server.pg.pid, 0);
          process.kill(server.pg.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      if (server.dir) fs.rmSync(server.dir, { recursive: true, force: true });
    }
  }
}
