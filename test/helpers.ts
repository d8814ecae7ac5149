import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import postgres from 'postgres';
import { afterAll, inject } from 'vitest';
import { TSX_IMPORT } from '../src/util/child.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const BIN = path.join(ROOT, 'bin', 'owui-sync.js');

/** A database of its own for one test file, dropped after the file (with every connection to it). */
export async function freshDatabase(): Promise<{ url: string; sql: postgres.Sql; name: string }> {
  const base = inject('pgUrl');
  const name = 't_' + crypto.randomBytes(6).toString('hex');
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const u = new URL(base);
  u.pathname = '/' + name;
  const url = u.toString();
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  afterAll(async () => {
    await sql.end({ timeout: 5 });
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end({ timeout: 5 });
  });
  return { url, sql, name };
}

/** A temporary folder removed after the file. */
export function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-sync-t-'));
  afterAll(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the real CLI in a child process (the shim, tsx and all), with a clean environment. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, opts: { timeoutMs?: number; onSpawn?: (pid: number) => void } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env },
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

export { TSX_IMPORT };

import Database from 'better-sqlite3';
import { clientAdd } from '../src/ops/clients.ts';
import { provision } from '../src/ops/provision.ts';
import { openPg, type Sql } from '../src/pg/connect.ts';
import { getDeployment } from '../src/pg/deployments.ts';
import { createTenantDb, seedTenant, type JournalMode, type SchemaStyle, type SeedOptions } from '../src/sqlite/sample.ts';
import { runSync, type SyncOptions } from '../src/sync/engine.ts';
import { verify } from '../src/sync/verify.ts';

export interface Tenant {
  name: string;
  url: string;
  /** The owui-sync connection (postgres.js through owui-sync's own connect). */
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
export async function setupTenant(opts: { name?: string; style?: SchemaStyle; journal?: JournalMode; seed?: SeedOptions; reconcileEvery?: number } = {}): Promise<Tenant> {
  const { url, sql: check } = await freshDatabase();
  const dir = tmpDir();
  const sqlitePath = path.join(dir, 'webui.db');
  const db = createTenantDb(sqlitePath, { style: opts.style, journal: opts.journal });
  const seeded = seedTenant(db, { style: opts.style, ...opts.seed });
  await provision(url);
  const name = opts.name ?? 'acme';
  await clientAdd({ name, sqlitePath, adminUrl: url, reconcileEvery: opts.reconcileEvery });
  const sql = await openPg(url, 'test');
  afterAll(async () => {
    db.close();
    await sql.end({ timeout: 5 });
  });
  return {
    name,
    url,
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
  if (!pid) return;
  tracked.push(pid);
  if (tracked.length === 1) {
    afterAll(() => {
      for (const p of tracked.splice(0)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
  }
}
const tracked: number[] = [];
