import { describe, expect, it } from 'vitest';
import { addChat, hardDeleteChat, pyJson, retitleWithoutBump, rng } from '../src/sqlite/sample.ts';
import { runMain, setupTenant } from './helpers.ts';

// Every ordinary run is exact: each change Open WebUI makes without bumping updated_at
// (docs/openwebui-schema.md section 2b), each hard delete (section 3) and each import with old timestamps is in
// the mirror after one incremental run, and verify finds the mirror identical. The reconciliation pass is kept
// out of the way (reconcile_every 1000), so what is caught is caught by the run itself.

const NS = () => BigInt(Date.now()) * 1_000_000n;

describe('every ordinary run is exact', () => {
  it('catches each un-bumped edit, each hard delete and each old-dated import in one incremental run', async () => {
    const t = await setupTenant({ name: 'exact', seed: { users: 4, chatsPerUser: 6 }, reconcileEvery: 1000 });
    const db = t.db;
    const r = rng(7);
    const [u0, u1, u2, u3] = t.userIds as [string, string, string, string];
    const chatsOf = (u: string) =>
      (db.prepare('SELECT id FROM chat WHERE user_id = ? ORDER BY id').all(u) as { id: string }[]).map((x) => x.id);
    const old = 1_600_000_000;
    // Rows in tables the seed leaves empty: a channel with a message and a webhook, an automation, knowledge with a
    // directory and a file in it, a group with members.
    const now = Math.floor(Date.now() / 1000);
    db.prepare(
      "INSERT INTO channel (id, user_id, name, type, created_at, updated_at) VALUES ('ch1', ?, 'general', 'group', ?, ?)",
    ).run(u0, NS(), NS());
    db.prepare(
      "INSERT INTO message (id, user_id, channel_id, content, created_at, updated_at, is_pinned) VALUES ('m1', ?, 'ch1', 'hello', ?, ?, 0)",
    ).run(u0, NS(), NS());
    db.prepare(
      "INSERT INTO channel_webhook (id, user_id, channel_id, name, token, created_at, updated_at) VALUES ('wh1', ?, 'ch1', 'ci', 'tok', ?, ?)",
    ).run(u0, NS(), NS());
    db.prepare(
      "INSERT INTO automation (id, user_id, name, data, is_active, created_at, updated_at) VALUES ('au1', ?, 'daily', '{}', 1, ?, ?)",
    ).run(u0, NS(), NS());
    db.prepare("INSERT INTO knowledge (id, user_id, name, created_at, updated_at) VALUES ('kn1', ?, 'docs', ?, ?)").run(
      u0,
      now,
      now,
    );
    db.prepare(
      "INSERT INTO knowledge_directory (id, knowledge_id, name, user_id, created_at, updated_at) VALUES ('kd1', 'kn1', 'dir', ?, ?, ?)",
    ).run(u0, now, now);
    const fileId = (db.prepare('SELECT id FROM file LIMIT 1').get() as { id: string } | undefined)?.id;
    if (!fileId)
      db.prepare(
        "INSERT INTO file (id, user_id, filename, created_at, updated_at) VALUES ('f1', ?, 'a.pdf', ?, ?)",
      ).run(u0, now, now);
    db.prepare(
      "INSERT INTO knowledge_file (id, user_id, knowledge_id, file_id, created_at, updated_at, directory_id) VALUES ('kf1', ?, 'kn1', ?, ?, ?, 'kd1')",
    ).run(u0, fileId ?? 'f1', now, now);
    db.prepare("INSERT INTO \"group\" (id, user_id, name, created_at, updated_at) VALUES ('g1', ?, 'team', ?, ?)").run(
      u0,
      now,
      now,
    );
    for (const u of [u2, u3])
      db.prepare('INSERT INTO group_member (id, group_id, user_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(
        `gm-${u}`,
        'g1',
        u,
        now,
        now,
      );
    expect((await t.sync()).kind).toBe('full');
    expect((await t.verify()).identical).toBe(true);

    const chatJson = (id: string) =>
      JSON.parse((db.prepare('SELECT chat FROM chat WHERE id = ?').get(id) as { chat: string }).chat) as {
        history: { messages: Record<string, Record<string, unknown>> };
      };
    const c0 = chatsOf(u0);
    const c1 = chatsOf(u1);
    const edits: [string, () => void][] = [
      ['chat: update_chat_title_by_id', () => retitleWithoutBump(db, c0[0]!, 'retitled')],
      [
        'chat: update_chat_tags_by_id (meta.tags)',
        () => db.prepare('UPDATE chat SET meta = ? WHERE id = ?').run(pyJson({ tags: ['work', 'urgent'] }), c0[1]!),
      ],
      [
        'chat: update_chat_tasks_by_id',
        () => db.prepare('UPDATE chat SET tasks = ? WHERE id = ?').run(pyJson([{ id: 't', done: false }]), c0[2]!),
      ],
      [
        'chat: update_chat_share_id_by_id',
        () => db.prepare('UPDATE chat SET share_id = ? WHERE id = ?').run('s-1', c0[3]!),
      ],
      [
        'chat: add_message_status_to_chat_by_id_and_message_id (the chat JSON only)',
        () => {
          const c = chatJson(c0[4]!);
          const m = Object.values(c.history.messages)[0]!;
          m.statusHistory = [{ action: 'web_search', description: 'Searched 3 sites', done: true }];
          db.prepare('UPDATE chat SET chat = ? WHERE id = ?').run(pyJson(c), c0[4]!);
        },
      ],
      [
        'chat: archive_all_chats_by_user_id',
        () => db.prepare('UPDATE chat SET archived = 1 WHERE user_id = ?').run(u1),
      ],
      [
        'chat: move_chats_by_user_id_and_folder_id',
        () => db.prepare("UPDATE chat SET folder_id = 'folder-x' WHERE user_id = ?").run(u1),
      ],
      [
        'chat: update_chat_last_read_at_by_id',
        () => db.prepare('UPDATE chat SET last_read_at = ? WHERE id = ?').run(now, c1[0]!),
      ],
      ['user: update_user_role_by_id', () => db.prepare("UPDATE user SET role = 'pending' WHERE id = ?").run(u1)],
      [
        'user: update_user_profile_image_url_by_id',
        () =>
          db
            .prepare('UPDATE user SET profile_image_url = ? WHERE id = ?')
            .run(`data:image/png;base64,${'A'.repeat(4000)}`, u1),
      ],
      [
        'user: update_user_settings_by_id',
        () => db.prepare('UPDATE user SET settings = ? WHERE id = ?').run(pyJson({ ui: { theme: 'light' } }), u1),
      ],
      [
        'user: update_user_oauth_by_id',
        () => db.prepare('UPDATE user SET oauth = ? WHERE id = ?').run(pyJson({ oidc: { sub: 'x' } }), u1),
      ],
      [
        'user: update_user_scim_by_id',
        () => db.prepare('UPDATE user SET scim = ? WHERE id = ?').run(pyJson({ id: 's' }), u1),
      ],
      [
        'user: update_last_active_by_id',
        () => db.prepare('UPDATE user SET last_active_at = ? WHERE id = ?').run(now + 5, u0),
      ],
      [
        'message: update_is_pinned_by_id',
        () =>
          db.prepare("UPDATE message SET is_pinned = 1, pinned_at = ?, pinned_by = ? WHERE id = 'm1'").run(NS(), u0),
      ],
      [
        'channel_webhook: last_used_at',
        () => db.prepare("UPDATE channel_webhook SET last_used_at = ? WHERE id = 'wh1'").run(NS()),
      ],
      [
        'automation: claim_due',
        () => db.prepare("UPDATE automation SET last_run_at = ?, next_run_at = ? WHERE id = 'au1'").run(NS(), NS()),
      ],
      [
        'knowledge_file: directory_id reset with its directory',
        () => {
          db.prepare("DELETE FROM knowledge_directory WHERE id = 'kd1'").run();
          db.prepare("UPDATE knowledge_file SET directory_id = NULL WHERE id = 'kf1'").run();
        },
      ],
      [
        'config: updated_at set to NULL',
        () => db.prepare('UPDATE config SET updated_at = NULL WHERE rowid = (SELECT min(rowid) FROM config)').run(),
      ],
      ['hard delete: a chat and its messages', () => hardDeleteChat(db, c0[5]!)],
      [
        'hard delete: a user (their chats, group memberships, auth; files and the rest orphaned)',
        () =>
          db.transaction(() => {
            db.prepare('DELETE FROM group_member WHERE user_id = ?').run(u3);
            for (const id of chatsOf(u3)) hardDeleteChat(db, id);
            db.prepare('DELETE FROM user WHERE id = ?').run(u3);
            db.prepare('DELETE FROM auth WHERE id = ?').run(u3);
          })(),
      ],
      [
        'import: a chat dated 2020',
        () => void addChat(db, r, { userId: u2, at: old, title: 'imported from 2020', messages: 3 }),
      ],
    ];
    for (const [what, edit] of edits) {
      edit();
      const res = await t.sync();
      expect(res.kind, what).toBe('incremental');
      const v = await t.verify();
      expect(v.identical, `${what}: ${JSON.stringify(v.differences).slice(0, 300)}`).toBe(true);
    }

    // All of them at once, again: one run.
    retitleWithoutBump(db, c1[1]!, 'again');
    db.prepare("UPDATE user SET role = 'admin' WHERE id = ?").run(u2);
    db.prepare('UPDATE chat SET archived = 0 WHERE user_id = ?').run(u1);
    hardDeleteChat(db, c1[2]!);
    addChat(db, r, { userId: u2, at: old - 86400, title: 'older import' });
    const res = await t.sync();
    expect(res.kind).toBe('incremental');
    expect((await t.verify()).identical).toBe(true);
    // And nothing more to do: the next run writes nothing.
    db.prepare('UPDATE user SET last_active_at = last_active_at WHERE id = ?').run(u0); // touches the file only
    const quiet = await t.sync();
    expect(quiet.totals).toMatchObject({ inserted: 0, updated: 0, tombstoned: 0 });
  });

  it('gives a mirror made before the light pass its light hashes: migration 008, then one ordinary run', async () => {
    const t = await setupTenant({ name: 'upgraded', seed: { users: 2, chatsPerUser: 3 }, reconcileEvery: 1000 });
    await t.sync();
    // As a mirror made by an earlier version: no _sync_light, migration 008 not applied.
    const tables = (
      await t.check<{ relname: string }[]>`
      select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'upgraded' and c.relkind = 'r'`
    ).map((x) => x.relname);
    for (const tb of tables) await t.check.unsafe(`alter table upgraded.${JSON.stringify(tb)} drop column _sync_light`);
    await t.check`delete from sync_metadata.schema_migrations where version = 8`;
    const m = await runMain(['provision'], { OWUI_SYNC_ADMIN_URL: t.url });
    expect(m.code, m.stderr).toBe(0);
    // One client's schema a transaction, each recorded (a fleet's thousands of schemas are not locked together).
    expect(m.stdout).toMatch(/applied 008_light_hash\.sql \(1 client schemas, one transaction each\)/);
    const [col] =
      await t.check`select count(*)::int as n from information_schema.columns where table_schema = 'upgraded' and column_name = '_sync_light'`;
    expect(col!.n).toBe(tables.length);
    retitleWithoutBump(t.db, t.chatIds[0]!, 'after the upgrade');
    const first = await t.sync();
    expect(first.kind).toBe('incremental');
    // Every chat without a light hash is read once to get one (those the cursor read already have it).
    expect(first.tables.find((x) => x.table === 'chat')!.light_changed).toBeGreaterThan(0);
    for (const tb of ['chat', 'chat_message'])
      expect(
        (await t.check.unsafe(`select count(*)::int as n from upgraded.${tb} where _sync_light is null`))[0]!.n,
      ).toBe(0);
    expect((await t.verify()).identical).toBe(true);
    t.db.prepare('UPDATE user SET last_active_at = last_active_at + 1 WHERE id = ?').run(t.userIds[0]!);
    const second = await t.sync();
    expect(second.tables.find((x) => x.table === 'chat')!.light_changed).toBe(0);
  });
});
