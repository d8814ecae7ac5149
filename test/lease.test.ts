import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Lease } from '../src/cluster/lease.ts';
import { recordHeartbeat } from '../src/cluster/node-sql.ts';
import { openPg, type Sql, type Tx } from '../src/pg/connect.ts';
import { FencedError } from '../src/util/errors.ts';
import { setupTenant, type Tenant } from './helpers.ts';

/** The holder stopped renewing long ago: the lease row's expiry moved into the past instead of waiting it out. */
const expire = (t: Tenant) =>
  t.check`update sync_metadata.leader_election set expires_at = now() - interval '1 millisecond' where cluster_name = ${t.host}`;

describe('the leader lease (database clock, fencing term)', () => {
  it('has exactly one holder; renewing keeps the term; a takeover after expiry grows it; resigning hands over at once', async () => {
    const t = await setupTenant({ name: 'lease1' });
    const a = new Lease(t.sql, t.host, 'node-a', 1);
    const bSql = await openPg(t.hostUrl, 'test');
    const b = new Lease(bSql, t.host, 'node-b', 1);
    try {
      expect(await a.tryAcquire()).toMatchObject({ term: 1 });
      expect(await b.tryAcquire()).toBeNull();
      expect(await a.tryAcquire()).toMatchObject({ term: 1 });
      await expire(t); // a stops renewing: the lease runs out
      expect(await b.tryAcquire()).toMatchObject({ term: 2 });
      expect(await a.tryAcquire()).toBeNull();
      await b.resign();
      expect(await a.tryAcquire()).toMatchObject({ term: 3 });
      const [row] =
        await t.check`select leader_id, term::int from sync_metadata.leader_election where cluster_name = ${t.host}`;
      expect(row).toEqual({ leader_id: 'node-a', term: 3 });
    } finally {
      await bSql.end();
    }
  });

  it('is handed straight to a peer with a fresh heartbeat: the row is never without a live holder, the peer claims it', async () => {
    const t = await setupTenant({ name: 'lease5' });
    const a = new Lease(t.sql, t.host, 'node-a', 30);
    const bSql = await openPg(t.hostUrl, 'test');
    const b = new Lease(bSql, t.host, 'node-b', 30);
    const other = new Lease(bSql, t.host, 'node-c', 30);
    const row = async () =>
      (
        await t.check<{ leader_id: string; instance: string | null; term: number; live: boolean }[]>`
        select leader_id, leader_instance as instance, term::int, expires_at > now() as live
        from sync_metadata.leader_election where cluster_name = ${t.host}`
      )[0];
    try {
      const [h] = await t.check<
        { host_id: string }[]
      >`select host_id from sync_metadata.hosts where hostname = ${t.host}`;
      expect(await a.tryAcquire()).toMatchObject({ term: 1 });
      // No peer has a heartbeat: the lease expires at once (as before).
      expect(await a.resign(60)).toEqual({ handedTo: null });
      expect((await row())!.live).toBe(false);
      expect(await a.tryAcquire()).toMatchObject({ term: 2 });
      // node-b's heartbeat is fresh: the lease goes to it, live, with a new term and no instance yet.
      await recordHeartbeat(t.sql, h!.host_id, 'node-b', { url: 'http://127.0.0.1:1' });
      expect(await a.resign(60)).toEqual({ handedTo: 'node-b' });
      expect(a.current).toBeNull();
      expect(await row()).toEqual({ leader_id: 'node-b', instance: null, term: 3, live: true });
      // Nobody else may take it (not even the old leader), node-b's process claims it and keeps the term.
      expect(await a.tryAcquire()).toBeNull();
      expect(await other.tryAcquire()).toBeNull();
      expect(await b.tryAcquire()).toMatchObject({ term: 3 });
      expect(await row()).toEqual({ leader_id: 'node-b', instance: b.instance, term: 3, live: true });
      await bSql.begin((tx) => b.fence(tx as Tx));
      // A heartbeat older than the freshness window is no peer: the lease expires instead.
      expect(await b.resign(0.001)).toEqual({ handedTo: null });
    } finally {
      await bSql.end();
    }
  });

  it("refuses a stale leader's batch after a takeover: nothing of it lands after the new term starts", async () => {
    const t = await setupTenant({ name: 'lease2', seed: { users: 2, chatsPerUser: 200 } });
    const old = new Lease(t.sql, t.host, 'node-old', 30);
    const nSql = await openPg(t.hostUrl, 'test');
    const next = new Lease(nSql, t.host, 'node-new', 30);
    try {
      expect(await old.tryAcquire()).toMatchObject({ term: 1 });
      let batches = 0;
      let takeover: Promise<unknown> | undefined;
      const res = await t.sync({
        batchRows: 50,
        hooks: { beforeCommit: (tx) => old.fence(tx) },
        onProgress: () => {
          batches++;
          if (batches === 2) {
            // The old leader is paused past its lease (as by SIGSTOP); the peer takes over.
            takeover =
              t.check`update sync_metadata.leader_election set expires_at = now() - interval '1 second', acquired_at = now() - interval '1 minute' where cluster_name = ${t.host}`.then(
                () => next.tryAcquire(),
              );
          }
        },
      });
      expect(res.status).toBe('failed');
      expect(res.error).toContain('lost the lease');
      // The expired lease alone stops the run; the takeover may answer after it.
      await takeover;
      expect(next.current).toMatchObject({ term: 2 });
      // The run stopped at its last committed batch: the rest is left for the new leader.
      const [n] = await t.check`select count(*)::int as n from lease2.chat_message`;
      const src = (t.db.prepare('SELECT count(*) AS n FROM chat_message').get() as { n: number }).n;
      expect(n!.n).toBeLessThan(src);
      const resumed = await t.sync({ hooks: { beforeCommit: (tx) => next.fence(tx) } });
      expect(resumed.status).toBe('success');
      expect((await t.verify()).identical).toBe(true);
    } finally {
      await nSql.end();
    }
  });

  it('makes a takeover wait for a batch in flight (the lease row is held until the batch commits)', async () => {
    const t = await setupTenant({ name: 'lease3' });
    const a = new Lease(t.sql, t.host, 'node-a', 1);
    const bSql: Sql = await openPg(t.hostUrl, 'test');
    const b = new Lease(bSql, t.host, 'node-b', 1);
    try {
      await a.tryAcquire();
      let committedAt = 0;
      let takenAt = 0;
      const batch = t.sql.begin(async (tx) => {
        await a.fence(tx as Tx);
        await sleep(1800); // a long batch: the lease runs out meanwhile
        committedAt = Date.now();
      });
      await sleep(1300); // the lease (1 s) runs out while the batch holds its row: here time must pass
      const takeover = b.tryAcquire().then((s) => {
        takenAt = Date.now();
        return s;
      });
      await batch;
      expect(await takeover).toMatchObject({ term: 2 });
      expect(takenAt).toBeGreaterThanOrEqual(committedAt);
      await expect(t.sql.begin((tx) => a.fence(tx as Tx))).rejects.toBeInstanceOf(FencedError);
    } finally {
      await bSql.end();
    }
  });

  it('belongs to one process: a restarted node (or a twin with the same node id) waits for the lease like any other', async () => {
    const t = await setupTenant({ name: 'lease4' });
    const first = new Lease(t.sql, t.host, 'node-a', 1);
    const bSql: Sql = await openPg(t.hostUrl, 'test');
    const twin = new Lease(bSql, t.host, 'node-a', 1);
    try {
      expect(first.instance).not.toBe(twin.instance);
      expect(await first.tryAcquire()).toMatchObject({ term: 1 });
      expect(await twin.tryAcquire()).toBeNull();
      expect(await first.tryAcquire()).toMatchObject({ term: 1 });
      await expire(t);
      expect(await twin.tryAcquire()).toMatchObject({ term: 2 });
      expect(await first.tryAcquire()).toBeNull();
      await expect(t.sql.begin((tx) => first.fence(tx as Tx))).rejects.toBeInstanceOf(FencedError);
    } finally {
      await bSql.end();
    }
  });
});
