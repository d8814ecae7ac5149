import { describe, expect, it } from 'vitest';
import { AgentProc, api, apiSecret, LEASE_PLUS_RETRY_MS } from './agents.ts';
import { pgProxy, setupTenant, tmpDir, waitFor } from './helpers.ts';

/**
 * Two real agent processes on one PostgreSQL, real signals. Timings are shortened (lease 2 s) through
 * the same environment variables an operator sets.
 */
describe('the HA agent pair', () => {
  it('elects exactly one leader, syncs the first time at once, and fails over on kill -9 within lease + retry (spec test 1)', async () => {
    const t = await setupTenant({ name: 'ha1' });
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'ha1-a', secretFile: s.file });
    const b = await AgentProc.start(t, { role: 'secondary', nodeId: 'ha1-b', secretFile: s.file });
    await a.until((h) => h.is_leader === true);
    await b.until((h) => h.leader_id === 'ha1-a' && h.is_leader === false);
    const ha = (await a.health()).body;
    expect(ha).toMatchObject({
      status: 'ok',
      node_id: 'ha1-a',
      role: 'primary',
      is_leader: true,
      leader_id: 'ha1-a',
      cluster_name: t.host,
      database: { reachable: true },
    });
    expect(typeof ha.uptime_seconds).toBe('number');
    // The first sync of a new deployment is due at once.
    await a
      .waitFor((l) => l.event === 'sync_finished' || l.event === 'sync_failed', 20_000)
      .catch(() => b.waitFor((l) => l.event === 'sync_finished', 5000));
    const [job] =
      await t.check`select status, triggered_by, locked_by, error_message, queued_at is not null as queued from sync_metadata.sync_jobs where client_name = 'ha1'`;
    expect(job, JSON.stringify(job)).toMatchObject({ status: 'success', triggered_by: 'schedule', queued: true });
    expect((await t.verify()).identical).toBe(true);
    const leases =
      await t.check`select leader_id, term::int from sync_metadata.leader_election where cluster_name = ${t.host}`;
    expect(leases).toEqual([{ leader_id: 'ha1-a', term: 1 }]);

    // kill -9 the leader: the follower takes over once the lease runs out.
    const killedAt = performance.now();
    a.signal('SIGKILL');
    await a.exited;
    await b.until((h) => h.is_leader === true, 10_000, 25);
    const takeover = performance.now() - killedAt;
    expect(takeover).toBeLessThan(LEASE_PLUS_RETRY_MS + 1000);
    expect((await b.health()).body).toMatchObject({ is_leader: true, leader_id: 'ha1-b', term: 2 });

    // The old primary comes back and follows, and stays a follower: five of its lease rounds, each one refused.
    const a2 = await AgentProc.start(t, { role: 'primary', nodeId: 'ha1-a', secretFile: s.file });
    await a2.until((h) => h.leader_id === 'ha1-b' && h.is_leader === false);
    await a2.rounds(5);
    expect(a2.events('round').every((l) => l.leader === false)).toBe(true);
    expect(a2.events('elected')).toEqual([]);
    expect((await a2.health()).body).toMatchObject({ is_leader: false, leader_id: 'ha1-b' });
    expect((await b.health()).body).toMatchObject({ is_leader: true });
    const metrics = (await api(b.url, '/metrics')).text;
    expect(metrics).toMatch(/leader_elections_total\{result="won"\} 1/);
    expect(metrics).toMatch(/sync_container_is_leader\{node_id="ha1-b"\} 1/);
    a2.signal('SIGTERM');
    b.signal('SIGTERM');
    expect(await a2.exited).toEqual({ code: 0, signal: null });
    expect(await b.exited).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('hands over within 5 s on SIGTERM of the leader, which exits cleanly', async () => {
    const t = await setupTenant({ name: 'ha2' });
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'ha2-a', secretFile: s.file });
    await a.until((h) => h.is_leader === true);
    const b = await AgentProc.start(t, { role: 'secondary', nodeId: 'ha2-b', secretFile: s.file });
    await b.until((h) => h.leader_id === 'ha2-a');
    const t0 = performance.now();
    a.signal('SIGTERM');
    const took = await b.until((h) => h.is_leader === true, 5000, 20);
    const exit = await a.exited;
    const exitMs = performance.now() - t0;
    expect(took).toBeLessThan(5000);
    expect(exit).toEqual({ code: 0, signal: null });
    // Nothing keeps the process alive once it has stopped (the shutdown's grace timer did, for 2.5 s).
    expect(exitMs).toBeLessThan(2000);
    // Handed straight to the follower, whose heartbeat is fresh: the lease never lapsed.
    expect(a.lines.some((l) => l.event === 'resigned' && l.handed_to === 'ha2-b')).toBe(true);
    const [lease] =
      await t.check`select leader_id, term::int from sync_metadata.leader_election where cluster_name = ${t.host}`;
    expect(lease).toEqual({ leader_id: 'ha2-b', term: 2 });
    b.signal('SIGTERM');
    await b.exited;
  }, 60_000);

  /** A tenant big enough, with batches small enough, that a full sync takes several seconds. */
  async function slowTenant(name: string) {
    const t = await setupTenant({ name, seed: { users: 4, chatsPerUser: 300, messagesPerChat: 2 } });
    // Test-only audit: which session wrote the mirror's chat table, and when (rolled back with its batch).
    await t.check.unsafe(`
      create table if not exists public.write_audit (app text, at timestamptz default clock_timestamp());
      create or replace function public.audit_write() returns trigger language plpgsql security definer set search_path = pg_catalog as $$
      begin insert into public.write_audit (app) values (current_setting('application_name')); return null; end $$;
      create trigger audit_write after insert or update on "${name}".chat for each statement execute function public.audit_write();`);
    return t;
  }
  const SLOW = { OWUI_SYNC_BATCH_ROWS: '5', OWUI_SYNC_CONCURRENCY: '1' };

  it('finishes the job of a node killed with kill -9 on the other node (reclaimed after its visibility timeout)', async () => {
    const t = await slowTenant('ha3');
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'ha3-a', secretFile: s.file, env: SLOW });
    await a.waitFor((l) => l.event === 'sync_started');
    const b = await AgentProc.start(t, { role: 'secondary', nodeId: 'ha3-b', secretFile: s.file, env: SLOW });
    await b.until((h) => h.leader_id === 'ha3-a');
    const before = await waitFor(
      "the job row to show a's claim",
      async () => {
        const [j] =
          await t.check`select job_id, status, locked_by from sync_metadata.sync_jobs where client_name = 'ha3'`;
        return j?.status === 'running' && j;
      },
      { timeoutMs: 10_000, stepMs: 25 },
    );
    expect(before).toMatchObject({ status: 'running', locked_by: 'ha3-a' });
    a.signal('SIGKILL');
    await a.exited;
    await b.waitFor((l) => l.event === 'job_reclaimed', 15_000);
    await b.waitFor((l) => l.event === 'sync_finished', 60_000);
    const jobs =
      await t.check`select job_id, status, locked_by, claims from sync_metadata.sync_jobs where client_name = 'ha3' order by started_at`;
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ job_id: before!.job_id, status: 'success', locked_by: 'ha3-b', claims: 2 });
    expect((await t.verify()).identical).toBe(true);
    expect((await api(b.url, '/metrics')).text).toMatch(/owui_sync_jobs_claimed_total\{kind="reclaimed"\} 1/);
    b.signal('SIGTERM');
    await b.exited;
  }, 90_000);

  it('fences a paused leader: after SIGSTOP past its lease and a takeover, its in-flight batch is refused on SIGCONT and it rejoins as follower', async () => {
    const t = await slowTenant('ha4');
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'ha4-a', secretFile: s.file, env: SLOW });
    await a.waitFor((l) => l.event === 'sync_started');
    const b = await AgentProc.start(t, { role: 'secondary', nodeId: 'ha4-b', secretFile: s.file, env: SLOW });
    await b.until((h) => h.leader_id === 'ha4-a');
    // a is mid-run: batches of its worker are landing.
    const landed = async () =>
      (
        await t.check`select count(*)::int as n from public.write_audit where app = 'owui-sync agent ha4-a worker 0'`
      )[0]!.n as number;
    await expect.poll(landed, { timeout: 10_000, interval: 25 }).toBeGreaterThan(0);
    a.signal('SIGSTOP');
    await b.until((h) => h.is_leader === true && h.term === 2, 15_000);
    // Past the job's visibility timeout too, without waiting it out: the peer reclaims the job.
    await t.check`update sync_metadata.sync_jobs set locked_until = now() - interval '1 second' where client_name = 'ha4' and status = 'running'`;
    await b.event('job_reclaimed', () => true, 15_000);
    a.signal('SIGCONT');
    const fenced = await a.waitFor((l) => l.event === 'fenced', 15_000);
    await a.until((h) => h.is_leader === false && h.leader_id === 'ha4-b', 10_000);
    // Nothing written by the old leader's run landed after the new term began (up to the moment its
    // run stopped; afterwards, as a follower, it may claim the job again under the new term).
    const [{ n: late }] = await t.check`
      select count(*)::int as n from public.write_audit w, sync_metadata.leader_election l
      where w.app = 'owui-sync agent ha4-a worker 0' and l.cluster_name = ${t.host}
        and w.at > l.acquired_at::timestamptz and w.at <= ${fenced.time as string}::timestamptz`;
    expect(late).toBe(0);
    // The job is finished (by either node), from the last committed batch.
    await Promise.race([
      a.waitFor((l) => l.event === 'sync_finished', 60_000),
      b.waitFor((l) => l.event === 'sync_finished', 60_000),
    ]);
    const [job] = await t.check`select status from sync_metadata.sync_jobs where client_name = 'ha4'`;
    expect(job).toMatchObject({ status: 'success' });
    expect((await t.verify()).identical).toBe(true);
    expect((await api(a.url, '/metrics')).text).toMatch(/owui_sync_fenced_runs_total 1/);
    a.signal('SIGTERM');
    b.signal('SIGTERM');
    await Promise.all([a.exited, b.exited]);
  }, 90_000);

  it('runs a deployment at its interval (here 2 s), each job started within a second of its due time', async () => {
    const t = await setupTenant({ name: 'ha5' });
    await t.check`update sync_metadata.client_deployments set sync_interval = 2 where client_name = 'ha5'`;
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'ha5-a', secretFile: s.file });
    await a.until((h) => h.is_leader === true);
    const jobs = await waitFor(
      'four scheduled jobs to finish',
      async () => {
        const rows = await t.check<{ status: string; due: number; late: number }[]>`
          select status, extract(epoch from available_at)::float as due, extract(epoch from (started_at::timestamptz - available_at))::float as late
          from sync_metadata.sync_jobs where client_name = 'ha5' and triggered_by = 'schedule' and status not in ('pending', 'running') order by available_at`;
        return rows.length >= 4 && rows;
      },
      { timeoutMs: 15_000, stepMs: 100 },
    );
    for (const j of jobs) {
      expect(j.status).toBe('success');
      expect(j.late).toBeLessThan(1);
    }
    // The first interval after registration is shortened (by a hash of the deployment, to at least half);
    // from then on the deployment keeps its own phase.
    expect(jobs[1]!.due - jobs[0]!.due).toBeGreaterThanOrEqual(0.99);
    expect(jobs[1]!.due - jobs[0]!.due).toBeLessThanOrEqual(2.01);
    for (let i = 2; i < jobs.length; i++) expect(jobs[i]!.due - jobs[i - 1]!.due).toBeCloseTo(2, 1);
    a.signal('SIGTERM');
    await a.exited;
  }, 60_000);

  it("keeps PostgreSQL the authority for state: PUT on either node lands there first, the peer's cache is invalidated, and the state survives the leader (spec test 3)", async () => {
    const t = await setupTenant({ name: 'test' });
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'st-a', secretFile: s.file });
    await a.until((h) => h.is_leader === true);
    const b = await AgentProc.start(t, {
      role: 'secondary',
      nodeId: 'st-b',
      secretFile: s.file,
      env: { OWUI_SYNC_STATE_CACHE_TTL: '300' },
    });
    await b.until((h) => h.leader_id === 'st-a');
    const token = await s.token();
    // b caches the current state (a 5-minute cache).
    expect((await api(b.url, '/api/v1/state', { token })).body).toMatchObject({
      source: 'database',
      states: [{ client: 'test', status: 'active' }],
    });
    expect((await api(b.url, '/api/v1/state', { token })).body).toMatchObject({ source: 'cache', stale: false });

    // The specification's call, as written (curl -d sends form encoding), plus a token.
    const put = await api(a.url, '/api/v1/state', {
      method: 'PUT',
      token,
      body: '{"client":"test","status":"migrating"}',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(put.status).toBe(200);
    const [row] = await t.check`select status from sync_metadata.client_deployments where client_name = 'test'`;
    expect(row).toEqual({ status: 'migrating' });
    // b's cache was invalidated by the notification: it reads the new state at once.
    const got = await api(b.url, '/api/v1/state', { token });
    expect(got.text).toContain('"status":"migrating"');
    expect(got.body).toMatchObject({ source: 'database' });
    const [event] =
      await t.check`select cache_key, action, origin_node from sync_metadata.cache_events order by seq desc limit 1`;
    expect(event).toEqual({ cache_key: 'deployment:test', action: 'invalidate', origin_node: 'st-a' });

    // A PUT on the follower is forwarded to the leader.
    const fwd = await api(b.url, '/api/v1/state', {
      method: 'PUT',
      token,
      body: JSON.stringify({ client: 'test', status: 'paused' }),
    });
    expect(fwd.status).toBe(200);
    expect(fwd.headers.get('x-owui-sync-forwarded-to')).toBe('st-a');
    expect(fwd.body).toMatchObject({ status: 'paused', node_id: 'st-a' });
    await api(a.url, '/api/v1/state', { method: 'PUT', token, body: '{"client":"test","status":"migrating"}' });

    // A node that missed notifications applies the cache_events written meanwhile when it reconnects.
    await t.check`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'owui-sync agent st-b'`;
    await api(a.url, '/api/v1/state', { method: 'PUT', token, body: '{"client":"test","sync_interval":"1h"}' });
    await b.waitFor((l) => l.event === 'listen' && l.up === true, 10_000);
    expect(b.lines.find((l) => l.event === 'cache_replayed')).toMatchObject({
      events: 1,
    });
    const [seen] = await t.check`select processed_by from sync_metadata.cache_events order by seq desc limit 1`;
    expect(seen).toEqual({ processed_by: 'st-b' });

    // Kill the primary: the secondary reads the state PostgreSQL holds.
    a.signal('SIGKILL');
    await a.exited;
    const after = await api(b.url, '/api/v1/state?client=test', { token });
    expect(after.text).toContain('"status":"migrating"');
    expect(after.body).toMatchObject({ client: 'test', sync_interval: 3600 });
    b.signal('SIGTERM');
    await b.exited;
  }, 60_000);

  it('exits within seconds on SIGTERM while a sync runs and PostgreSQL stops answering', async () => {
    const t = await slowTenant('gone');
    // PostgreSQL through a proxy of the test's own, which can go silent: connections stay open and nothing
    // answers (a network partition), so the driver's own timeouts (30 s to connect) would be all that ends a wait.
    const proxy = await pgProxy(new URL(t.hostEnv.OWUI_SYNC_DATABASE_URL!));
    const via = proxy.url;
    try {
      const s = apiSecret(tmpDir());
      const a = await AgentProc.start(t, {
        role: 'primary',
        nodeId: 'gone-a',
        secretFile: s.file,
        env: { ...SLOW, OWUI_SYNC_DATABASE_URL: via.toString() },
      });
      await a.waitFor((l) => l.event === 'sync_started');
      proxy.silence();
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      a.signal('SIGTERM');
      const exit = await a.exited;
      const ms = performance.now() - t0;
      // The grace for the run (2.5 s), the resignation (at most 2 s), the pools' end (1 s), then out a second after
      // the API closed: within a plain `docker stop`'s 10 s, not after the driver's timeouts (88 s without that).
      console.log(`SIGTERM with PostgreSQL silent: exited after ${Math.round(ms)} ms`);
      expect(ms).toBeLessThan(9500);
      expect(exit.signal).toBeNull();
    } finally {
      await proxy.close();
    }
  }, 90_000);

  it('keeps serving health when PostgreSQL is lost (degraded, then unhealthy), serves cached state only marked stale, steps down, and recovers', async () => {
    const t = await setupTenant({ name: 'lost' });
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'lost-a', secretFile: s.file });
    await a.until((h) => h.is_leader === true && h.status === 'ok');
    const token = await s.token();
    expect((await api(a.url, '/api/v1/state', { token })).body).toMatchObject({ stale: false });
    const role = t.role;
    await t.check.unsafe(`alter role "${role.replaceAll('"', '""')}" nologin`);
    await t.check`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role}`;
    await a.until((h) => h.status === 'degraded' && (h.database as { reachable: boolean }).reachable === false, 10_000);
    // At once, not after the pool's reconnects while the login is refused.
    const asked = performance.now();
    const cached = await api(a.url, '/api/v1/state', { token });
    expect(performance.now() - asked).toBeLessThan(5000);
    expect(cached.status).toBe(200);
    expect(cached.body).toMatchObject({ source: 'cache', stale: true, states: [{ client: 'lost' }] });
    expect(cached.headers.get('warning')).toContain('Stale');
    await a.until((h) => h.status === 'unhealthy' && h.is_leader === false, 10_000);
    expect((await a.health()).status).toBe(503);
    expect(a.lines.some((l) => l.event === 'stepped_down')).toBe(true);
    await t.check.unsafe(`alter role "${role.replaceAll('"', '""')}" login`);
    await a.until((h) => h.status === 'ok' && h.is_leader === true, 15_000);
    expect((await api(a.url, '/api/v1/state', { token })).body).toMatchObject({ source: 'database', stale: false });
    a.signal('SIGTERM');
    expect(await a.exited).toEqual({ code: 0, signal: null });
  }, 60_000);
});
