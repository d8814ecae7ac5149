import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listConflicts, resolveConflict, setConflictConfig } from '../src/ops/conflicts.ts';
import { addChat, hardDeleteChat, pyJson, rng } from '../src/sqlite/sample.ts';
import { runMain, setupTenant, type Tenant, tmpDir } from './helpers.ts';

const now = () => Math.floor(Date.now() / 1000);

async function withStrategy(
  t: Tenant,
  strategy: string,
  tables: Record<string, unknown> = {},
  snapshots = true,
  enabled = true,
) {
  const file = path.join(tmpDir(), 'conflicts.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      conflict_resolution: {
        default_strategy: strategy,
        table_strategies: tables,
        resolution_log: { enabled, retention_days: 30, include_data_snapshot: snapshots },
      },
    }),
  );
  await setConflictConfig(t.sql, t.name, file);
}

/** The specification's test: title 'Local' in SQLite, 'Remote' in PostgreSQL, then a sync. */
async function localRemote(t: Tenant, id: string, opts: { sourceAt?: number; targetAt?: number } = {}) {
  t.db.prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?').run('Local', opts.sourceAt ?? now(), id);
  if (opts.targetAt)
    await t.check.unsafe(`UPDATE "${t.name}".chat SET title = 'Remote', updated_at = ${opts.targetAt} WHERE id = $1`, [
      id,
    ]);
  else await t.check.unsafe(`UPDATE "${t.name}".chat SET title = 'Remote' WHERE id = $1`, [id]);
  // A full pass: these tests set timestamps by hand, which an incremental cursor need not see.
  return t.sync({ full: true });
}

const title = async (t: Tenant, id: string) =>
  (await t.check.unsafe(`select title from "${t.name}".chat where id = $1`, [id]))[0]!.title as string;
const log = (t: Tenant) =>
  t.check`select table_name, record_id, conflict_type, resolution_strategy, winner, resolved_at is not null as resolved, resolved_by, source_data is not null as has_source, target_data is not null as has_target from sync_metadata.conflict_log order by detected_at, log_id`;

describe('conflict detection', () => {
  it('writes no log entry for rows changed only in SQLite', async () => {
    const t = await setupTenant({ name: 'c_only_sqlite' });
    await t.sync();
    t.db
      .prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?')
      .run('changed in Open WebUI', now(), t.chatIds[0]!);
    const r = await t.sync();
    expect(r.totals.conflicts).toBe(0);
    expect(await title(t, t.chatIds[0]!)).toBe('changed in Open WebUI');
    expect(await log(t)).toEqual([]);
  });

  it('is no conflict when only PostgreSQL changed: the mirror keeps the edit until SQLite changes the row', async () => {
    const t = await setupTenant({ name: 'c_only_pg' });
    await t.sync();
    await t.check.unsafe(`UPDATE c_only_pg.chat SET title = 'Remote' WHERE id = $1`, [t.chatIds[0]!]);
    const r = await t.sync({ full: true });
    expect(r.totals.conflicts).toBe(0);
    expect(await title(t, t.chatIds[0]!)).toBe('Remote');
    expect(await log(t)).toEqual([]);
  });

  it('marks only writes that are not the sync: its own writes leave no marker', async () => {
    const t = await setupTenant({ name: 'c_marker' });
    await t.sync();
    const [n] = await t.check`select count(*)::int as n from c_marker.chat where _target_changed_at is not null`;
    expect(n!.n).toBe(0);
    await t.check.unsafe(`UPDATE c_marker.chat SET pinned = true WHERE id = $1`, [t.chatIds[1]!]);
    const [m] = await t.check`select count(*)::int as n from c_marker.chat where _target_changed_at is not null`;
    expect(m!.n).toBe(1);
  });
});

describe('strategies, on the specification test (Local in SQLite, Remote in PostgreSQL)', () => {
  it('newest_wins: the newer updated_at wins either way, a tie keeps the target', async () => {
    const t = await setupTenant({ name: 'c_newest' });
    await withStrategy(t, 'newest_wins');
    await t.sync();
    const [a, b, c] = t.chatIds;
    const r1 = await localRemote(t, a!, { sourceAt: now() });
    expect(await title(t, a!)).toBe('Local');
    expect(r1.totals).toMatchObject({ conflicts: 1, conflicts_resolved: 1, conflicts_pending: 0 });
    await localRemote(t, b!, { sourceAt: now(), targetAt: now() + 1000 });
    expect(await title(t, b!)).toBe('Remote');
    // A tie: the target is kept.
    const [{ u }] = (await t.check.unsafe(`select updated_at::int as u from c_newest.chat where id = $1`, [
      c!,
    ])) as unknown as [{ u: number }];
    await localRemote(t, c!, { sourceAt: u });
    expect(await title(t, c!)).toBe('Remote');
    expect(
      (await log(t)).map((l) => [l.record_id, l.conflict_type, l.resolution_strategy, l.winner, l.resolved]),
    ).toEqual([
      [a, 'update_conflict', 'newest_wins', 'source', true],
      [b, 'update_conflict', 'newest_wins', 'target', true],
      [c, 'update_conflict', 'newest_wins', 'target', true],
    ]);
  });

  it('source_wins: SQLite overwrites, the conflict is logged with both versions', async () => {
    const t = await setupTenant({ name: 'c_source' });
    await withStrategy(t, 'source_wins');
    await t.sync();
    await localRemote(t, t.chatIds[0]!, { targetAt: now() + 1000 });
    expect(await title(t, t.chatIds[0]!)).toBe('Local');
    const [entry] =
      await t.check`select source_data->>'title' as s, target_data->>'title' as tt, winner from sync_metadata.conflict_log`;
    expect(entry).toEqual({ s: 'Local', tt: 'Remote', winner: 'source' });
  });

  it('target_wins: the mirror keeps its version, and later source changes stay conflicts', async () => {
    const t = await setupTenant({ name: 'c_target' });
    await withStrategy(t, 'target_wins');
    await t.sync();
    const id = t.chatIds[0]!;
    await localRemote(t, id, { sourceAt: now() + 100 });
    expect(await title(t, id)).toBe('Remote');
    const again = await t.sync({ full: true });
    expect(again.totals.conflicts).toBe(1);
    expect((await log(t)).length).toBe(1); // the same source version is logged once
    t.db.prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?').run('Local again', now() + 200, id);
    await t.sync();
    expect(await title(t, id)).toBe('Remote');
    expect((await log(t)).map((l) => l.winner)).toEqual(['target', 'target']);
  });

  it('manual: the mirror is left alone, the conflict waits, the CLI exits 3; then each choice resolves it', async () => {
    const t = await setupTenant({ name: 'c_manual', seed: { users: 1, chatsPerUser: 4 } });
    await withStrategy(t, 'manual', {}, false);
    await t.sync();
    const [a, b, c] = t.chatIds;
    for (const id of [a!, b!, c!]) {
      t.db
        .prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?')
        .run(`Local ${id.slice(0, 4)}`, now() + 100, id);
      await t.check.unsafe(`UPDATE c_manual.chat SET title = 'Remote' WHERE id = $1`, [id]);
    }
    const cli = await runMain(['sync', 'c_manual', '--json'], t.hostEnv);
    expect(cli.code).toBe(3);
    expect(JSON.parse(cli.stdout)).toMatchObject({ status: 'success', conflicts_pending: 3 });
    for (const id of [a!, b!, c!]) expect(await title(t, id)).toBe('Remote');
    const pending = await runMain(['conflicts', 'list', 'c_manual', '--pending', '--json'], t.hostEnv);
    expect(pending.code).toBe(3);
    const rows = JSON.parse(pending.stdout) as { log_id: string; record_id: string; conflict_type: string }[];
    expect(rows.map((r) => r.conflict_type)).toEqual(['update_conflict', 'update_conflict', 'update_conflict']);
    const idOf = (rec: string) => rows.find((r) => r.record_id === rec)!.log_id;
    // Snapshots are off: nothing of the rows in the log.
    expect((await log(t)).every((l) => !l.has_source && !l.has_target)).toBe(true);

    const show = await runMain(['conflicts', 'show', idOf(a!)], t.hostEnv);
    expect(JSON.parse(show.stdout)).toMatchObject({ table_name: 'chat', record_id: a, resolved_at: null });
    const rs = await runMain(
      ['conflicts', 'resolve', idOf(a!), '--use', 'source', '--by', 'alice', '--json'],
      t.hostEnv,
    );
    expect(rs.code, rs.stderr).toBe(0);
    expect(JSON.parse(rs.stdout)).toMatchObject({ winner: 'source', resolved_by: 'alice' });
    expect(await title(t, a!)).toBe(`Local ${a!.slice(0, 4)}`);
    await resolveConflict(t.sql, idOf(b!), 'target', 'bob');
    expect(await title(t, b!)).toBe('Remote');
    await resolveConflict(t.sql, idOf(c!), 'merged', 'carol');
    const again = await runMain(['conflicts', 'resolve', idOf(c!), '--use', 'source'], t.hostEnv);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already resolved');
    const done = await t.sync();
    expect(done.conflicts_pending).toBe(0);
    expect(await title(t, b!)).toBe('Remote'); // the seen source version does not conflict again
    expect((await listConflicts(t.sql, { client: 'c_manual' })).map((r) => r.resolved_by).sort()).toEqual([
      'alice',
      'bob',
      'carol',
    ]);
  });
});

describe('the resolution log switched off', () => {
  it('logs no conflict a strategy resolved, but still every one that waits for an operator', async () => {
    const t = await setupTenant({ name: 'c_nolog', seed: { users: 1, chatsPerUser: 3 } });
    await withStrategy(t, 'source_wins', { config: { strategy: 'manual' } }, true, false);
    await t.sync();
    const r = await localRemote(t, t.chatIds[0]!);
    expect(r.totals.conflicts).toBe(1);
    expect(await log(t)).toEqual([]);
    await t.check`update c_nolog.config set value = '"edited in PostgreSQL"' where key = 'ui.name'`;
    t.db
      .prepare(`UPDATE config SET value = ?, updated_at = ? WHERE "key" = 'ui.name'`)
      .run('"edited in Open WebUI"', now());
    await t.sync({ full: true });
    expect((await log(t)).map((l) => [l.table_name, l.resolution_strategy, l.resolved])).toEqual([
      ['config', 'manual', false],
    ]);
  });
});

describe('merge', () => {
  it('merges a chat with messages added on both sides: every message once, currentId and the linear list consistent', async () => {
    const t = await setupTenant({ name: 'c_merge' });
    await withStrategy(t, 'newest_wins', {
      chat: { strategy: 'merge', merge_rules: { messages: 'append', metadata: 'newest_wins' } },
    });
    await t.sync();
    const id = t.chatIds[0]!;
    const base = JSON.parse((t.db.prepare('SELECT chat FROM chat WHERE id = ?').get(id) as { chat: string }).chat);
    const last = base.history.currentId as string;
    const add = (chat: typeof base, msgId: string, content: string, ts: number) => {
      const c = JSON.parse(JSON.stringify(chat));
      c.history.messages[last].childrenIds.push(msgId);
      c.history.messages[msgId] = { id: msgId, parentId: last, childrenIds: [], role: 'user', content, timestamp: ts };
      c.history.currentId = msgId;
      c.messages.push(c.history.messages[msgId]);
      return c;
    };
    t.db
      .prepare('UPDATE chat SET chat = ?, updated_at = ? WHERE id = ?')
      .run(pyJson(add(base, 'msg-sqlite', 'written in Open WebUI', now() + 20)), now() + 20, id);
    await t.check.unsafe(`UPDATE c_merge.chat SET chat = $1::text::json WHERE id = $2`, [
      JSON.stringify(add(base, 'msg-pg', 'written in PostgreSQL', now() + 10)),
      id,
    ]);
    const r = await t.sync();
    expect(r.totals).toMatchObject({ conflicts: 1, conflicts_resolved: 1 });
    const [{ chat }] = (await t.check.unsafe(`select chat::text as chat from c_merge.chat where id = $1`, [
      id,
    ])) as unknown as [{ chat: string }];
    const merged = JSON.parse(chat);
    const ids = Object.keys(merged.history.messages);
    expect(ids).toContain('msg-sqlite');
    expect(ids).toContain('msg-pg');
    expect(ids.length).toBe(new Set(ids).size);
    expect(ids.length).toBe(Object.keys(base.history.messages).length + 2);
    expect(merged.history.messages[last].childrenIds.sort()).toEqual(['msg-pg', 'msg-sqlite']);
    expect(merged.history.currentId).toBe('msg-sqlite'); // the newest leaf
    const linear = merged.messages.map((m: { id: string }) => m.id);
    expect(linear[linear.length - 1]).toBe('msg-sqlite');
    for (let i = 1; i < merged.messages.length; i++)
      expect(merged.messages[i].parentId).toBe(merged.messages[i - 1].id);
    const [entry] =
      await t.check`select winner, resolution_strategy, resolved_data is not null as has_merged from sync_metadata.conflict_log`;
    expect(entry).toEqual({ winner: 'merged', resolution_strategy: 'merge', has_merged: true });
    // Another source change merges again: the message written in PostgreSQL is not lost.
    t.db.prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?').run('renamed later', now() + 40, id);
    await t.sync();
    const [{ chat: again }] = (await t.check.unsafe(`select chat::text as chat from c_merge.chat where id = $1`, [
      id,
    ])) as unknown as [{ chat: string }];
    expect(Object.keys(JSON.parse(again).history.messages)).toContain('msg-pg');
  });
});

describe('conflict types', () => {
  it('delete_conflict: a row deleted in SQLite but changed in PostgreSQL is kept (and tombstoned only under source_wins)', async () => {
    const t = await setupTenant({ name: 'c_delete' });
    await withStrategy(t, 'newest_wins');
    await t.sync();
    const [a, b] = t.chatIds;
    await t.check.unsafe(`UPDATE c_delete.chat SET title = 'Remote' WHERE id IN ($1, $2)`, [a!, b!]);
    hardDeleteChat(t.db, a!);
    await t.sync({ full: true });
    const [kept] = await t.check.unsafe(`select _deleted_at is null as live, title from c_delete.chat where id = $1`, [
      a!,
    ]);
    expect(kept).toEqual({ live: true, title: 'Remote' });
    await withStrategy(t, 'source_wins');
    hardDeleteChat(t.db, b!);
    await t.sync({ full: true });
    const [gone] = await t.check.unsafe(`select _deleted_at is not null as dead from c_delete.chat where id = $1`, [
      b!,
    ]);
    expect(gone!.dead).toBe(true);
    expect((await log(t)).map((l) => [l.record_id, l.conflict_type, l.winner])).toEqual([
      [a, 'delete_conflict', 'target'],
      [b, 'delete_conflict', 'source'],
    ]);
  });

  it('insert_exists: a new SQLite row whose key someone already put into PostgreSQL with other content', async () => {
    const t = await setupTenant({ name: 'c_insert' });
    await withStrategy(t, 'source_wins');
    await t.sync();
    await t.check`insert into c_insert.chat (id, user_id, title, meta) values ('chat-from-pg', 'u', 'made in PostgreSQL', '{}')`;
    addChat(t.db, rng(3), { id: 'chat-from-pg', userId: t.userIds[0]!, title: 'made in Open WebUI', at: now() });
    const r = await t.sync();
    expect(r.totals.conflicts).toBe(1);
    expect(await title(t, 'chat-from-pg')).toBe('made in Open WebUI');
    expect((await log(t)).map((l) => [l.record_id, l.conflict_type, l.winner])).toEqual([
      ['chat-from-pg', 'insert_exists', 'source'],
    ]);
  });

  it('constraint_violation and type_mismatch: rows PostgreSQL refuses wait in the log for review', async () => {
    const t = await setupTenant({ name: 'c_refused' });
    await t.sync();
    await t.check.unsafe(`ALTER TABLE c_refused.memory ADD CONSTRAINT short CHECK (length(content) < 20)`);
    t.db
      .prepare('INSERT INTO memory (id, user_id, content, updated_at, created_at) VALUES (?, ?, ?, ?, ?)')
      .run('m-long', 'u', 'this memory is far too long for the constraint', now(), now());
    // A date of the right shape that does not exist: PostgreSQL refuses it; the value goes to _sync_raw.
    t.db
      .prepare('UPDATE user SET date_of_birth = ?, updated_at = ? WHERE id = ?')
      .run('2024-02-30', now(), t.userIds[0]!);
    const r = await t.sync();
    expect(r.status).toBe('success');
    expect(r.conflicts_pending).toBe(1);
    expect((await log(t)).map((l) => [l.table_name, l.conflict_type, l.resolution_strategy, l.resolved])).toEqual(
      expect.arrayContaining([
        ['memory', 'constraint_violation', 'manual', false],
        ['user', 'type_mismatch', null, true],
      ]),
    );
    const [u] = await t.check.unsafe(
      `select date_of_birth, _sync_raw->'date_of_birth'->>1 as raw from c_refused."user" where id = $1`,
      [t.userIds[0]!],
    );
    expect(u).toEqual({ date_of_birth: null, raw: Buffer.from('2024-02-30').toString('base64') });
    const [note] =
      await t.check`select resolution_notes from sync_metadata.conflict_log where conflict_type = 'type_mismatch'`;
    expect(note!.resolution_notes).toContain('date_of_birth');
  });
});

describe('conflict configuration', () => {
  it('is validated with clear errors and stored per deployment in PostgreSQL', async () => {
    const t = await setupTenant({ name: 'c_config' });
    const dir = tmpDir();
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(
      bad,
      JSON.stringify({
        conflict_resolution: {
          default_strategy: 'whoever_shouts',
          table_strategies: { chat: { strategy: 'merge', merge_rules: { chat: 'shuffle' } } },
        },
      }),
    );
    const r = await runMain(['conflicts', 'config', 'c_config', '--file', bad], t.hostEnv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('conflict_resolution.default_strategy');
    expect(r.stderr).toContain('conflict_resolution.table_strategies.chat.merge_rules.chat');
    fs.writeFileSync(bad, '{ not json');
    expect((await runMain(['conflicts', 'config', 'c_config', '--file', bad], t.hostEnv)).stderr).toContain(
      'is not valid JSON',
    );
    const def = await runMain(['conflicts', 'config', 'c_config', '--show', '--json'], t.hostEnv);
    expect(JSON.parse(def.stdout)).toMatchObject({
      source: 'default',
      config: { conflict_resolution: { default_strategy: 'newest_wins' } },
    });
    const ok = await runMain(
      [
        'conflicts',
        'config',
        'c_config',
        '--file',
        path.join(import.meta.dirname, '..', 'templates', 'conflict-resolution-default.json'),
      ],
      t.hostEnv,
    );
    expect(ok.code, ok.stderr).toBe(0);
    const [row] =
      await t.check`select config->'conflict_resolution'->>'default_strategy' as s, config->>'sqlite_path' as p from sync_metadata.client_deployments where client_name = 'c_config'`;
    expect(row).toEqual({ s: 'newest_wins', p: t.sqlitePath });
    const shown = await runMain(['conflicts', 'config', 'c_config', '--show', '--json'], t.hostEnv);
    expect(JSON.parse(shown.stdout).source).toBe('stored');
  });

  it('is changed strategy by strategy from the command line, as the menu does: validated, then stored', async () => {
    const t = await setupTenant({ name: 'c_flags' });
    const set = await runMain(
      [
        'conflicts',
        'config',
        'c_flags',
        '--default-strategy',
        'source_wins',
        '--table',
        'tag=target_wins',
        '--table',
        'chat=merge',
      ],
      t.hostEnv,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('default source_wins');
    const shown = JSON.parse((await runMain(['conflicts', 'config', 'c_flags', '--show', '--json'], t.hostEnv)).stdout);
    expect(shown.source).toBe('stored');
    const r = shown.config.conflict_resolution;
    expect(r.default_strategy).toBe('source_wins');
    expect(r.table_strategies.tag.strategy).toBe('target_wins');
    // The shipped rules of chat (merge rules) stay with its merge strategy.
    expect(r.table_strategies.chat).toMatchObject({ strategy: 'merge', merge_rules: { chat: 'union' } });
    const away = await runMain(['conflicts', 'config', 'c_flags', '--table', 'chat=newest_wins'], t.hostEnv);
    expect(away.code, away.stderr).toBe(0);
    const after = JSON.parse((await runMain(['conflicts', 'config', 'c_flags', '--show', '--json'], t.hostEnv)).stdout);
    expect(after.config.conflict_resolution.table_strategies.chat.merge_rules).toBeUndefined();

    const badStrategy = await runMain(['conflicts', 'config', 'c_flags', '--table', 'chat=shout'], t.hostEnv);
    expect(badStrategy.code).toBe(2);
    expect(badStrategy.stderr).toContain('use TABLE=STRATEGY');
    const noTable = await runMain(['conflicts', 'config', 'c_flags', '--table', 'chats=merge'], t.hostEnv);
    expect(noTable.code).toBe(2);
    expect(noTable.stderr).toContain('client "c_flags" has no table "chats"');
    const both = await runMain(['conflicts', 'config', 'c_flags', '--show', '--default-strategy', 'manual'], t.hostEnv);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('needs one of --file FILE, --show, or --default-strategy / --table');
    const badDefault = await runMain(['conflicts', 'config', 'c_flags', '--default-strategy', 'loudest'], t.hostEnv);
    expect(badDefault.code).toBe(2);
  });
});
