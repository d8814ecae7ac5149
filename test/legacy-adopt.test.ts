import fs from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { retry } from '../src/util/retry.ts';
import { freshDatabase, MIGRATIONS, onCleanup, runMain, tmpDir } from './helpers.ts';

describe("adopting the legacy toolkit's sync_metadata", () => {
  it('upgrades it in place, keeps every row, says what changed, and syncs its client as a host role', async () => {
    const { url, name: dbName, roles } = await freshDatabase();
    // The legacy toolkit ran as the project's admin role (Supabase's postgres: not a superuser), so its schema
    // and its shared sync_service role are made here by that role too.
    const admin = postgres(url, { max: 2, onnotice: () => {} });
    onCleanup(() => admin.end({ timeout: 5 }));
    // The shared sync_service role may be altered by another test file's provision at the same moment.
    const legacySql = fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'legacy-sync-metadata.sql'), 'utf8');
    await retry(() => admin.begin((tx) => tx.unsafe(legacySql)), {
      isTransient: (e) => /tuple concurrently/.test(String(e)),
      attempts: 5,
    });
    const before: Record<string, number> = {};
    const tables = [
      'hosts',
      'client_deployments',
      'leader_election',
      'conflict_log',
      'cache_events',
      'sync_jobs',
      'sync_progress',
    ];
    for (const t of tables) before[t] = (await admin.unsafe(`select count(*)::int as n from sync_metadata.${t}`))[0]!.n;

    const r = await runMain(['provision', '--json'], { OWUI_SYNC_ADMIN_URL: url });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.adoptedLegacy).toBe(true);
    expect(out.applied).toEqual(MIGRATIONS);
    for (const t of tables) expect(out.changes).toContain(`kept all ${before[t]} rows of ${t}`);
    expect(out.changes.join('\n')).toMatch(/replaced policies .*hosts\.sync_host_isolation/);
    // (That sync_service can no longer log in is checked below on the database itself: the role is shared
    // by the whole server, and other test files provisioning in parallel may switch it first.)
    expect(out.changes.join('\n')).toMatch(/added columns .*client_deployments\.reconcile_every/);
    expect(out.changes).toContain('added table_checkpoints');

    for (const t of tables)
      expect((await admin.unsafe(`select count(*)::int as n from sync_metadata.${t}`))[0]!.n, t).toBe(before[t]);
    const [job] =
      await admin`select triggered_by, rows_synced::int from sync_metadata.sync_jobs where job_id = '44444444-4444-4444-4444-444444444444'`;
    expect(job).toEqual({ triggered_by: 'scheduler', rows_synced: 1000 });
    const [role] = await admin`select rolcanlogin from pg_roles where rolname = 'sync_service'`;
    expect(role!.rolcanlogin).toBe(false);
    const policies =
      await admin`select policyname from pg_policies where schemaname = 'sync_metadata' and qual like '%current_setting%'`;
    expect(policies).toEqual([]);
    expect(
      (
        await admin`select count(*)::int as n from information_schema.views where table_schema = 'sync_metadata' and table_name = 'v_last_completed_sync_jobs'`
      )[0]!.n,
    ).toBe(1);

    // The operator moves the legacy client to a host role and points it at the real file.
    const dir = tmpDir();
    const file = path.join(dir, 'webui.db');
    const db = createTenantDb(file);
    seedTenant(db, { users: 1, chatsPerUser: 3 });
    db.close();
    const host = `h-${dbName.slice(2)}`;
    roles.push(`sync_service_${host}`);
    const secret = path.join(dir, 'pw');
    expect(
      (await runMain(['provision', '--host', host, '--secret-file', secret], { OWUI_SYNC_ADMIN_URL: url })).code,
    ).toBe(0);
    const add = await runMain(['client', 'add', 'chat-test', '--sqlite', file, '--host', host, '--json'], {
      OWUI_SYNC_ADMIN_URL: url,
    });
    expect(add.code, add.stderr).toBe(0);
    // 5 columns newer than the legacy schema-init's chat table, plus the 6 sync columns.
    expect(JSON.parse(add.stdout)).toMatchObject({
      created: false,
      tables_created: 42,
      columns_added: 11,
      role: `sync_service_${host}`,
    });
    const grants =
      await admin`select grantee from information_schema.role_table_grants where table_schema = 'chat-test' and table_name = 'chat' and privilege_type = 'SELECT' order by 1`;
    expect(grants.map((g) => g.grantee)).not.toContain('sync_service');
    const u = new URL(url);
    u.username = `sync_service_${host}`;
    u.password = '';
    const env = { OWUI_SYNC_DATABASE_URL: u.toString(), OWUI_SYNC_DATABASE_PASSWORD_FILE: secret };
    const sync = await runMain(['sync', 'chat-test', '--json'], env);
    // Synced; exit 3 because the legacy log holds one conflict nobody resolved, which is kept for review.
    expect(sync.code, sync.stderr).toBe(3);
    expect(JSON.parse(sync.stdout)).toMatchObject({ status: 'success', conflicts_pending: 1 });
    // The row the legacy script copied is not in the SQLite file: a tombstone, never a DELETE.
    const [legacy] = await admin`select _deleted_at is not null as dead from "chat-test".chat where id = 'legacy-chat'`;
    expect(legacy!.dead).toBe(true);
    expect((await runMain(['verify', 'chat-test'], env)).code).toBe(0);
  });
});
