import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, inject } from 'vitest';

/**
 * What a test file set up, undone after the file in reverse order, after the child processes it started are
 * killed by PID: even when a test failed. One hook, registered when this module loads (while the file is
 * collected): vitest ignores afterAll() called from inside a test, where most of these are made.
 */
const cleanups: (() => unknown)[] = [];
/** Undo something after this test file (also when called from inside a test, unlike afterAll). */
export const onCleanup = (undo: () => unknown): void => void cleanups.push(undo);
const tracked: number[] = [];
afterAll(async () => {
  for (const p of tracked.splice(0)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const undo of cleanups.splice(0).reverse()) {
    try {
      await undo();
    } catch {
      /* best effort: the next cleanup still runs */
    }
  }
});

/**
 * The one way tests wait: until `probe` gives something other than false, null or undefined (a probe that throws
 * has not succeeded yet), polling every `stepMs`. Throws after `timeoutMs` naming `what` and the probe's last
 * answer, so a failure says what never happened.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  o: { timeoutMs?: number; stepMs?: number } = {},
): Promise<Exclude<T, false | null | undefined>> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  const t0 = performance.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== false && v !== null && v !== undefined) return v as Exclude<T, false | null | undefined>;
      last = v;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`waited ${timeoutMs} ms for ${what}; the last answer: ${JSON.stringify(last)?.slice(0, 600)}`);
    await new Promise((r) => setTimeout(r, o.stepMs ?? 50));
  }
}

export const ROOT = path.resolve(import.meta.dirname, '..');
export const BIN = path.join(ROOT, 'bin', 'owui-sync.js');
/** Every migration file in sql/, in the order provision applies them. */
export const MIGRATIONS = fs
  .readdirSync(path.join(ROOT, 'sql'))
  .filter((f) => /^\d{3}_.*\.sql$/.test(f))
  .sort();

/**
 * A database of its own for one test file, dropped after the file (with every connection to it). `url` logs in
 * as the run's admin role, which has Supabase's attributes and is not a superuser (test/setup/global.ts), and
 * holds ALL on the database and on schema public, as Supabase's postgres role does: every admin-side verb runs
 * as that role. `superUrl` and `sql` are the superuser's, for checks and for what only a superuser may do.
 */
export async function freshDatabase(): Promise<{
  url: string;
  superUrl: string;
  sql: postgres.Sql;
  name: string;
  roles: string[];
}> {
  const base = inject('pgUrl');
  const adminRole = inject('adminRole');
  const name = `t_${crypto.randomBytes(6).toString('hex')}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.unsafe(`GRANT ALL ON DATABASE ${name} TO ${adminRole.name}`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  const superUrl = u.toString();
  const sql = postgres(superUrl, { max: 2, onnotice: () => {} });
  await sql.unsafe(`GRANT ALL ON SCHEMA public TO ${adminRole.name}`);
  u.username = adminRole.name;
  u.password = adminRole.password;
  const url = u.toString();
  // Roles belong to the whole server: the ones a file creates are dropped with its database.
  const roles: string[] = [];
  cleanups.push(async () => {
    await sql.end({ timeout: 5 });
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    for (const r of roles) await admin.unsafe(`DROP ROLE IF EXISTS "${r}"`).catch(() => {});
    await admin.end({ timeout: 5 });
  });
  return { url, superUrl, sql, name, roles };
}

/** A temporary folder removed after the file. */
export function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-sync-t-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run the CLI in this process, through `main(argv, io)`, as the binary would: the same parsing, operations and
 * exit codes, without starting Node, for tests that do not need a process of their own (signals, a terminal,
 * the process list). owui-sync's settings come from `env` alone for the call: OWUI_SYNC_* variables of the test
 * process are set aside and put back after.
 */
export async function runMain(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const { main } = await import('../src/cli/main.ts');
  let stdout = '';
  let stderr = '';
  const line = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  const io = {
    out: (s: string) => {
      stdout += line(s);
    },
    err: (s: string) => {
      stderr += line(s);
    },
    isTTY: false,
  };
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (k.startsWith('OWUI_SYNC_')) delete process.env[k];
  // No settings file of this machine's: a test that wants one names it with OWUI_SYNC_CONFIG.
  Object.assign(process.env, { NO_COLOR: '1', OWUI_SYNC_CONFIG: '' });
  for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
  try {
    const code = await main(['node', 'owui-sync', ...args], io);
    return { code, signal: null, stdout, stderr };
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** Run the real CLI in a child process (the shim and the compiled bundle), with a clean environment. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  opts: { timeoutMs?: number; onSpawn?: (pid: number) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', OWUI_SYNC_CONFIG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid) opts.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

import type Database from 'better-sqlite3';
import { clientAdd } from '../src/ops/clients.ts';
import { provision } from '../src/ops/provision.ts';
import { openPg, type Sql } from '../src/pg/connect.ts';
import { getDeployment } from '../src/pg/deployments.ts';
import {
  createTenantDb,
  type JournalMode,
  type SchemaStyle,
  type SeedOptions,
  seedTenant,
} from '../src/sqlite/sample.ts';
import { runSync, type SyncOptions } from '../src/sync/engine.ts';
import { verify } from '../src/sync/verify.ts';

export interface Tenant {
  name: string;
  /** Superuser URL (admin connection). */
  url: string;
  /** The host role's URL, password included (for in-process use). */
  hostUrl: string;
  /** Environment for the CLI as a host runs it: URL without password + OWUI_SYNC_DATABASE_PASSWORD_FILE. */
  hostEnv: Record<string, string>;
  host: string;
  role: string;
  /** The owui-sync connection as the host role, over TCP with a password (postgres.js through owui-sync's connect). */
  sql: Sql;
  /** A plain superuser connection to the same database, for checks. */
  check: postgres.Sql;
  sqlitePath: string;
  /** A read-write handle on the tenant, playing Open WebUI. */
  db: Database.Database;
  userIds: string[];
  chatIds: string[];
  sync: (o?: SyncOptions) => ReturnType<typeof runSync>;
  verify: () => ReturnType<typeof verify>;
}

/** A provisioned database with one registered tenant, built with Open WebUI's real schema. */
export async function setupTenant(
  opts: { name?: string; style?: SchemaStyle; journal?: JournalMode; seed?: SeedOptions; reconcileEvery?: number } = {},
): Promise<Tenant> {
  const { url, sql: check, name: dbName, roles } = await freshDatabase();
  const dir = tmpDir();
  const sqlitePath = path.join(dir, 'webui.db');
  const db = createTenantDb(sqlitePath, { style: opts.style, journal: opts.journal });
  const seeded = seedTenant(db, { style: opts.style, ...opts.seed });
  const host = await provisionHost(url, dbName, roles, dir);
  const name = opts.name ?? 'acme';
  await clientAdd({ name, sqlitePath, adminUrl: url, reconcileEvery: opts.reconcileEvery, host: host.host });
  const sql = await openPg(host.url, 'test');
  cleanups.push(async () => {
    db.close();
    await sql.end({ timeout: 5 });
  });
  return {
    name,
    url,
    hostUrl: host.url,
    hostEnv: host.env,
    host: host.host,
    role: host.role,
    sql,
    check,
    sqlitePath,
    db,
    ...seeded,
    sync: async (o) => runSync(sql, await getDeployment(sql, name), o),
    verify: async () => verify(sql, await getDeployment(sql, name)),
  };
}

/** Remember a child process this file started; it is killed (by PID) after the file, even on failure. */
export function trackChild(pid: number | undefined): void {
  if (pid) tracked.push(pid);
}

/**
 * Provision sync_metadata and a host of this test file (host names are unique per database, since
 * roles are shared by the whole server). Returns how that host connects: over TCP, with its password.
 */
export async function provisionHost(adminUrl: string, dbName: string, roles: string[], dir: string, suffix = '') {
  const host = `h-${dbName.slice(2)}${suffix}`;
  const secretFile = path.join(dir, `db_sync_password${suffix}`);
  const r = await provision({ adminUrl, host, secretFile });
  roles.push(r.host!.role);
  const u = new URL(adminUrl);
  u.username = r.host!.role;
  u.password = '';
  const bare = u.toString();
  u.password = encodeURIComponent(fs.readFileSync(secretFile, 'utf8').trim());
  return {
    host,
    role: r.host!.role,
    url: u.toString(),
    secretFile,
    env: { OWUI_SYNC_DATABASE_URL: bare, OWUI_SYNC_DATABASE_PASSWORD_FILE: secretFile },
  };
}

/**
 * PostgreSQL through a TCP proxy of the test's own: `silence()` stops forwarding while the connections stay open (a
 * network partition); `close()` drops every connection and refuses new ones (the server gone). Closed after the test.
 */
export async function pgProxy(target: URL): Promise<{ url: URL; silence: () => void; close: () => Promise<void> }> {
  let silent = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    sockets.add(c);
    if (silent) return;
    const up = net.connect(Number(target.port), target.hostname);
    sockets.add(up);
    c.on('data', (d) => silent || up.write(d));
    up.on('data', (d) => silent || c.write(d));
    for (const [a, b] of [
      [c, up],
      [up, c],
    ] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target);
  url.port = String((server.address() as net.AddressInfo).port);
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((r) => {
      server.close(() => r());
      for (const x of sockets) x.destroy();
    }));
  onCleanup(close);
  return {
    url,
    silence: () => {
      silent = true;
    },
    close,
  };
}
