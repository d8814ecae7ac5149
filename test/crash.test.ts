import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runCli, setupTenant, trackChild } from './helpers.ts';

describe('a sync killed with SIGKILL in the middle of a run', () => {
  it('resumes from its last committed batch and converges with no duplicates', async () => {
    const t = await setupTenant({ name: 'crash', seed: { users: 4, chatsPerUser: 400, messagesPerChat: 4 } });
    const env = t.hostEnv;
    let pid = 0;
    const run = runCli(['sync', 'crash', '--batch-size', '20'], env, {
      onSpawn: (p) => {
        trackChild(p);
        pid = p;
      },
    });
    // Wait until some batches are committed in the middle of a table, then kill without warning.
    let midway = false;
    for (let i = 0; i < 400 && !midway; i++) {
      await sleep(25);
      const [r] =
        await t.check`select count(*)::int as n from sync_metadata.table_checkpoints where scan_key is not null`;
      midway = r!.n > 0;
    }
    expect(midway).toBe(true);
    process.kill(pid, 'SIGKILL');
    const killed = await run;
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
});
