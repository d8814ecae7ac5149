import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAdd } from '../src/ops/clients.ts';
import { openPg, type Sql } from '../src/pg/connect.ts';
import { getDeployment } from '../src/pg/deployments.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { runSync } from '../src/sync/engine.ts';
import { spawnModule, waitForLine } from '../src/util/child.ts';
import { BIN, freshDatabase, provisionHost, runMain, tmpDir, trackChild } from './helpers.ts';

type Host = Awaited<ReturnType<typeof provisionHost>>;

/** Expect a statement to be refused with an SQLSTATE. */
async function refused(p: Promise<unknown>, code = '42501') {
  await expect(p).rejects.toMatchObject({ code });
}

describe('restricted host roles and row level security', () => {
  let admin: postgres.Sql;
  let adminUrl: string;
  let a: Host;
  let b: Host;
  let asA: postgres.Sql;
  let syncA: Sql;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const fresh = await freshDatabase();
    admin = fresh.sql;
    adminUrl = fresh.url;
    const dir = tmpDir();
    a = await provisionHost(adminUrl, fresh.name, fresh.roles, dir, '-a');
    b = await provisionHost(adminUrl, fresh.name, fresh.roles, dir, '-b');
    for (const [client, host] of [
      ['client-a', a],
      ['client-b', b],
    ] as const) {
      const file = path.join(dir, `${client}.db`);
      const db = createTenantDb(file);
      seedTenant(db, { users: 1, chatsPerUser: 3 });
      db.close();
      await clientAdd({ name: client, sqlitePath: file, adminUrl, host: host.host });
      const s = await openPg(host.url, 'test');
      const r = await runSync(s, await getDeployment(s, client));
      expect(r.status).toBe('success');
      await s.end();
    }
    for (const r of await admin<
      { hostname: string; host_id: string }[]
    >`select hostname, host_id from sync_metadata.hosts`)
      ids[r.hostname] = r.host_id;
    asA = postgres(a.url, { max: 1, onnotice: () => {} });
    syncA = await openPg(a.url, 'test');
  });
  afterAll(async () => {
    await asA?.end({ timeout: 5 });
    await syncA?.end({ timeout: 5 });
  });

  it('logs in as the host role over TCP with its password, and is a member of sync_service only', async () => {
    const [r] =
      await asA`select current_user as u, session_user as s, inet_server_addr() is not null as tcp, pg_has_role('sync_service', 'member') as member, rolsuper as su from pg_roles where rolname = current_user`;
    expect(r).toEqual({ u: a.role, s: a.role, tcp: true, member: true, su: false });
  });

  it('refuses DELETE, TRUNCATE, DROP, CREATE and ALTER', async () => {
    await refused(asA`delete from sync_metadata.hosts`);
    await refused(asA`delete from sync_metadata.sync_jobs`);
    await refused(asA.unsafe('delete from "client-a".chat'));
    await refused(asA.unsafe('truncate "client-a".chat'));
    await refused(asA.unsafe('truncate sync_metadata.conflict_log'));
    await refused(asA.unsafe('drop schema "client-a" cascade'));
    await refused(asA.unsafe('drop table "client-a".chat'));
    await refused(asA.unsafe('create table "client-a".evil (id int)'));
    await refused(asA.unsafe('create table public.evil (id int)'));
    await refused(asA.unsafe('create table sync_metadata.evil (id int)'));
    await refused(asA.unsafe('alter table "client-a".chat add column evil int'));
    await refused(asA.unsafe('alter table sync_metadata.hosts disable row level security'));
    await refused(asA.unsafe('create schema evil'));
    await refused(
      asA`insert into sync_metadata.hosts (hostname, cluster_name, role_name) values ('evil', 'evil', ${a.role})`,
    );
    await refused(asA`update sync_metadata.hosts set role_name = 'sync_service_other'`);
  });

  it("cannot read or change another host's sync_metadata rows, even after setting every app.* GUC to it", async () => {
    for (let round = 0; round < 2; round++) {
      if (round === 1) {
        await asA.unsafe(`set app.current_host_id = '${ids[b.host]}'`);
        await asA.unsafe(`set app.current_hostname = '${b.host}'`);
        await asA.unsafe(`set app.current_cluster_name = '${b.host}'`);
        await asA.unsafe(`set app.current_client_name = 'client-b'`);
        await asA.unsafe('set role sync_service');
      }
      expect((await asA`select hostname from sync_metadata.hosts`).map((r) => r.hostname)).toEqual([a.host]);
      expect((await asA`select client_name from sync_metadata.client_deployments`).map((r) => r.client_name)).toEqual([
        'client-a',
      ]);
      expect((await asA`select distinct client_name from sync_metadata.sync_jobs`).map((r) => r.client_name)).toEqual([
        'client-a',
      ]);
      expect(
        (
          await asA`select count(*)::int as n from sync_metadata.table_checkpoints t join sync_metadata.client_deployments d using (deployment_id) where d.client_name = 'client-b'`
        )[0]!.n,
      ).toBe(0);
      expect((await asA`select hostname from sync_metadata.v_cluster_health`).map((r) => r.hostname)).toEqual([a.host]);
      expect(
        (await asA`update sync_metadata.client_deployments set sync_interval = 1 where client_name = 'client-b'`).count,
      ).toBe(0);
      expect(
        (await asA`update sync_metadata.hosts set status = 'maintenance' where host_id = ${ids[b.host]!}`).count,
      ).toBe(0);
      expect(
        (await asA`update sync_metadata.sync_jobs set status = 'cancelled' where client_name = 'client-b'`).count,
      ).toBe(0);
      const [dep] =
        await admin`select deployment_id from sync_metadata.client_deployments where client_name = 'client-b'`;
      await refused(
        asA`insert into sync_metadata.sync_jobs (deployment_id, client_name, status) values (${dep!.deployment_id}, 'client-b', 'running')`,
      );
      await refused(
        asA`update sync_metadata.client_deployments set host_id = ${ids[b.host]!} where client_name = 'client-a'`,
      );
    }
    await asA.unsafe('reset role');
    const [bRow] =
      await admin`select sync_interval from sync_metadata.client_deployments where client_name = 'client-b'`;
    expect(bRow!.sync_interval).toBe(300);
  });

  it("cannot touch another host's client schema", async () => {
    await refused(asA.unsafe('select * from "client-b".chat'));
    await refused(asA.unsafe(`update "client-b".chat set title = 'x'`));
    await refused(asA.unsafe(`insert into "client-b".tag (id, user_id, _sync_hash) values ('x', 'y', 'z')`));
    await expect(getDeployment(syncA, 'client-b')).rejects.toThrow(/not registered/);
  });

  it('may run a full sync and call the purge functions, which delete only its own old history', async () => {
    const r = await runSync(syncA, await getDeployment(syncA, 'client-a'), { full: true });
    expect(r.status).toBe('success');
    // Old history for both hosts, made by the admin.
    for (const c of ['client-a', 'client-b']) {
      await admin`
        insert into sync_metadata.sync_jobs (deployment_id, client_name, status, started_at, completed_at)
        select deployment_id, client_name, 'success', now() - interval '40 days', now() - interval '40 days' from sync_metadata.client_deployments where client_name = ${c}`;
      await admin`
        insert into sync_metadata.conflict_log (deployment_id, client_name, table_name, record_id, conflict_type, detected_at)
        select deployment_id, client_name, 'chat', 'x', 'update_conflict', now() - interval '40 days' from sync_metadata.client_deployments where client_name = ${c}`;
    }
    const [p1] = await asA`select sync_metadata.purge_conflict_log(30) as n`;
    const [p2] = await asA`select sync_metadata.purge_job_history(30) as n`;
    expect([Number(p1!.n), Number(p2!.n)]).toEqual([1, 1]);
    const left =
      await admin`select client_name, count(*)::int as n from sync_metadata.conflict_log group by 1 order by 1`;
    expect(left).toEqual([{ client_name: 'client-b', n: 1 }]);
    const oldJobs =
      await admin`select client_name from sync_metadata.sync_jobs where started_at < now() - interval '30 days'`;
    expect(oldJobs.map((j) => j.client_name)).toEqual(['client-b']);
    // The functions are the only way: no DELETE, and a retention under a day is raised to one day.
    const [p3] = await asA`select sync_metadata.purge_job_history(0) as n`;
    expect(Number(p3!.n)).toBe(0);
    expect(
      (await admin`select count(*)::int as n from sync_metadata.sync_jobs where client_name = 'client-a'`)[0]!.n,
    ).toBeGreaterThan(0);
  });

  it('rotates a password: the old one stops working, the new one is in the file', async () => {
    const before = fs.readFileSync(a.secretFile, 'utf8').trim();
    const r = await runMain(['provision', '--host', a.host, '--rotate', '--secret-file', a.secretFile, '--json'], {
      OWUI_SYNC_ADMIN_URL: adminUrl,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).host.password).toBe('rotated');
    const after = fs.readFileSync(a.secretFile, 'utf8').trim();
    expect(after).not.toBe(before);
    expect(r.stdout + r.stderr).not.toContain(after);
    const old = postgres(a.url, { max: 1, onnotice: () => {} });
    await refused(old`select 1`, '28P01');
    await old.end();
    const ok = await runMain(['status', '--json'], a.env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).map((s: { client: string }) => s.client)).toEqual(['client-a']);
    a = { ...a, url: a.url.replace(encodeURIComponent(before), encodeURIComponent(after)) };
  });

  it('keeps secrets out of error messages, argv and the environment of child processes', async () => {
    const real = fs.readFileSync(a.secretFile, 'utf8').trim();
    const wrongFile = path.join(tmpDir(), 'wrong');
    fs.writeFileSync(wrongFile, 'Wr0ngPassw0rdValue\n', { mode: 0o600 });
    const wrong = await runMain(['sync', 'client-a'], { ...a.env, OWUI_SYNC_DATABASE_PASSWORD_FILE: wrongFile });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('PostgreSQL refused the login');
    expect(wrong.stderr + wrong.stdout).not.toContain('Wr0ngPassw0rdValue');
    const refusedConn = await runMain(['sync', 'client-a'], {
      ...a.env,
      OWUI_SYNC_DATABASE_URL: a.env.OWUI_SYNC_DATABASE_URL.replace(/:\d+\//, ':1/'),
    });
    expect(refusedConn.code).toBe(1);
    expect(refusedConn.stderr).toContain('connection refused');
    expect(refusedConn.stderr + refusedConn.stdout).not.toContain(real);
    // A child process (the writer the demo starts) gets neither the password nor a URL with one.
    process.env.OWUI_SYNC_DATABASE_URL = a.url;
    process.env.OWUI_SYNC_ADMIN_URL = adminUrl;
    try {
      const c = spawnModule(new URL('./fixtures/print-env.ts', import.meta.url), []);
      trackChild(c.pid);
      const line = await waitForLine(c, (l) => l.startsWith('{'));
      expect(line).not.toContain(real);
      expect(line).not.toContain(new URL(adminUrl).password);
      expect(JSON.parse(line).env.OWUI_SYNC_DATABASE_URL).toBeUndefined();
    } finally {
      delete process.env.OWUI_SYNC_DATABASE_URL;
      delete process.env.OWUI_SYNC_ADMIN_URL;
    }
  });

  it('removes one host without touching the other', async () => {
    const held = postgres(b.url, { max: 1, onnotice: () => {} });
    await held`select 1`;
    const r = await runMain(['host', 'remove', b.host, '--json'], { OWUI_SYNC_ADMIN_URL: adminUrl });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ host: b.host, role_dropped: true, orphaned_clients: ['client-b'] });
    expect(JSON.parse(r.stdout).sessions_ended).toBeGreaterThanOrEqual(1);
    await expect(held`select 1`).rejects.toBeDefined();
    await held.end({ timeout: 1 }).catch(() => {});
    const gone = postgres(b.url, { max: 1, onnotice: () => {} });
    await expect(gone`select 1`).rejects.toMatchObject({ code: '28P01' });
    await gone.end();
    const [row] = await admin`select status, role_name from sync_metadata.hosts where hostname = ${b.host}`;
    expect(row).toEqual({ status: 'offline', role_name: null });
    expect((await admin`select count(*)::int as n from "client-b".chat`)[0]!.n).toBeGreaterThan(0);
    const still = await runSync(syncA, await getDeployment(syncA, 'client-a'), { full: true });
    expect(still.status).toBe('success');
  });

  it('removes a client only with a confirmation, and drops its schema when asked', async () => {
    const noTty = await runMain(['client', 'remove', 'client-b'], { OWUI_SYNC_ADMIN_URL: adminUrl });
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain('pass --yes');
    const r = await runMain(['client', 'remove', 'client-b', '--drop-schema', '--yes', '--json'], {
      OWUI_SYNC_ADMIN_URL: adminUrl,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ client: 'client-b', removed: true, schema_dropped: true });
    expect((await admin`select count(*)::int as n from pg_namespace where nspname = 'client-b'`)[0]!.n).toBe(0);
    expect(
      (await admin`select count(*)::int as n from sync_metadata.client_deployments where client_name = 'client-a'`)[0]!
        .n,
    ).toBe(1);
  });
});

describe('client remove at a terminal', () => {
  // A real pseudo-terminal (util-linux script) so the command asks, as it does for an operator over SSH.
  const atTerminal = (args: string[], typed: string, env: Record<string, string>) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const cmd = ['node', BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
      const c = spawn('script', ['-qfec', cmd, '/dev/null'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      trackChild(c.pid);
      let out = '';
      c.stdout.on('data', (d) => {
        out += d;
        // The prompt wraps at the terminal's width: wait for its end, then type and press Enter (CR, as a terminal sends it).
        if (/DELETE\s+to\s+confirm:/.test(out.replace(/\r/g, '')) && !c.stdin.writableEnded) c.stdin.end(`${typed}\r`);
      });
      c.stderr.on('data', (d) => (out += d));
      c.on('exit', (code) => resolve({ code, out }));
    });

  it('removes nothing unless DELETE is typed, and removes the client when it is', async () => {
    const fresh = await freshDatabase();
    const dir = tmpDir();
    const h = await provisionHost(fresh.url, fresh.name, fresh.roles, dir);
    const file = path.join(dir, 'c.db');
    const db = createTenantDb(file);
    db.close();
    await clientAdd({ name: 'typed', sqlitePath: file, adminUrl: fresh.url, host: h.host });
    const env = { OWUI_SYNC_ADMIN_URL: fresh.url };
    const no = await atTerminal(['client', 'remove', 'typed'], 'delete', env);
    expect(no.code).toBe(2);
    expect(no.out).toContain('not confirmed: nothing was removed');
    expect((await fresh.sql`select count(*)::int as n from sync_metadata.client_deployments`)[0]!.n).toBe(1);
    const yes = await atTerminal(['client', 'remove', 'typed'], 'DELETE', env);
    expect(yes.code, yes.out).toBe(0);
    expect(yes.out).toContain('client typed: unregistered');
    expect((await fresh.sql`select count(*)::int as n from sync_metadata.client_deployments`)[0]!.n).toBe(0);
  });
});

describe('schema apply by another admin', () => {
  it("grants the new tables to the client's host role, whoever creates them", async () => {
    const fresh = await freshDatabase();
    const dir = tmpDir();
    const h = await provisionHost(fresh.url, fresh.name, fresh.roles, dir);
    const file = path.join(dir, 'c.db');
    const db = createTenantDb(file);
    seedTenant(db, { users: 1, chatsPerUser: 1 });
    await clientAdd({ name: 'c2', sqlitePath: file, adminUrl: fresh.url, host: h.host });
    // A second admin (not the one whose default privileges the schema has) applies a new table.
    const other = `admin2_${fresh.name}`;
    fresh.roles.push(other);
    await fresh.sql.unsafe(`CREATE ROLE ${other} LOGIN SUPERUSER PASSWORD 'x-${fresh.name}'`);
    const u = new URL(fresh.url);
    u.username = other;
    u.password = `x-${fresh.name}`;
    db.exec('CREATE TABLE chat_extra (id TEXT PRIMARY KEY, note TEXT, updated_at BIGINT)');
    db.prepare("INSERT INTO chat_extra VALUES ('e1', 'made after client add', 1767000000)").run();
    db.close();
    const r = await runMain(['schema', 'apply', 'c2'], { OWUI_SYNC_ADMIN_URL: u.toString() });
    expect(r.code, r.stderr).toBe(0);
    const s = await openPg(h.url, 'test');
    try {
      const res = await runSync(s, await getDeployment(s, 'c2'));
      expect(res.status, res.error).toBe('success');
      expect((await fresh.sql`select note from c2.chat_extra`).map((x) => x.note)).toEqual(['made after client add']);
    } finally {
      await s.end();
    }
  });
});

describe('an admin that is not a superuser (as on Supabase)', () => {
  /** A login role with none of the attributes provisioning needs, and its URL. */
  const weakAdmin = async () => {
    const { url, sql: superSql, roles } = await freshDatabase();
    const weak = `weak_admin_${Math.random().toString(36).slice(2, 8)}`;
    roles.push(weak);
    await superSql.unsafe(`CREATE ROLE ${weak} LOGIN PASSWORD 'weak-admin-pw'`);
    const u = new URL(url);
    u.username = weak;
    u.password = 'weak-admin-pw';
    return { superSql, weak, u };
  };

  it('is all provisioning needs: host remove and the rest run as the admin role of every test here', async () => {
    const { url, sql: superSql } = await freshDatabase();
    const who = new URL(url).username;
    const [r] = await superSql<{ rolsuper: boolean; rolcreaterole: boolean; rolbypassrls: boolean }[]>`
      select rolsuper, rolcreaterole, rolbypassrls from pg_roles where rolname = ${who}`;
    expect(r).toEqual({ rolsuper: false, rolcreaterole: true, rolbypassrls: true });
  });

  it('provision says, before changing anything, which of the attributes it needs the admin lacks', async () => {
    const { superSql, weak, u } = await weakAdmin();
    const r = await runMain(['provision'], { OWUI_SYNC_ADMIN_URL: u.toString() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the admin role ${weak} lacks what owui-sync needs`);
    expect(r.stderr).toContain('CREATEROLE (to create the sync_service group role');
    expect(r.stderr).toContain(`ALTER ROLE "${weak}" CREATEROLE`);
    expect(r.stderr).toContain('CREATE on database');
    expect(r.stderr).toContain('On Supabase, run admin verbs as the postgres role');
    expect(r.stderr).not.toContain('weak-admin-pw');
    const [{ n }] = await superSql<
      { n: number }[]
    >`select count(*)::int as n from pg_namespace where nspname = 'sync_metadata'`;
    expect(n).toBe(0);
  });

  it('names the privilege PostgreSQL refused and how to get it on Supabase and self-hosted', async () => {
    const { weak, u } = await weakAdmin();
    const conn = postgres(u.toString(), { max: 1, onnotice: () => {} });
    const refused = await conn.unsafe('CREATE ROLE should_not_exist').catch((e: unknown) => e);
    await conn.end({ timeout: 5 });
    const { explainAdminError } = await import('../src/pg/privileges.ts');
    const e = explainAdminError(refused, weak, 'provision --host h1') as {
      message: string;
      hint: string;
      exitCode: number;
    };
    expect(e.message).toMatch(
      /^provision --host h1: PostgreSQL refused the admin role weak_admin_\w+: permission denied to create role/,
    );
    expect(e.message).toContain('it needs CREATEROLE');
    expect(e.hint).toContain('On Supabase, run admin verbs as the postgres role');
    expect(e.hint).toContain(`on a self-hosted server, as a superuser: ALTER ROLE "${weak}" CREATEROLE`);
    expect(e.exitCode).toBe(2);
  });
});
