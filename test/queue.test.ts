import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { channel } from '../src/cluster/channels.ts';
import { Lease } from '../src/cluster/lease.ts';
import { claim, enqueue, enqueueDue, jobFence, purgeHistory, releaseJob, renewJob } from '../src/cluster/queue.ts';
import { openPg } from '../src/pg/connect.ts';
import { FencedError } from '../src/util/errors.ts';
import { setupTenant } from './helpers.ts';

/** The queue's statements, as the host role, on a real PostgreSQL: two connections play the two nodes. */
describe('the work queue (sync_jobs)', () => {
  it('keeps one active job per deployment, lets two nodes claim without waiting, hands an expired claim over, fences the old owner, and purges only finished history', async () => {
    const t = await setupTenant({ name: 'q1' });
    const other = await openPg(t.hostUrl, 'test');
    try {
      // No claim before there is a lease row: a job is always stamped with a term.
      const e1 = await enqueue(t.sql, t.host, 'q1', { full: false, triggeredBy: 'test' });
      expect(e1).toMatchObject({ created: true, status: 'pending' });
      expect(await claim(t.sql, t.host, 'n1', 1)).toBeNull();
      const lease = new Lease(t.sql, t.host, 'n1', 30);
      expect(await lease.tryAcquire()).toMatchObject({ term: 1 });

      // One active job per deployment: a second request is the same job (made full).
      const e2 = await enqueue(t.sql, t.host, 'q1', { full: true, triggeredBy: 'test' });
      expect(e2).toEqual({ job_id: e1.job_id, created: false, status: 'pending' });
      expect(await enqueueDue(t.sql, t.host)).toBe(0); // due (never scheduled), but it has an active job
      await expect(enqueue(t.sql, t.host, 'nobody', { full: false, triggeredBy: 'test' })).rejects.toThrow(
        'not registered',
      );

      // Two nodes claim at once: exactly one gets the job, neither waits.
      const [c1, c2] = await Promise.all([claim(t.sql, t.host, 'n1', 1), claim(other, t.host, 'n2', 1)]);
      expect([c1, c2].filter(Boolean)).toHaveLength(1);
      const job = (c1 ?? c2)!;
      const owner = c1 ? 'n1' : 'n2';
      const [ownerSql, otherSql, otherId] = c1 ? [t.sql, other, 'n2'] : [other, t.sql, 'n1'];
      expect(job).toMatchObject({ job_id: e1.job_id, claims: 1, term: 1, full_sync: true, reclaimed_from: null });
      expect(await renewJob(ownerSql, job, owner, 1)).toBe(true);
      expect(await renewJob(otherSql, job, otherId, 1)).toBe(false);
      await ownerSql.begin((tx) => jobFence(t.host, owner, job)(tx));

      // The owner stops renewing (dead or paused): after its visibility timeout the other node takes it.
      expect(await claim(otherSql, t.host, otherId, 30)).toBeNull();
      await sleep(1200);
      const taken = await claim(otherSql, t.host, otherId, 30);
      expect(taken).toMatchObject({ job_id: e1.job_id, claims: 2, reclaimed_from: owner });
      await expect(ownerSql.begin((tx) => jobFence(t.host, owner, job)(tx))).rejects.toBeInstanceOf(FencedError);
      expect(await renewJob(ownerSql, job, owner, 30)).toBe(false);
      expect(await releaseJob(ownerSql, t.host, job, owner, 0, 'late')).toBe(false);
      // The new owner hands it back (its deployment was busy): pending again, and not finished.
      expect(await releaseJob(otherSql, t.host, taken!, otherId, 0, 'busy')).toBe(true);
      const [back] =
        await t.check`select status, locked_by, completed_at, metadata->>'last_release' as why from sync_metadata.sync_jobs where job_id = ${e1.job_id}`;
      expect(back).toEqual({ status: 'pending', locked_by: null, completed_at: null, why: 'busy' });

      // A takeover ends the term the job was claimed under: its batches are refused from then on.
      const again = (await claim(t.sql, t.host, 'n1', 30))!;
      await t.check`update sync_metadata.leader_election set expires_at = now() - interval '1 second', acquired_at = now() - interval '1 minute' where cluster_name = ${t.host}`;
      expect(await new Lease(other, t.host, 'n9', 30).tryAcquire()).toMatchObject({ term: 2 });
      await expect(t.sql.begin((tx) => jobFence(t.host, 'n1', again)(tx))).rejects.toBeInstanceOf(FencedError);

      // History: finished jobs older than the retention go, through the purge function; pending ones stay.
      await t.check`update sync_metadata.sync_jobs set status = 'success' where job_id = ${e1.job_id}`;
      const e3 = await enqueue(t.sql, t.host, 'q1', { full: false, triggeredBy: 'test' });
      await t.check`update sync_metadata.sync_jobs set started_at = now() - interval '40 days', completed_at = now() - interval '40 days'`;
      expect(await purgeHistory(t.sql, 30)).toBe(1);
      const left = await t.check`select job_id, status from sync_metadata.sync_jobs`;
      expect(left).toEqual([{ job_id: e3.job_id, status: 'pending' }]);
      await expect(t.sql`delete from sync_metadata.sync_jobs`).rejects.toThrow(/permission denied/);
    } finally {
      await other.end();
    }
  });
  it('makes a request during a run wait for it: the run read the tenant before, so the next one starts when it ends', async () => {
    const t = await setupTenant({ name: 'q2' });
    const lease = new Lease(t.sql, t.host, 'n1', 30);
    expect(await lease.tryAcquire()).toMatchObject({ term: 1 });
    const first = await enqueue(t.sql, t.host, 'q2', { full: false, triggeredBy: 'schedule' });
    const running = (await claim(t.sql, t.host, 'n1', 30))!;
    expect(running.job_id).toBe(first.job_id);

    // Two requests while it runs: one waiting job, made full by the second; nothing to claim yet.
    const w1 = await enqueue(t.sql, t.host, 'q2', { full: false, triggeredBy: 'api' });
    expect(w1).toMatchObject({ created: true, status: 'waiting', after_job_id: first.job_id });
    expect(w1.job_id).not.toBe(first.job_id);
    const w2 = await enqueue(t.sql, t.host, 'q2', { full: true, triggeredBy: 'api' });
    expect(w2).toEqual({ job_id: w1.job_id, created: false, status: 'waiting', after_job_id: first.job_id });
    expect(await claim(t.sql, t.host, 'n1', 30)).toBeNull();
    // History retention keeps it, however long the run takes.
    await t.check`update sync_metadata.sync_jobs set started_at = now() - interval '40 days' where job_id = ${w1.job_id}`;
    expect(await purgeHistory(t.sql, 30)).toBe(0);

    // The run ends (here it fails): in that same transaction the waiting job becomes pending, full, and claimable.
    const listener = await openPg(t.url, 'test');
    const woke: string[] = [];
    try {
      await listener.listen(channel('jobs', t.host), (p) => woke.push(p));
      await t.sql`update sync_metadata.sync_jobs set status = 'failed' where job_id = ${first.job_id}`;
      const next = (await claim(t.sql, t.host, 'n1', 30))!;
      expect(next).toMatchObject({ job_id: w1.job_id, full_sync: true });
      await expect.poll(() => woke, { timeout: 2000 }).toEqual([t.host]);
    } finally {
      await listener.end();
    }
    // A job that is pending has read nothing yet: a request joins it.
    await t.sql`update sync_metadata.sync_jobs set status = 'success' where job_id = ${w1.job_id}`;
    const p = await enqueue(t.sql, t.host, 'q2', { full: false, triggeredBy: 'api' });
    expect(await enqueue(t.sql, t.host, 'q2', { full: false, triggeredBy: 'api' })).toEqual({
      job_id: p.job_id,
      created: false,
      status: 'pending',
    });
  });
});
