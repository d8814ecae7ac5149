import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type CliResult, runCli, setupTenant, type Tenant, trackChild } from './helpers.ts';

/**
 * Start `owui-sync sync ARGS` as a process, wait until some batches are committed in the middle of a table
 * (of `table`, or of any), then kill it without warning. Returns how it ended.
 */
async function killMidway(t: Tenant, args: string[], table?: string): Promise<CliResult> {
  let pid = 0;
  const run = runCli(['sync', ...args, '--batch-size', '20'], t.hostEnv, {
    onSpawn: (p) => {
      trackChild(p);
      pid = p;
    },
  });
  let midway = false;
  for (let i = 0; i < 400 && !midway; i++) {
    await sleep(25);
    const [r] = await t.check`
      select count(*)::int as n from sync_metadata.table_checkpoints
      where scan_key is not null and (${table ?? null}::text is null or table_name = ${table ?? null})`;
    midway = r!.n > 0;
  }
  expect(midway).toBe(true);
  process.kill(pid, 'SIGKILL');
  return run;
}

describe('a sync killed with SIGKILL in the middle of a run', () => {
  it('resumes from its last committed batch and converges with no duplicates', async () => {
    const t = await setupTenant({ name: 'crash', seed: { users: 4, chatsPerUser: 400, messagesPerChat: 4 } });
    const env = t.hostEnv;
    const killed = await killMidway(t, ['crash']);
    expect(killed.signal).toBe('SIGKILL');
    const [before] = await t.check`select count(*)::int as n from crash.chat_message`;
    const src = t.db.prepare('SELECT count(*) AS n FROM chat_message').get() as { n: number };
    expect(before!.n).toBeLessThan(src.n);
    const [cp] =
      await t.check`select table_name, scan_key from sync_metadata.table_checkpoints where scan_key is not null`;
    expect(cp).toBeDefined();

    const again = await runCli(['sync', 'crash', '--json'], env);
    expect(again.code).toBe(0);
    const res = JSON.parse(again.stdout);
    const resumed = res.tables.find((x: { table: string }) => x.table === cp!.table_name);
    // The interrupted table continued after its checkpoint: it did not read the whole table again.
    const total = (t.db.prepare(`SELECT count(*) AS n FROM "${cp!.table_name}"`).get() as { n: number }).n;
    expect(resumed.rows_read).toBeLessThan(total);

    const [after] = await t.check`select count(*)::int as n, count(distinct id)::int as d from crash.chat_message`;
    expect(after).toEqual({ n: src.n, d: src.n });
    expect((await t.verify()).identical).toBe(true);
    const jobs = await t.check`select status, error_message from sync_metadata.sync_jobs order by started_at`;
    expect(jobs.map((j) => j.status)).toEqual(['failed', 'success']);
    expect(jobs[0]!.error_message).toContain('abandoned');
  });

  it('leaves an interrupted --full to the next run, whatever its kind: the tables it had not reached are scanned in full', async () => {
    const t = await setupTenant({ name: 'fullkill', seed: { users: 4, chatsPerUser: 300, messagesPerChat: 4 } });
    expect((await t.sync()).status).toBe('success');
    // Edits Open WebUI makes without bumping updated_at, in a table after chat_message (tables go by name),
    // and a hard delete: only a full scan sees them.
    const user = t.userIds[0]!;
    t.db.prepare("UPDATE user SET role = 'pending' WHERE id = ?").run(user);
    t.db.prepare('DELETE FROM chat WHERE id = ?').run(t.chatIds[0]!);
    expect((await killMidway(t, ['fullkill', '--full'], 'chat_message')).signal).toBe('SIGKILL');
    const [stale] = await t.check`select role from fullkill."user" where id = ${user}`;
    expect(stale!.role).not.toBe('pending');

    // One plain run, not --full: it finishes the pass.
    const res = await t.sync();
    expect(res.status).toBe('success');
    expect(res.kind).toBe('reconcile');
    const mode = Object.fromEntries(res.tables.map((x) => [x.table, x.mode]));
    expect(mode.user).toBe('full');
    expect(mode.chat).toBe('light'); // scanned in full by the killed pass already: compared in its light form
    expect((await t.verify()).identical).toBe(true);
    const [dep] =
      await t.check`select runs_since_reconcile from sync_metadata.client_deployments where client_name = 'fullkill'`;
    expect(dep!.runs_since_reconcile).toBe(0);
    // And the run after that is an ordinary one again.
    t.db.prepare("UPDATE chat SET title = 'renamed', updated_at = updated_at + 1 WHERE id = ?").run(t.chatIds[1]!);
    expect((await t.sync()).kind).toBe('incremental');
  });

  it('is exact after a --full killed at random points, each followed by one plain run', async () => {
    const t = await setupTenant({ name: 'randkill', seed: { users: 3, chatsPerUser: 200, messagesPerChat: 4 } });
    expect((await t.sync()).status).toBe('success');
    for (let trial = 0; trial < 3; trial++) {
      // Changes of every kind before each: un-bumped edits, a hard delete, an old-dated import.
      t.db.prepare('UPDATE user SET role = ? WHERE id = ?').run(`role-${trial}`, t.userIds[trial % 3]!);
      t.db.prepare('UPDATE chat SET archived = ? WHERE user_id = ?').run(trial % 2, t.userIds[1]!);
      t.db.prepare('DELETE FROM chat_message WHERE chat_id = ?').run(t.chatIds[trial]!);
      t.db.prepare('DELETE FROM chat WHERE id = ?').run(t.chatIds[trial]!);
      const delay = 100 + Math.floor(Math.random() * 2500);
      let pid = 0;
      const run = runCli(['sync', 'randkill', '--full', '--batch-size', '20'], t.hostEnv, {
        onSpawn: (p) => {
          trackChild(p);
          pid = p;
        },
      });
      await Promise.race([sleep(delay), run]);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* it had finished */
      }
      const ended = await run;
      const res = await t.sync();
      expect(res.status, `trial ${trial}, killed after ${delay} ms (${ended.signal ?? 'finished'})`).toBe('success');
      const v = await t.verify();
      expect(
        v.identical,
        `trial ${trial}, killed after ${delay} ms: ${JSON.stringify(v.differences).slice(0, 300)}`,
      ).toBe(true);
    }
  });
});
