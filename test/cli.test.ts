import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { BIN, freshDatabase, MIGRATIONS, runCli, runMain, tmpDir } from './helpers.ts';

const VERBS = [
  ['provision'],
  ['client', 'add'],
  ['client', 'remove'],
  ['host', 'remove'],
  ['sync'],
  ['verify'],
  ['schema', 'diff'],
  ['schema', 'apply'],
  ['status'],
  ['interval'],
  ['pause'],
  ['resume'],
  ['cluster', 'status'],
  ['failover-test'],
  ['menu'],
  ['image', 'build'],
  ['deploy'],
  ['undeploy'],
  ['nodes'],
  ['nodes', 'logs'],
  ['nodes', 'restart'],
  ['nodes', 'stop'],
  ['discover'],
  ['config', 'show'],
  ['conflicts', 'config'],
  ['conflicts', 'list'],
  ['conflicts', 'show'],
  ['conflicts', 'resolve'],
  ['demo'],
];

describe('the command line', () => {
  it('has accurate --help for every verb and a --version', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const v of [
      'provision',
      'client',
      'host',
      'sync',
      'verify',
      'schema',
      'status',
      'interval',
      'pause',
      'resume',
      'conflicts',
      'demo',
      'menu',
      'failover-test',
      'deploy',
      'discover',
    ])
      expect(top.stdout).toContain(v);
    expect(top.stdout).toContain('Exit codes');
    for (const verb of VERBS) {
      const r = await runCli([...verb, '--help']);
      expect(r.code, verb.join(' ')).toBe(0);
      expect(r.stdout).toContain(`Usage: owui-sync ${verb.join(' ')}`);
    }
    const v = await runCli(['--version']);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('prints the usage on stderr and exits 2 when no verb is given', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Usage: owui-sync [options] [command]');
  });

  it('exits 2 on an unknown flag or a missing argument, without a stack trace', async () => {
    const r = await runCli(['sync', 'acme', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--no-such-flag'");
    const m = await runCli(['sync']);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain("missing required argument 'name'");
    const b = await runCli(['sync', 'acme', '--batch-size', '5000'], {
      OWUI_SYNC_DATABASE_URL: 'postgresql://x@127.0.0.1:1/x',
    });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--batch-size must be a whole number from 1 to 1000');
    // A value a subcommand would ask for on a terminal: without one, exit 2 and the flag to pass.
    const a = await runCli(['client', 'add', 'acme'], { OWUI_SYNC_ADMIN_URL: 'postgresql://x@127.0.0.1:1/x' });
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('error: missing --sqlite PATH');
    expect(a.stderr).toContain('hint: pass --sqlite PATH (without a terminal nothing can be asked)');
    // The menu needs a terminal.
    const menu = await runCli(['menu'], { OWUI_SYNC_DATABASE_URL: 'postgresql://x@127.0.0.1:1/x' });
    expect(menu.code).toBe(2);
    expect(menu.stderr).toContain('the menu needs a terminal');
    for (const x of [r, m, b, a, menu]) expect(x.stderr).not.toMatch(/\n\s+at /);
  });

  it('ends quietly when its reader goes away (owui-sync --help | head -1)', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(
      'bash',
      ['--norc', '--noprofile', '-o', 'pipefail', '-c', `"${process.execPath}" "${BIN}" --help | head -1`],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, NO_COLOR: '1' },
      },
    );
    expect(r.stdout).toBe('Usage: owui-sync [options] [command]\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('says which connection is missing and how to give it', async () => {
    const r = await runMain(['sync', 'acme']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: no database connection given');
    expect(r.stderr).toContain(
      'hint: pass --database-url, or set OWUI_SYNC_DATABASE_URL or OWUI_SYNC_DATABASE_URL_FILE',
    );
  });

  it('reports a refused connection clearly, with the password redacted', async () => {
    const r = await runMain(['status'], {
      OWUI_SYNC_DATABASE_URL: 'postgresql://sync:s3cretPassw0rd@127.0.0.1:1/postgres',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('connection refused');
    expect(r.stderr).toContain('postgresql://sync:***@127.0.0.1:1/postgres');
    expect(r.stderr + r.stdout).not.toContain('s3cretPassw0rd');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a URL that is not PostgreSQL and the transaction pooler port, with the reason', async () => {
    const a = await runMain(['status'], { OWUI_SYNC_DATABASE_URL: 'mysql://u:pw@host/db' });
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('is not a PostgreSQL URL');
    const b = await runMain(['status'], {
      OWUI_SYNC_DATABASE_URL: 'postgresql://u.ref:topsecret@aws-1-us-east-2.pooler.supabase.com:6543/postgres',
    });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("Supabase's transaction pooler");
    expect(b.stderr).toContain('session pooler on port 5432');
    expect(b.stderr).not.toContain('topsecret');
  });

  it('reads the URL from OWUI_SYNC_DATABASE_URL_FILE and says so when the file is missing', async () => {
    const r = await runMain(['status'], { OWUI_SYNC_DATABASE_URL_FILE: '/nonexistent/secret' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read OWUI_SYNC_DATABASE_URL_FILE (/nonexistent/secret): ENOENT');
  });

  it('warns that a password on the command line is visible in the process list', async () => {
    const r = await runMain(['status', '--database-url', 'postgresql://u:pw12345@127.0.0.1:1/x']);
    expect(r.stderr).toContain('visible to other users in the process list');
    expect(r.stderr).not.toContain('pw12345');
  });
});

describe('the command line against a database', () => {
  let url: string;
  let check: Awaited<ReturnType<typeof freshDatabase>>['sql'];
  let dbName: string;
  let roles: string[];
  let dir: string;
  let good: string;
  let host: string;
  let secretFile: string;
  let hostUrl: string;
  // The runtime commands log in as the host role over TCP: URL without password, password from its file.
  const env = () => ({
    OWUI_SYNC_DATABASE_URL: hostUrl,
    OWUI_SYNC_DATABASE_PASSWORD_FILE: secretFile,
    OWUI_SYNC_ADMIN_URL: url,
  });
  const jobs = async () => (await check`select count(*)::int as n from sync_metadata.sync_jobs`)[0]!.n;

  beforeAll(async () => {
    ({ url, sql: check, name: dbName, roles } = await freshDatabase());
    dir = tmpDir();
    host = `h-${dbName.slice(2)}`;
    secretFile = path.join(dir, 'db_sync_password');
    roles.push(`sync_service_${host}`);
    const u = new URL(url);
    u.username = `sync_service_${host}`;
    u.password = '';
    hostUrl = u.toString();
    good = path.join(dir, 'webui.db');
    const db = createTenantDb(good);
    seedTenant(db, { users: 2, chatsPerUser: 3, adversarial: true });
    db.close();
  });

  it('provisions idempotently, and says so the second time', async () => {
    const a = await runMain(['provision', '--json'], env());
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({
      applied: MIGRATIONS,
      schema_version: 12,
    });
    const b = await runMain(['provision', '--host', host, '--secret-file', secretFile, '--json'], env());
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({
      applied: [],
      host: {
        name: host,
        role: `sync_service_${host}`,
        password: 'created',
        secret: { kind: 'file', path: secretFile },
      },
    });
    expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600);
    const c = await runMain(['provision', '--host', host], env());
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('already up to date');
    expect(c.stdout).toContain('password unchanged');
  });

  it('refuses reserved and invalid client names', async () => {
    for (const name of [
      'public',
      'auth',
      'pg_temp1',
      'supabase_functions',
      'graphql_public',
      'sync_metadata',
      'Acme',
      'a b',
      '_x',
      'x'.repeat(64),
    ]) {
      const r = await runMain(['client', 'add', name, '--sqlite', good], env());
      expect(r.code, name).toBe(2);
      expect(r.stderr).toMatch(/reserved|invalid client name|longer than 63/);
    }
    const [s] = await check`select count(*)::int as n from pg_namespace where nspname in ('Acme', 'a b')`;
    expect(s!.n).toBe(0);
  });

  it('rejects a missing file, a corrupt file and a file that is not Open WebUI, writing nothing', async () => {
    const corrupt = path.join(dir, 'corrupt.db');
    fs.writeFileSync(corrupt, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4096, 0xab)]));
    const garbage = path.join(dir, 'notes.txt');
    fs.writeFileSync(garbage, 'hello, this is not a database\n');
    const other = path.join(dir, 'other.db');
    const o = new Database(other);
    o.exec('CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)');
    o.close();
    const cases: [string, RegExp][] = [
      [path.join(dir, 'missing.db'), /SQLite file not found/],
      [corrupt, /cannot read .* as SQLite/],
      [garbage, /is not a SQLite database/],
      [other, /does not look like an Open WebUI database/],
    ];
    for (const [file, msg] of cases) {
      const r = await runMain(['client', 'add', 'bad', '--sqlite', file], env());
      expect(r.code, file).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).toContain('hint:');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const [s] = await check`select count(*)::int as n from pg_namespace where nspname = 'bad'`;
    expect(s!.n).toBe(0);
    const [d] = await check`select count(*)::int as n from sync_metadata.client_deployments where client_name = 'bad'`;
    expect(d!.n).toBe(0);
  });

  it('registers a client, syncs it, verifies it, and reports status as JSON', async () => {
    const add = await runMain(
      ['client', 'add', 'cli-tenant', '--sqlite', good, '--interval', '1h', '--host', host, '--json'],
      env(),
    );
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({
      client: 'cli-tenant',
      created: true,
      tables_created: 43,
      sync_interval: 3600,
      role: `sync_service_${host}`,
    });
    // Registering again changes only what is passed: the interval stays 1h.
    const again0 = await runMain(['client', 'add', 'cli-tenant', '--sqlite', good, '--host', host, '--json'], env());
    expect(JSON.parse(again0.stdout)).toMatchObject({ created: false, sync_interval: 3600 });
    const bad = await runMain(['client', 'add', 'cli-tenant', '--sqlite', good, '--reconcile-every', '0'], env());
    expect(bad.code).toBe(2);
    const sync = await runMain(['sync', 'cli-tenant', '--json'], env());
    expect(sync.code).toBe(0);
    const res = JSON.parse(sync.stdout);
    expect(res).toMatchObject({ client: 'cli-tenant', kind: 'full', status: 'success' });
    expect(res.totals.inserted).toBeGreaterThan(20);
    const again = await runMain(['sync', 'cli-tenant'], env());
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('no change since the last sync');
    const v = await runMain(['verify', 'cli-tenant', '--json'], env());
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ identical: true, differences_total: 0 });
    const st = await runMain(['status', '--json'], env());
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)[0]).toMatchObject({
      client: 'cli-tenant',
      last_sync_status: 'success',
      sync_interval: 3600,
    });
  });

  it('exits 4 from verify when the mirror differs, and lists the difference', async () => {
    const [{ id: inPg }, { id: inSqlite }] =
      (await check`select id from "cli-tenant".chat order by id limit 2`) as unknown as [
        { id: string },
        { id: string },
      ];
    // Changed in PostgreSQL by someone else: verify sees it (resolving it is conflict handling).
    await check`update "cli-tenant".chat set title = 'edited in PostgreSQL' where id = ${inPg}`;
    const v = await runMain(['verify', 'cli-tenant'], env());
    expect(v.code).toBe(4);
    expect(v.stdout).toMatch(/chat\s+different\s+\[".+"\]\s+title/);
    expect(v.stdout).toContain('hint: run owui-sync sync cli-tenant --full');
    // Changed in SQLite without an updated_at bump: verify sees it, and a full sync repairs it.
    const db = new Database(good);
    db.prepare("UPDATE chat SET title = 'retitled in Open WebUI' WHERE id = ?").run(inSqlite);
    db.close();
    const v2 = await runMain(['verify', 'cli-tenant', '--json'], env());
    expect(v2.code).toBe(4);
    expect(JSON.parse(v2.stdout).differences).toEqual(
      [
        { table: 'chat', kind: 'different', key: [inPg], columns: ['title'] },
        { table: 'chat', kind: 'different', key: [inSqlite], columns: ['title'] },
      ].sort((a, b) => (a.key[0]! < b.key[0]! ? -1 : 1)),
    );
    const fix = await runMain(['sync', 'cli-tenant', '--full'], env());
    expect(fix.code).toBe(0);
    const v3 = await runMain(['verify', 'cli-tenant', '--json'], env());
    expect(JSON.parse(v3.stdout).differences).toEqual([
      { table: 'chat', kind: 'different', key: [inPg], columns: ['title'] },
    ]);
    // The edit in PostgreSQL is no conflict until SQLite changes that row too; put it back as it was.
    const src = new Database(good, { readonly: true });
    const title = (src.prepare('SELECT title FROM chat WHERE id = ?').get(inPg) as { title: string }).title;
    src.close();
    await check.begin(async (tx) => {
      await tx`select set_config('owui_sync.writer', 'sync', true)`;
      await tx`update "cli-tenant".chat set title = ${title}, _target_changed_at = null where id = ${inPg}`;
    });
    expect((await runMain(['verify', 'cli-tenant'], env())).code).toBe(0);
  });

  it('stops on schema drift before writing anything, and names the command to run', async () => {
    const db = new Database(good);
    db.exec(
      'ALTER TABLE chat ADD COLUMN timer_at BIGINT; CREATE TABLE chat_message_fts_meta (id TEXT PRIMARY KEY, note TEXT)',
    );
    db.prepare('UPDATE chat SET timer_at = 1767000000, updated_at = updated_at + 1000').run();
    db.close();
    const before = await jobs();
    const r = await runMain(['sync', 'cli-tenant'], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('schema drift');
    expect(r.stderr).toContain('column chat.timer_at');
    expect(r.stderr).toContain('table chat_message_fts_meta');
    expect(r.stderr).toContain('owui-sync schema apply cli-tenant');
    expect(await jobs()).toBe(before);
    const diff = await runMain(['schema', 'diff', 'cli-tenant', '--json'], env());
    expect(diff.code).toBe(4);
    expect(JSON.parse(diff.stdout).diff.missingColumns).toEqual([
      { table: 'chat', column: 'timer_at', type: 'bigint' },
    ]);
    const apply = await runMain(['schema', 'apply', 'cli-tenant'], env());
    expect(apply.code).toBe(0);
    // The new table, its change-marking trigger and partial index, and the new column.
    expect(apply.stdout).toContain('applied 4 changes');
    const sync = await runMain(['sync', 'cli-tenant'], env());
    expect(sync.code).toBe(0);
    const [row] = await check`select count(*)::int as n from "cli-tenant".chat where timer_at = 1767000000`;
    expect(row!.n).toBeGreaterThan(0);
    expect((await runMain(['schema', 'diff', 'cli-tenant'], env())).code).toBe(0);
  });

  it('exits 3 when PostgreSQL refuses a row, sets it aside with the reason, and stores it once allowed', async () => {
    // A constraint a DBA added to the mirror: the row passes every type check but PostgreSQL refuses it.
    await check.unsafe(
      `ALTER TABLE "cli-tenant".memory ADD CONSTRAINT no_forbidden CHECK (content NOT LIKE '%forbidden%')`,
    );
    const db = new Database(good);
    db.prepare(
      "INSERT INTO memory (id, user_id, content, updated_at, created_at) VALUES ('m-forbidden', 'u', 'a forbidden memory', ?, ?)",
    ).run(1767000500, 1767000500);
    db.prepare(
      "INSERT INTO memory (id, user_id, content, updated_at, created_at) VALUES ('m-fine', 'u', 'a fine memory', ?, ?)",
    ).run(1767000500, 1767000500);
    db.close();
    const r = await runMain(['sync', 'cli-tenant', '--json'], env());
    expect(r.code).toBe(3);
    const res = JSON.parse(r.stdout);
    expect(res.rejected_pending).toBe(1);
    const [rej] =
      await check`select table_name, record_id, reason, row_data->>'content' as content from sync_metadata.rejected_rows`;
    expect(rej).toMatchObject({ table_name: 'memory', record_id: ['m-forbidden'], content: 'a forbidden memory' });
    expect(rej!.reason).toContain('no_forbidden');
    const [fine] = await check`select count(*)::int as n from "cli-tenant".memory where id = 'm-fine'`;
    expect(fine!.n).toBe(1);
    const st = await runMain(['status', 'cli-tenant', '--json'], env());
    expect(JSON.parse(st.stdout)[0].rejected_pending).toBe(1);
    // Set-aside rows are retried first on every run, even when nothing else changed.
    const still = await runMain(['sync', 'cli-tenant'], env());
    expect(still.code).toBe(3);
    expect((await check`select attempts from sync_metadata.rejected_rows`)[0]!.attempts).toBeGreaterThanOrEqual(2);
    await check.unsafe(`ALTER TABLE "cli-tenant".memory DROP CONSTRAINT no_forbidden`);
    const again = await runMain(['sync', 'cli-tenant'], env());
    expect(again.code).toBe(0);
    expect((await check`select resolved_at is not null as done from sync_metadata.rejected_rows`)[0]!.done).toBe(true);
    const [stored] = await check`select count(*)::int as n from "cli-tenant".memory where id = 'm-forbidden'`;
    expect(stored!.n).toBe(1);
  });
});
