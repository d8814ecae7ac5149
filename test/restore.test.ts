import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { restore } from '../src/ops/restore.ts';
import { introspect } from '../src/sqlite/introspect.ts';
import { addChat, createTenantDb, hardDeleteChat, rng } from '../src/sqlite/sample.ts';
import { onCleanup, runCli, runMain, setupTenant, type Tenant, tmpDir, trackChild } from './helpers.ts';

// Restore (docs/restore.md): the mirror written back into a new webui.db, compared with the source table by
// table: every row with its exact storage class and bytes, and every sqlite_master entry with its DDL.

/** Every row of every table as `typeof:hex` per column, sorted: equal sets mean equal tables, byte for byte. */
function contents(file: string): Map<string, string[]> {
  const db = new Database(file, { readonly: true });
  try {
    const out = new Map<string, string[]>();
    for (const t of introspect(db).tables) {
      const cols = t.columns
        .map((c) => `typeof("${c.name}") || ':' || coalesce(hex("${c.name}"), '')`)
        .join(` || '|' || `);
      const rows = db.prepare(`SELECT ${cols} AS r FROM "${t.name}"`).pluck().all() as string[];
      out.set(t.name, rows.sort());
    }
    return out;
  } finally {
    db.close();
  }
}

/** The schema as SQLite keeps it (sqlite_master), user_version, journal mode and the integrity check. */
function schemaOf(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    const objects = (
      db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%'").all() as {
        type: string;
        name: string;
        tbl_name: string;
        sql: string | null;
      }[]
    )
      .map((o) => JSON.stringify(o))
      .sort();
    return {
      objects,
      user_version: db.pragma('user_version', { simple: true }),
      journal: db.pragma('journal_mode', { simple: true }),
      integrity: db.pragma('integrity_check', { simple: true }),
    };
  } finally {
    db.close();
  }
}

/** Values a mirror must carry exactly: NUL bytes, emoji, large JSON, integers beyond 2^53, BLOBs, bad UTF-8. */
function addHardValues(t: Tenant) {
  const u = t.userIds[0]!;
  const big = { messages: Array.from({ length: 3000 }, (_, i) => ({ id: `m${i}`, content: `x${'é'.repeat(100)}🙂` })) };
  const now = Math.floor(Date.now() / 1000);
  const ins = t.db.prepare(
    'INSERT INTO chat (id, user_id, title, chat, created_at, updated_at, share_id, archived, pinned, meta, folder_id) VALUES (?, ?, ?, ?, ?, ?, NULL, 0, 0, ?, NULL)',
  );
  ins.run('hard-nul', u, 'a\0b 🙂 emoji', JSON.stringify(big), now, now, '{}');
  ins.run('hard-big', u, 'big ints', '{}', 9007199254740993n, 9223372036854775807n, '{"n": 12345678901234567890}');
  ins.run('hard-blob', u, Buffer.from([0, 1, 2, 255]), '{}', now, now, '{}');
  t.db.prepare("UPDATE chat SET title = CAST(x'ff41fe' AS TEXT) WHERE id = ?").run(t.chatIds[0]);
  t.db.prepare('UPDATE chat SET created_at = 1.5 WHERE id = ?').run(t.chatIds[1]);
}

async function restoredMatches(t: Tenant, file: string, except: Map<string, number> = new Map()) {
  const src = contents(t.sqlitePath);
  const got = contents(file);
  expect([...got.keys()].sort()).toEqual([...src.keys()].sort());
  for (const [table, rows] of src) {
    const missing = rows.filter((r) => !got.get(table)!.includes(r));
    const extra = got.get(table)!.filter((r) => !rows.includes(r));
    expect(extra, `extra rows in ${table}`).toEqual([]);
    expect(missing.length, `rows of ${table} missing from the restored file`).toBe(except.get(table) ?? 0);
  }
  const a = schemaOf(t.sqlitePath);
  const b = schemaOf(file);
  expect(b.objects).toEqual(a.objects);
  expect(b.user_version).toBe(a.user_version);
  expect(b.journal).toBe(a.journal);
  expect(b.integrity).toBe('ok');
}

describe('restore', () => {
  it('brings back Open WebUI v0.11 (WAL) exactly, without the rows deleted after the last sync', async () => {
    const t = await setupTenant({ name: 'rest11', seed: { users: 3, chatsPerUser: 5 } });
    addHardValues(t);
    t.db.pragma('user_version = 7');
    expect((await t.sync()).status).toBe('success');
    const dir = tmpDir();
    const out = path.join(dir, 'webui.db');
    const r = await restore(t.sql, { client: 'rest11', to: out });
    expect(r.alembic_version).toBe('f0bd01a18a3d');
    expect(r.integrity).toBe('ok');
    await restoredMatches(t, out);
    // The CLI's twin compares the file with the mirror, value by value.
    const v = await runMain(['verify', 'rest11', '--against', out, '--json'], t.hostEnv);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).identical).toBe(true);

    // A chat deleted in Open WebUI after the sync is in the copy; one deleted before the sync is not.
    hardDeleteChat(t.db, t.chatIds[2]!);
    expect((await t.sync()).status).toBe('success');
    hardDeleteChat(t.db, t.chatIds[3]!);
    const out2 = path.join(dir, 'again.db');
    await restore(t.sql, { client: 'rest11', to: out2 });
    const chatRows = contents(out2).get('chat')!;
    const srcRows = contents(t.sqlitePath).get('chat')!;
    expect(chatRows.length).toBe(srcRows.length + 1);
  });

  it('brings back a legacy v0.6 tenant (rollback journal) and follows a new column added between syncs', async () => {
    const t = await setupTenant({
      name: 'rest06',
      style: 'v0.6',
      journal: 'rollback',
      seed: { users: 2, chatsPerUser: 4 },
    });
    expect((await t.sync()).status).toBe('success');
    const dir = tmpDir();
    await restore(t.sql, { client: 'rest06', to: path.join(dir, 'one.db') });
    await restoredMatches(t, path.join(dir, 'one.db'));
    // An Open WebUI upgrade adds a column and moves the revision on: the next sync records the new schema.
    t.db.exec("ALTER TABLE chat ADD COLUMN timer_at BIGINT; UPDATE alembic_version SET version_num = 'd4c1a8e37b62'");
    t.db.prepare('UPDATE chat SET timer_at = 42, updated_at = updated_at + 1 WHERE id = ?').run(t.chatIds[0]);
    addChat(t.db, rng(3), { userId: t.userIds[0]!, messages: 3 });
    // The mirror needs the new column (an operator's schema apply), then a sync.
    const apply = await runMain(['schema', 'apply', 'rest06', '--json'], { OWUI_SYNC_ADMIN_URL: t.url });
    expect(apply.code, apply.stderr).toBe(0);
    expect((await t.sync()).status).toBe('success');
    const two = path.join(dir, 'two.db');
    const r = await restore(t.sql, { client: 'rest06', to: two });
    expect(r.alembic_version).toBe('d4c1a8e37b62');
    await restoredMatches(t, two);
    const [n] = await t.check<{ n: number }[]>`
      select count(*)::int as n from sync_metadata.source_schemas s join sync_metadata.client_deployments d using (deployment_id)
      where d.client_name = 'rest06'`;
    expect(n!.n).toBe(2);
  });

  it('never overwrites without --force, keeps the old file, and checks the schema revision', async () => {
    const t = await setupTenant({ name: 'restcli' });
    expect((await t.sync()).status).toBe('success');
    const dir = tmpDir();
    const out = path.join(dir, 'webui.db');
    fs.writeFileSync(out, 'precious');
    const refused = await runMain(['restore', 'restcli', '--to', out], t.hostEnv);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/exists: restore never overwrites.*\n.*--force/);
    expect(fs.readFileSync(out, 'utf8')).toBe('precious');

    const forced = await runMain(['restore', 'restcli', '--to', out, '--force', '--json'], t.hostEnv);
    expect(forced.code, forced.stderr).toBe(0);
    const r = JSON.parse(forced.stdout);
    expect(fs.readFileSync(r.replaced, 'utf8')).toBe('precious');
    expect(r.rows).toBeGreaterThan(0);

    // --at: the mirror keeps no history, and says so.
    const at = await runMain(['restore', 'restcli', '--to', path.join(dir, 'x.db'), '--at', '2026-01-01'], t.hostEnv);
    expect(at.code).toBe(2);
    expect(at.stderr).toMatch(/no history/);
    expect(fs.existsSync(path.join(dir, 'x.db'))).toBe(false);

    // A running tenant on an older schema (it lacks a column the copy has): refused, naming it.
    const older = path.join(dir, 'older.db');
    const o = createTenantDb(older);
    o.exec("ALTER TABLE chat DROP COLUMN current_message_id; UPDATE alembic_version SET version_num = '0000000old'");
    o.close();
    const newer = await runMain(
      ['restore', 'restcli', '--to', path.join(dir, 'y.db'), '--check-against', older],
      t.hostEnv,
    );
    expect(newer.code).toBe(2);
    expect(newer.stderr).toMatch(/newer than the tenant's 0000000old.*chat\.current_message_id/);
    // The same schema passes.
    const same = await runMain(
      ['restore', 'restcli', '--to', path.join(dir, 'z.db'), '--check-against', t.sqlitePath, '--json'],
      t.hostEnv,
    );
    expect(same.code, same.stderr).toBe(0);
    expect(JSON.parse(same.stdout).check.verdict).toBe('same');
  });

  it('refuses a folder an Open WebUI process has open', async () => {
    const t = await setupTenant({ name: 'restbusy' });
    expect((await t.sync()).status).toBe('success');
    const dir = tmpDir();
    const { spawn } = await import('node:child_process');
    // A stand-in for Open WebUI: a process named like it, holding a file of the folder open.
    fs.writeFileSync(path.join(dir, 'webui.db-held'), '');
    const holder = spawn(
      'bash',
      ['-c', `exec 3<"${path.join(dir, 'webui.db-held')}"; exec -a open-webui-serve sleep 60`],
      {
        stdio: 'ignore',
      },
    );
    trackChild(holder.pid);
    onCleanup(() => holder.kill('SIGKILL'));
    // A process that only names a path with "openwebui" in it (the demo's writers do) is not Open WebUI.
    const other = spawn(
      'bash',
      ['-c', `exec 3<"${path.join(dir, 'webui.db-held')}"; exec -a /srv/openwebui/tool sleep 60 /srv/openwebui/x`],
      { stdio: 'ignore' },
    );
    trackChild(other.pid);
    onCleanup(() => other.kill('SIGKILL'));
    const deadline = Date.now() + 5000;
    const { openWebUIHolders } = await import('../src/ops/restore.ts');
    while (openWebUIHolders(dir).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const res = await runMain(['restore', 'restbusy', '--to', path.join(dir, 'webui.db')], t.hostEnv);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(new RegExp(`Open WebUI has files open in .*pid ${holder.pid}`));
    expect(res.stderr).toMatch(/stop the tenant's container first/);
    expect(res.stderr).not.toContain(`${other.pid}`);
    expect(fs.existsSync(path.join(dir, 'webui.db'))).toBe(false);
  });

  it('a restore killed half way leaves no file that looks complete, and the next one cleans up', async () => {
    const t = await setupTenant({ name: 'restkill', seed: { users: 20, chatsPerUser: 40 } });
    expect((await t.sync()).status).toBe('success');
    const dir = tmpDir();
    const out = path.join(dir, 'webui.db');
    let pid = 0;
    const leftovers = () => fs.readdirSync(dir).filter((f) => f.includes('restoring'));
    const run = runCli(['restore', 'restkill', '--to', out], t.hostEnv, {
      onSpawn: (p) => {
        pid = p;
        trackChild(p);
      },
    });
    // Killed as soon as the partial file has rows in it.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const f = leftovers()[0];
      if (f && fs.statSync(path.join(dir, f)).size > 64 * 1024) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    process.kill(pid, 'SIGKILL');
    const res = await run;
    expect(res.signal).toBe('SIGKILL');
    expect(fs.existsSync(out)).toBe(false);
    const left = leftovers();
    // Only the hidden partial file (and its side files): no name Open WebUI or an operator would take for a database.
    expect(left.length).toBeGreaterThan(0);
    for (const f of left) expect(f).toMatch(/^\.webui\.db\.restoring-\d+(-journal|-wal|-shm)?$/);
    // The next restore finishes, and removes what the killed one left.
    const again = await runMain(['restore', 'restkill', '--to', out], t.hostEnv);
    expect(again.code, again.stderr).toBe(0);
    expect(leftovers()).toEqual([]);
    await restoredMatches(t, out);
  });
});
