import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientAdd } from '../src/ops/clients.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { AgentProc, api, apiSecret } from './agents.ts';
import { onCleanup, provisionHost, setupTenant, type Tenant, tmpDir } from './helpers.ts';

// A fleet on one database (docs/fleet.md): what one host costs PostgreSQL in connections, and that a cluster's
// notifications wake its own agents only.

/** The connections PostgreSQL has open for a login role, by application name. */
async function connectionsOf(t: Tenant, role: string) {
  return t.check<{ app: string; n: number }[]>`
    select application_name as app, count(*)::int as n from pg_stat_activity where usename = ${role}
    group by 1 order by 1`;
}
const total = (rows: { n: number }[]) => rows.reduce((a, r) => a + r.n, 0);

/** A counter of an agent's /metrics: the sum of its series that carry `label` (0 when absent). */
async function counter(a: AgentProc, name: string, label: string): Promise<number> {
  const text = (await api(a.url, '/metrics')).text;
  let n = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(label)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

/** The agent's pair for a tenant's host, primary leading, secondary following. */
async function pair(t: Tenant, prefix: string, env: Record<string, string> = {}) {
  const s = apiSecret(tmpDir());
  const a = await AgentProc.start(t, { role: 'primary', nodeId: `${prefix}-a`, secretFile: s.file, env });
  await a.until((h) => h.is_leader === true);
  const b = await AgentProc.start(t, { role: 'secondary', nodeId: `${prefix}-b`, secretFile: s.file, env });
  await b.until((h) => h.is_leader === false && h.leader_id === `${prefix}-a`);
  return { a, b, token: () => s.token() };
}

describe('a fleet on one PostgreSQL', () => {
  it('an idle pair holds at most 3 connections in all, and a running sync adds at most 2', async () => {
    const t = await setupTenant({ name: 'budget', seed: { users: 4, chatsPerUser: 40, messagesPerChat: 6 } });
    const { a, token } = await pair(t, 'cb');
    await a.waitFor((l) => l.event === 'sync_finished', 30_000);
    // Idle: each node keeps its control connection (LISTEN, lease, heartbeat, claims); the workers' connections
    // close a second after their run.
    await expect
      .poll(async () => total(await connectionsOf(t, t.role)), { timeout: 10_000, interval: 100 })
      .toBeLessThanOrEqual(3);
    let idleMost = 0;
    for (let i = 0; i < 15; i++) {
      idleMost = Math.max(idleMost, total(await connectionsOf(t, t.role)));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(idleMost, JSON.stringify(await connectionsOf(t, t.role))).toBeLessThanOrEqual(3);

    // Busy: a full sync runs on one worker connection of its own.
    let busyMost = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        busyMost = Math.max(busyMost, total(await connectionsOf(t, t.role)));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const tok = await token();
    const r = await api(a.url, '/api/v1/sync/trigger', {
      method: 'POST',
      token: tok,
      body: JSON.stringify({ client_name: 'budget', full_sync: true }),
    });
    expect(r.status, r.text).toBeLessThan(300);
    const job = r.body.job_id as string;
    await expect
      .poll(
        async () =>
          (await t.check<{ status: string }[]>`select status from sync_metadata.sync_jobs where job_id = ${job}`)[0]
            ?.status,
        { timeout: 30_000, interval: 50 },
      )
      .toBe('success');
    sampling = false;
    await sampler;
    expect(busyMost).toBeGreaterThan(idleMost - 1);
    expect(busyMost).toBeLessThanOrEqual(3 + 2);
    // And given back after the run.
    await expect
      .poll(async () => total(await connectionsOf(t, t.role)), { timeout: 10_000, interval: 100 })
      .toBeLessThanOrEqual(3);
  });

  it("a job queued in one cluster wakes no claim in another (each cluster's own channels)", async () => {
    const t = await setupTenant({ name: 'scoped' });
    // A second host in the same database: a cluster of its own (the host's name), with one tenant.
    const dbName = new URL(t.url).pathname.slice(1);
    const roles: string[] = [];
    const dir = tmpDir();
    const other = await provisionHost(t.url, dbName, roles, dir, '-b');
    onCleanup(async () => {
      for (const r of roles) await t.check.unsafe(`DROP OWNED BY "${r}"; DROP ROLE IF EXISTS "${r}"`).catch(() => {});
    });
    const file = path.join(dir, 'b-webui.db');
    const db = createTenantDb(file);
    seedTenant(db, {});
    db.close();
    await clientAdd({ name: 'scoped_b', sqlitePath: file, adminUrl: t.url, host: other.host });
    expect(fs.existsSync(file)).toBe(true);

    // The backstop poll far away (60 s), so that only a notification could wake B's workers within the test.
    const slow = { OWUI_SYNC_POLL_INTERVAL: '60' };
    const s = apiSecret(tmpDir());
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'sc-a', secretFile: s.file, env: slow });
    const b = await AgentProc.start(
      { ...t, host: other.host, hostEnv: other.env },
      { role: 'primary', nodeId: 'sc-b', secretFile: s.file, env: slow },
    );
    await a.until((h) => h.is_leader === true);
    await b.until((h) => h.is_leader === true);
    // Both clusters' first syncs, at once (due at registration).
    await a.waitFor((l) => l.event === 'sync_finished', 30_000);
    await b.waitFor((l) => l.event === 'sync_finished', 30_000);
    await b.rounds(2); // B settles: a second of its own rounds
    const bBefore =
      (await counter(b, 'owui_sync_claim_attempts_total', 'result="empty"')) +
      (await counter(b, 'owui_sync_claim_attempts_total', 'result="claimed"'));
    expect(bBefore).toBeGreaterThan(0);

    // Three jobs queued in cluster A, one after the other: each wakes A's workers, none of B's.
    const token = await s.token();
    for (let i = 0; i < 3; i++) {
      const before = await counter(a, 'owui_sync_claim_attempts_total', 'result="claimed"');
      const r = await api(a.url, '/api/v1/sync/trigger', {
        method: 'POST',
        token,
        body: JSON.stringify({ client_name: 'scoped' }),
      });
      expect(r.status, r.text).toBeLessThan(300);
      await expect
        .poll(() => counter(a, 'owui_sync_claim_attempts_total', 'result="claimed"'), { timeout: 10_000 })
        .toBe(before + 1);
      await a.waitFor((l) => l.event === 'sync_finished' && l.job_id === r.body.job_id, 30_000);
    }
    await b.rounds(2); // a wake-up of B would have claimed by now
    const bAfter =
      (await counter(b, 'owui_sync_claim_attempts_total', 'result="empty"')) +
      (await counter(b, 'owui_sync_claim_attempts_total', 'result="claimed"'));
    expect(bAfter).toBe(bBefore);
  });
});
