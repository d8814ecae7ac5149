import { describe, expect, it } from 'vitest';
import { Lease } from '../src/cluster/lease.ts';
import { claim, enqueue, jobFence } from '../src/cluster/queue.ts';
import { connect, type Sql } from '../src/pg/connect.ts';
import { getDeployment } from '../src/pg/deployments.ts';
import { runSync, SyncBusyError } from '../src/sync/engine.ts';
import { verify } from '../src/sync/verify.ts';
import { isFenced } from '../src/util/errors.ts';
import { AgentProc, api, apiSecret } from './agents.ts';
import { onCleanup, setupTenant, type Tenant, tmpDir } from './helpers.ts';
import { PGBOUNCER, startPgBouncer } from './pgbouncer.ts';

// Through a real pooler: Debian's PgBouncer, started by the test in front of the test's PostgreSQL. Session mode
// is what Supabase's session pooler (port 5432) gives; transaction mode what its transaction pooler (6543) gives,
// where a session lasts one transaction (docs/fleet.md).

if (!PGBOUNCER) console.warn('test/pooler.test.ts: skipped, pgbouncer is not installed (apt-get install pgbouncer)');

/** The host role's name and password, from the tenant's in-process URL. */
function hostLogin(t: Tenant) {
  const u = new URL(t.hostUrl);
  return { name: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/** The host's environment with its URL pointed at the pooler (the password still from its file). */
function throughPooler(t: Tenant, port: number, mode: 'session' | 'transaction'): Tenant {
  const u = new URL(t.hostEnv.OWUI_SYNC_DATABASE_URL!);
  u.port = String(port);
  return { ...t, hostEnv: { ...t.hostEnv, OWUI_SYNC_DATABASE_URL: u.toString(), OWUI_SYNC_CONNECTION_MODE: mode } };
}

async function clusterOf(t: Tenant): Promise<string> {
  const [h] = await t.check<{ cluster_name: string }[]>`
    select cluster_name from sync_metadata.hosts where hostname = ${t.host}`;
  return h!.cluster_name;
}

function poolerSql(url: string, mode: 'session' | 'transaction'): Sql {
  const sql = connect(url, { what: 'the pooler', max: 2, mode });
  onCleanup(() => sql.end({ timeout: 2 }));
  return sql;
}

describe.skipIf(!PGBOUNCER)('through a real pooler (PgBouncer)', () => {
  it('session mode: the pair elects, syncs exactly, and fails over on kill -9', async () => {
    const t = await setupTenant({ name: 'pool_s' });
    const bouncer = await startPgBouncer({ target: t.url, mode: 'session', users: [hostLogin(t)] });
    const via = throughPooler(t, bouncer.port, 'session');
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(via, { role: 'primary', nodeId: 'ps-a', secretFile: s.file });
    await a.until((h) => h.is_leader === true);
    const b = await AgentProc.start(via, { role: 'secondary', nodeId: 'ps-b', secretFile: s.file });
    await b.until((h) => h.leader_id === 'ps-a');
    await a.waitFor((l) => l.event === 'sync_finished', 30_000);
    expect((await t.verify()).identical).toBe(true);
    a.signal('SIGKILL');
    await b.until((h) => h.is_leader === true, 15_000);
    t.db.prepare("UPDATE chat SET title = 'after failover', updated_at = updated_at + 1").run();
    const r = await api(b.url, '/api/v1/sync/trigger', {
      method: 'POST',
      token: await s.token(),
      body: JSON.stringify({ client_name: 'pool_s' }),
    });
    await b.waitFor((l) => l.event === 'sync_finished' && l.job_id === r.body.job_id, 30_000);
    expect((await t.verify()).identical, bouncer.log().slice(-2000)).toBe(true);
  });

  it('transaction mode: the engine needs no session (merges, staging, a held run refused, a stale batch fenced)', async () => {
    const t = await setupTenant({ name: 'pool_t', seed: { users: 3, chatsPerUser: 30, messagesPerChat: 4 } });
    // Two server connections for everyone: consecutive statements of one client meet different sessions.
    const bouncer = await startPgBouncer({ target: t.url, mode: 'transaction', users: [hostLogin(t)], poolSize: 2 });
    const login = hostLogin(t);
    const sql = poolerSql(bouncer.urlFor(login.name, login.password), 'transaction');
    const cluster = await clusterOf(t);

    // A job claimed under a term that is over by the time it runs: its run is refused, nothing lands.
    const old = new Lease(sql, cluster, 'tx-1', 30);
    expect(await old.tryAcquire()).not.toBeNull();
    await enqueue(sql, cluster, 'pool_t', { full: true, triggeredBy: 'test' });
    const job = (await claim(sql, cluster, 'tx-1', 30))!;
    expect(job).not.toBeNull();
    await t.check`update sync_metadata.leader_election set acquired_at = now() - interval '2 seconds',
      expires_at = now() - interval '1 second' where cluster_name = ${cluster}`;
    expect(await new Lease(sql, cluster, 'tx-2', 30).tryAcquire()).not.toBeNull();
    const dep = await getDeployment(sql, 'pool_t');
    const fenced = await runSync(sql, dep, {
      full: true,
      job: { id: job.job_id, fence: jobFence(cluster, 'tx-1', job, old.instance, 1000) },
      idleTransactionMs: 1000,
    }).then(
      (r) => r.fenced,
      (err) => isFenced(err),
    );
    expect(fenced).toBe(true);
    const [landed] = await t.check<{ n: number }[]>`select count(*)::int as n from pool_t.chat`;
    expect(landed!.n).toBe(0);

    // A plain run through the pooler: every table, then edits merged (the staging tables of each batch).
    const first = await runSync(sql, await getDeployment(sql, 'pool_t'), { batchRows: 50 });
    expect(first.status, first.error).toBe('success');
    t.db.prepare("UPDATE chat SET title = title || ' (edited)', updated_at = updated_at + 5").run();
    t.db.prepare('DELETE FROM chat WHERE id = ?').run(t.chatIds[0]);
    const second = await runSync(sql, await getDeployment(sql, 'pool_t'), { batchRows: 20 });
    expect(second.status, second.error).toBe('success');
    expect(second.totals.updated).toBeGreaterThan(20);
    expect(second.totals.tombstoned).toBe(1);
    expect((await verify(sql, await getDeployment(sql, 'pool_t'))).identical).toBe(true);

    // A run that holds the deployment's session lock (a session-mode run elsewhere) keeps this one out.
    const [{ id }] = (await t.check`select deployment_id::text as id from sync_metadata.client_deployments
      where client_name = 'pool_t'`) as unknown as [{ id: string }];
    const holder = await t.check.reserve();
    try {
      await holder`select pg_advisory_lock(hashtext('owui-sync:sync'), hashtext(${id}))`;
      await expect(runSync(sql, await getDeployment(sql, 'pool_t'), { full: true })).rejects.toBeInstanceOf(
        SyncBusyError,
      );
    } finally {
      await holder`select pg_advisory_unlock_all()`;
      holder.release();
    }
  });

  it('transaction mode: agents poll instead of listening; state changes are seen within the poll, and a takeover works', async () => {
    const t = await setupTenant({ name: 'pool_a' });
    const bouncer = await startPgBouncer({ target: t.url, mode: 'transaction', users: [hostLogin(t)], poolSize: 3 });
    const via = throughPooler(t, bouncer.port, 'transaction');
    const env = { OWUI_SYNC_POLL_INTERVAL: '0.5', OWUI_SYNC_STATE_CACHE_TTL: '300' };
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(via, { role: 'primary', nodeId: 'pt-a', secretFile: s.file, env });
    await a.until((h) => h.is_leader === true);
    const b = await AgentProc.start(via, { role: 'secondary', nodeId: 'pt-b', secretFile: s.file, env });
    await b.until((h) => h.leader_id === 'pt-a');
    expect(a.lines.find((l) => l.event === 'started')).toMatchObject({
      connection_mode: 'transaction',
      notifications: 'poll every 0.5 s',
    });
    await a.waitFor((l) => l.event === 'sync_finished', 30_000);
    expect((await t.verify()).identical).toBe(true);

    // b caches the state; a change made through a reaches it within the poll interval (no notification).
    const token = await s.token();
    expect((await api(b.url, '/api/v1/state', { token })).body).toMatchObject({ source: 'database' });
    expect((await api(b.url, '/api/v1/state', { token })).body).toMatchObject({ source: 'cache' });
    const put = await api(a.url, '/api/v1/state', {
      method: 'PUT',
      token,
      body: JSON.stringify({ client: 'pool_a', sync_interval: '1m' }),
    });
    expect(put.status, put.text).toBe(200);
    const t0 = performance.now();
    await expect
      .poll(async () => (await api(b.url, '/api/v1/state', { token })).body.states, { timeout: 5000, interval: 50 })
      .toMatchObject([{ client: 'pool_a', sync_interval: 60 }]);
    expect(performance.now() - t0).toBeLessThan(2000);
    // The leader's scheduler, without a notification, runs it when it is due (a minute on, brought forward here).
    const changed = new Date().toISOString();
    await t.check`update sync_metadata.client_deployments set next_sync_at = localtimestamp where client_name = 'pool_a'`;
    await a.waitFor(
      (l) => l.event === 'sync_started' && l.triggered_by === 'schedule' && (l.time as string) > changed,
      5_000,
    );

    // kill -9 of the leader: the follower takes over through the pooler and syncs.
    a.signal('SIGKILL');
    await b.until((h) => h.is_leader === true, 15_000);
    t.db.prepare("UPDATE chat SET title = 'after takeover', updated_at = updated_at + 1").run();
    const r = await api(b.url, '/api/v1/sync/trigger', {
      method: 'POST',
      token,
      body: JSON.stringify({ client_name: 'pool_a' }),
    });
    expect(r.status, r.text).toBeLessThan(300);
    await b.waitFor((l) => l.event === 'sync_finished' && l.job_id === r.body.job_id, 15_000);
    const v = await t.verify();
    expect(v.identical, JSON.stringify({ r: r.body, d: v.differences.slice(0, 3), b: b.lines.slice(-12) })).toBe(true);
  });
});
