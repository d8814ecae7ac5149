import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { setConflictConfig } from '../src/ops/conflicts.ts';
import { AgentProc, api, apiSecret } from './agents.ts';
import { onCleanup, setupTenant, tmpDir, waitFor } from './helpers.ts';

// "notify": true on a table whose conflicts wait for review: the agent posts each such conflict once to the
// webhook, retrying a failed post, without row data unless the configuration asks for it.

const now = () => Math.floor(Date.now() / 1000);

/** A webhook: records every POST; answers 500 to the first `failFirst` of them, then 200 (or 500 always). */
async function webhook(o: { failFirst?: number; alwaysFail?: boolean } = {}) {
  const posts: { path: string; body: Record<string, unknown>; status: number }[] = [];
  let n = 0;
  const srv = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      const status = o.alwaysFail || n++ < (o.failFirst ?? 0) ? 500 : 200;
      posts.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown>, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise((r) => srv.close(r)));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook/t0ps3cr3t`, posts };
}

/** One agent that posts conflict notifications to the webhook, leading. */
async function notifyingAgent(t: Awaited<ReturnType<typeof setupTenant>>, nodeId: string, url: string) {
  const a = await AgentProc.start(t, {
    role: 'primary',
    nodeId,
    secretFile: apiSecret(tmpDir()).file,
    env: { OWUI_SYNC_NOTIFY_URL: url },
  });
  await a.until((h) => h.is_leader === true);
  return a;
}

async function conflictOn(t: Awaited<ReturnType<typeof setupTenant>>, notifyChat: boolean, snapshot: boolean) {
  const file = path.join(tmpDir(), 'conflicts.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      conflict_resolution: {
        default_strategy: 'newest_wins',
        table_strategies: { chat: { strategy: 'manual', notify: notifyChat }, user: { strategy: 'manual' } },
        resolution_log: { enabled: true, retention_days: 30, include_data_snapshot: snapshot },
      },
    }),
  );
  await setConflictConfig(t.sql, t.name, file);
  await t.sync();
  const chat = t.chatIds[0]!;
  const user = t.userIds[0]!;
  t.db.prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?').run('Local', now() + 100, chat);
  t.db.prepare('UPDATE user SET name = ?, updated_at = ? WHERE id = ?').run('Local name', now() + 100, user);
  await t.check.unsafe(`UPDATE ${t.name}.chat SET title = 'Remote' WHERE id = $1`, [chat]);
  await t.check.unsafe(`UPDATE ${t.name}."user" SET name = 'Remote name' WHERE id = $1`, [user]);
  const r = await t.sync();
  expect(r.conflicts_pending).toBe(2);
  return { chat, user };
}

describe('conflict notifications (notify: true)', () => {
  it('posts a waiting conflict once, after a failed attempt, with a readable text and no row data', async () => {
    const t = await setupTenant({ name: 'n_once', seed: { users: 1, chatsPerUser: 2 } });
    const hook = await webhook({ failFirst: 1 });
    const { chat } = await conflictOn(t, true, false);
    const a = await notifyingAgent(t, 'n-a', hook.url);
    await waitFor('a post the webhook took', () => hook.posts.some((p) => p.status === 200), { timeoutMs: 10_000 });
    await a.rounds(5); // 2.5 s of lease rounds, two notification rounds and more: nothing is posted again
    const ok = hook.posts.filter((p) => p.status === 200);
    expect(ok).toHaveLength(1);
    expect(hook.posts[0]!.status).toBe(500); // the first try failed, the retry went through
    const [log] = await t.check`select log_id, notified_at from sync_metadata.conflict_log where table_name = 'chat'`;
    const body = ok[0]!.body;
    expect(body).toMatchObject({ client: 'n_once', table: 'chat', record_id: chat, conflict_type: 'update_conflict' });
    expect(body.text).toContain(`Client n_once, table chat, record ${chat}, update conflict`);
    expect(body.text).toContain(`owui-sync conflicts resolve ${log!.log_id} --use source|target|merged`);
    expect(body).not.toHaveProperty('source_data');
    expect(JSON.stringify(body)).not.toContain('Remote');
    expect(log!.notified_at).not.toBeNull();
    // The user table's conflict waits too, but its configuration does not say notify.
    expect(hook.posts.every((p) => p.body.table === 'chat')).toBe(true);
    const m = await api(a.url, '/metrics');
    expect(m.text).toMatch(/owui_sync_conflict_notifications_total\{result="sent"\} 1\b/);
    // The webhook's path (its secret) is in no log line.
    expect(JSON.stringify(a.lines) + a.stderr).not.toContain('t0ps3cr3t');
    a.signal('SIGTERM');
    await a.exited;
  });

  it('a webhook that keeps failing: counted as failed and not marked sent (notify_attempts grows); row data only when asked', async () => {
    const t = await setupTenant({ name: 'n_fail', seed: { users: 1, chatsPerUser: 2 } });
    const hook = await webhook({ alwaysFail: true });
    await conflictOn(t, true, true);
    const a = await notifyingAgent(t, 'n-b', hook.url);
    await a.waitFor((l) => l.event === 'notification_failed', 30_000);
    const metrics = await waitFor('a failed notification counted', async () => {
      const m = (await api(a.url, '/metrics')).text;
      return /notifications_total\{result="failed"\} [1-9]/.test(m) && m;
    });
    expect(metrics).toMatch(/owui_sync_conflict_notifications_total\{result="failed"\} [1-9]/);
    expect(hook.posts[0]!.body).toHaveProperty('source_data'); // include_data_snapshot: true
    const warn = a.lines.find((l) => l.event === 'notification_failed')!;
    expect(warn.webhook).toBe(new URL(hook.url).origin);
    const [row] =
      await t.check`select notify_attempts, notified_at from sync_metadata.conflict_log where table_name = 'chat'`;
    expect(row!.notified_at).toBeNull();
    expect(row!.notify_attempts).toBeGreaterThanOrEqual(1);
    // The round's transaction outlives the retries (1.5 s of waits here, against the test agents' 1 s limit on an
    // idle transaction): no round failed.
    expect(a.lines.filter((l) => l.event === 'notification_round_failed')).toEqual([]);
    a.signal('SIGTERM');
    await a.exited;
  }, 60_000);
});
