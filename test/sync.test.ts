import { beforeAll, describe, expect, it } from 'vitest';
import { addChat, hardDeleteChat, pyJson, retitleWithoutBump, rng } from '../src/sqlite/sample.ts';
import { setupTenant, type Tenant } from './helpers.ts';

describe('a full sync of an Open WebUI v0.11 tenant with hard content', () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await setupTenant({ seed: { users: 3, chatsPerUser: 4, adversarial: true, bigChatBytes: 3_000_000 } });
    const r = await t.sync();
    expect(r.status).toBe('success');
    expect(r.kind).toBe('full');
  });

  it('mirrors every table, and verify finds the mirror identical', async () => {
    const v = await t.verify();
    expect(v.differences).toEqual([]);
    expect(v.identical).toBe(true);
    expect(v.tables_checked).toBe(43);
    const src = t.db.prepare('SELECT count(*) AS n FROM chat').get() as { n: number };
    const [dst] = await t.check`select count(*)::int as n from acme.chat where _deleted_at is null`;
    expect(dst!.n).toBe(src.n);
  });

  it('keeps nanosecond timestamps above 2^53 exact', async () => {
    const [row] = await t.check`select created_at::text, updated_at::text from acme.note where id = 'note-ns'`;
    expect(row).toEqual({ created_at: '1767000000123456789', updated_at: '1767000000123456790' });
  });

  it("keeps JSON 'null' apart from SQL NULL", async () => {
    const rows =
      await t.check`select id, chat::text as chat, chat is null as is_null from acme.chat where id in ('chat-jsonnull', 'chat-sqlnull') order by id`;
    expect(rows).toEqual([
      { id: 'chat-jsonnull', chat: 'null', is_null: false },
      { id: 'chat-sqlnull', chat: null, is_null: true },
    ]);
    const [model] = await t.check`select params from acme.model where id = 'llama3:8b-custom'`;
    expect(model!.params).toBe('null');
  });

  it('keeps numeric-affinity JSON in config.value as SQLite holds it', async () => {
    const rows = await t.check`select key, value::text as v, updated_at from acme.config order by key`;
    const byKey = Object.fromEntries(rows.map((r) => [r.key, r.v]));
    expect(byKey['rag.top_k']).toBe('5');
    expect(byKey['rag.relevance_threshold']).toBe('1.5');
    expect(byKey['big.number']).toBe('12345678901234567000');
    expect(byKey['ui.enable_signup']).toBe('true');
    expect(byKey['ui.name']).toBe('"Open WebUI \\u2728"');
  });

  it('stores escaped \\u0000 and lone surrogates in json columns byte for byte', async () => {
    const [row] = await t.check`select chat::text as chat, title from acme.chat where id = 'chat-escapes'`;
    expect(row!.chat).toBe(
      '{"title": "nul \\u0000 here", "lone": "\\ud83d", "pair": "\\ud83d\\ude00", "messages": []}',
    );
    expect(row!.title).toBe('escapes \u{1F600}');
  });

  it('stores raw NUL bytes and invalid UTF-8 in the documented reversible form', async () => {
    const [mem] = await t.check`select content, _sync_raw from acme.memory where id = 'mem-nul'`;
    expect(mem!.content).toBe('before\uFFFDafter');
    expect(Buffer.from(mem!._sync_raw.content[1], 'base64').toString('utf8')).toBe('before\0after');
    const [file] = await t.check`select filename, _sync_raw from acme.file where id = 'file-badutf8'`;
    expect(Buffer.from(file!._sync_raw.filename[1], 'base64')).toEqual(Buffer.from('6361666580ff2e747874', 'hex'));
    const [nj] = await t.check`select meta, _sync_raw from acme.file where id = 'file-nuljson'`;
    expect(nj!.meta).toBeNull();
    expect(Buffer.from(nj!._sync_raw.meta[1], 'base64').toString('utf8')).toBe('{"name": "a\0b"}');
  });

  it('keeps values that do not fit their column type in _sync_raw instead of failing the batch', async () => {
    const [mem] = await t.check`select created_at, _sync_raw from acme.memory where id = 'mem-real'`;
    expect(mem!.created_at).toBeNull();
    expect(mem!._sync_raw.created_at[0]).toBe('real');
    expect(Buffer.from(mem!._sync_raw.created_at[1], 'base64').toString()).toBe('1.5');
    const [auth] = await t.check`select active, _sync_raw from acme.auth where id = 'auth-two'`;
    expect(auth!.active).toBeNull();
    expect(auth!._sync_raw.active[0]).toBe('integer');
  });

  it('maps booleans, keeps tabs, newlines and backslashes, and quotes reserved tables', async () => {
    const [chat] = await t.check`select archived, pinned from acme.chat where id = ${t.chatIds[0]!}`;
    expect(chat).toEqual({ archived: false, pinned: false });
    const [mem] = await t.check`select content from acme.memory where id = 'mem-escapes'`;
    expect(mem!.content).toBe('tab\there\nnewline\r\nback\\slash \\N not null');
    const users = await t.check`select count(*)::int as n from acme."user"`;
    expect(users[0]!.n).toBe(3);
    const groups = await t.check`select name from acme."group"`;
    expect(groups.map((g) => g.name)).toEqual(['admins']);
  });

  it('mirrors composite keys of tag and folder (same id for several users)', async () => {
    const tags = await t.check`select id, user_id from acme.tag where id = 'work'`;
    expect(tags).toHaveLength(3);
    const folders = await t.check`select id, user_id from acme.folder`;
    expect(folders).toHaveLength(3);
  });

  it('uses the types Open WebUI uses on PostgreSQL', async () => {
    const cols = await t.check`
      select table_name, column_name, data_type from information_schema.columns
      where table_schema = 'acme' and (table_name, column_name) in (('chat','chat'),('chat','created_at'),('chat','archived'),('model','params'),('note','updated_at'),('user','date_of_birth'),('config_old','created_at'))
      order by table_name, column_name`;
    expect(cols.map((c) => `${c.table_name}.${c.column_name}:${c.data_type}`)).toEqual([
      'chat.archived:boolean',
      'chat.chat:json',
      'chat.created_at:bigint',
      'config_old.created_at:timestamp without time zone',
      'model.params:text',
      'note.updated_at:bigint',
      'user.date_of_birth:date',
    ]);
  });

  it('copies the multi-megabyte chat intact', async () => {
    const src = t.db.prepare("SELECT length(chat) AS n, chat FROM chat WHERE title = 'a very long chat'").get() as {
      n: number;
      chat: string;
    };
    expect(src.n).toBeGreaterThan(3_000_000);
    const [dst] = await t.check`select chat::text as chat from acme.chat where title = 'a very long chat'`;
    expect(dst!.chat).toBe(src.chat);
  });

  it('records the job, its progress and a checkpoint per table', async () => {
    const jobs =
      await t.check`select status, sync_type, tables_total, tables_synced, rows_synced::int from sync_metadata.sync_jobs`;
    expect(jobs[0]).toMatchObject({ status: 'success', sync_type: 'full', tables_total: 43, tables_synced: 43 });
    const progress = await t.check`select count(*)::int as n from sync_metadata.sync_progress where status = 'success'`;
    expect(progress[0]!.n).toBe(43);
    const cps =
      await t.check`select count(*)::int as n from sync_metadata.table_checkpoints where scan_key is null and last_full_at is not null`;
    expect(cps[0]!.n).toBe(43);
  });
});

describe('incremental syncs', () => {
  let t: Tenant;
  const r = rng(42);
  beforeAll(async () => {
    t = await setupTenant({ name: 'inc', seed: { users: 2, chatsPerUser: 10 } });
    await t.sync();
  });

  it('skips reading entirely when the database files have not changed', async () => {
    const res = await t.sync();
    expect(res.kind).toBe('unchanged');
    expect(res.tables).toEqual([]);
  });

  it('copies new and updated chats, and only those', async () => {
    const now = Math.floor(Date.now() / 1000);
    const id = addChat(t.db, r, { userId: t.userIds[0]!, at: now, messages: 3 });
    t.db.prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?').run('renamed with bump', now, t.chatIds[1]!);
    const res = await t.sync();
    expect(res.kind).toBe('incremental');
    const chat = res.tables.find((x) => x.table === 'chat')!;
    expect(chat.inserted).toBe(1);
    expect(chat.updated).toBe(1);
    expect(res.tables.find((x) => x.table === 'chat_message')!.inserted).toBe(3);
    const [row] = await t.check`select title from inc.chat where id = ${t.chatIds[1]!}`;
    expect(row!.title).toBe('renamed with bump');
    const [n] = await t.check`select count(*)::int as n from inc.chat where id = ${id}`;
    expect(n!.n).toBe(1);
    expect((await t.verify()).identical).toBe(true);
  });

  it('finds imported chats whose timestamps are older than the cursor', async () => {
    const old = 1_600_000_000; // 2020
    const id = addChat(t.db, r, { userId: t.userIds[1]!, at: old, title: 'imported from 2020' });
    const res = await t.sync();
    expect(res.kind).toBe('incremental');
    const [row] = await t.check`select title, updated_at::int as u from inc.chat where id = ${id}`;
    expect(row).toEqual({ title: 'imported from 2020', u: old });
  });

  it('catches an update that did not bump updated_at in the same ordinary run (the light pass)', async () => {
    retitleWithoutBump(t.db, t.chatIds[2]!, 'renamed without bump');
    const inc = await t.sync();
    expect(inc.kind).toBe('incremental');
    expect(inc.tables.find((x) => x.table === 'chat')).toMatchObject({
      mode: 'light',
      updated: 1,
      light_changed: 1,
    });
    const [row] = await t.check`select title, chat->>'title' as inner from inc.chat where id = ${t.chatIds[2]!}`;
    expect(row).toEqual({ title: 'renamed without bump', inner: 'renamed without bump' });
    expect((await t.verify()).identical).toBe(true);
  });

  it('leaves to the reconciliation pass only a rewrite of a large column that keeps its length and bumps nothing', async () => {
    const id = t.chatIds[5]!;
    const { chat } = t.db.prepare('SELECT chat FROM chat WHERE id = ?').get(id) as { chat: string };
    const i = chat.indexOf('"title": "') + 10;
    const same = chat.slice(0, i) + (chat[i] === 'X' ? 'Y' : 'X') + chat.slice(i + 1); // one character, same length
    t.db.prepare('UPDATE chat SET chat = ? WHERE id = ?').run(same, id);
    const inc = await t.sync();
    expect(inc.tables.find((x) => x.table === 'chat')!.light_changed).toBe(0);
    const v = await t.verify();
    expect(v.differences).toEqual([
      expect.objectContaining({ table: 'chat', kind: 'different', key: [id], columns: ['chat'] }),
    ]);
    const full = await t.sync({ full: true });
    expect(full.tables.find((x) => x.table === 'chat')!.updated).toBe(1);
    expect((await t.verify()).identical).toBe(true);
  });

  it('turns hard deletes into tombstones (an UPDATE of _deleted_at), and brings back a re-created row', async () => {
    const victim = t.chatIds[3]!;
    const msgs = t.db.prepare('SELECT count(*) AS n FROM chat_message WHERE chat_id = ?').get(victim) as { n: number };
    hardDeleteChat(t.db, victim);
    const res = await t.sync({ full: true });
    expect(res.tables.find((x) => x.table === 'chat')!.tombstoned).toBe(1);
    expect(res.tables.find((x) => x.table === 'chat_message')!.tombstoned).toBe(msgs.n);
    const [row] = await t.check`select _deleted_at is not null as dead from inc.chat where id = ${victim}`;
    expect(row!.dead).toBe(true);
    expect((await t.verify()).identical).toBe(true);
    addChat(t.db, r, { id: victim, userId: t.userIds[0]!, title: 'back again' });
    await t.sync();
    const [back] = await t.check`select title, _deleted_at from inc.chat where id = ${victim}`;
    expect(back).toEqual({ title: 'back again', _deleted_at: null });
  });

  it('runs the reconciliation pass by itself every Nth run', async () => {
    await t.check`update sync_metadata.client_deployments set reconcile_every = 2, runs_since_reconcile = 1 where client_name = 'inc'`;
    retitleWithoutBump(t.db, t.chatIds[4]!, 'caught by the scheduled reconciliation');
    const res = await t.sync();
    expect(res.kind).toBe('reconcile');
    const [row] = await t.check`select title from inc.chat where id = ${t.chatIds[4]!}`;
    expect(row!.title).toBe('caught by the scheduled reconciliation');
  });

  it('hash-diffs tables without updated_at on every run (tag, auth, access_grant)', async () => {
    t.db.prepare('UPDATE auth SET active = 0 WHERE id = ?').run(t.userIds[0]!);
    t.db.prepare('DELETE FROM tag WHERE user_id = ?').run(t.userIds[1]!);
    t.db
      .prepare('INSERT INTO tag (id, name, user_id, meta) VALUES (?, ?, ?, ?)')
      .run('new-tag', 'New', t.userIds[0]!, pyJson({}));
    const res = await t.sync();
    expect(res.kind).toBe('incremental');
    expect(res.tables.find((x) => x.table === 'auth')).toMatchObject({ mode: 'hash-diff', updated: 1 });
    expect(res.tables.find((x) => x.table === 'tag')).toMatchObject({ mode: 'hash-diff', inserted: 1, tombstoned: 1 });
    const [a] = await t.check`select active from inc.auth where id = ${t.userIds[0]!}`;
    expect(a!.active).toBe(false);
    expect((await t.verify()).identical).toBe(true);
  });
});

describe('batches', () => {
  it('pages through more rows than one batch, within the byte cap, with one transaction per batch', async () => {
    const t = await setupTenant({ name: 'pages', seed: { users: 1, chatsPerUser: 250, messagesPerChat: 4 } });
    const res = await t.sync({ batchRows: 100, batchBytes: 200_000 });
    const msgs = res.tables.find((x) => x.table === 'chat_message')!;
    expect(msgs.inserted).toBe(1000);
    expect(msgs.batches).toBeGreaterThanOrEqual(10);
    expect((await t.verify()).identical).toBe(true);
  });
});

describe("the run's own record", () => {
  it('says when it cannot be written after its retries, and keeps the data the run committed', async () => {
    const t = await setupTenant({ name: 'books', seed: { users: 1, chatsPerUser: 20 } });
    // Once the first batch is in, the host roles lose UPDATE on sync_jobs: the run's last statement fails.
    let revoked = false;
    try {
      const res = await t.sync({
        onProgress: () => {
          revoked = true;
        },
        hooks: {
          beforeCommit: async () => {
            if (revoked) await t.check`revoke update on sync_metadata.sync_jobs from sync_service`;
          },
        },
      });
      expect(res.status).toBe('success');
      expect(res.bookkeeping_error).toMatch(/could not be written: permission denied for table sync_jobs/);
      expect(res.totals.inserted).toBeGreaterThan(0);
      const [row] = await t.check<{ n: number }[]>`select count(*)::int as n from books.chat`;
      expect(row!.n).toBe(20);
    } finally {
      await t.check`grant update on sync_metadata.sync_jobs to sync_service`;
    }
    // With the privilege back, the next run marks the stranded job abandoned and records itself.
    const again = await t.sync();
    expect(again.bookkeeping_error).toBeUndefined();
    const [job] = await t.check<{ status: string; error_message: string }[]>`
      select status, error_message from sync_metadata.sync_jobs where client_name = 'books' order by started_at limit 1`;
    expect(job!.status).toBe('failed');
    expect(job!.error_message).toMatch(/^abandoned/);
  });
});
