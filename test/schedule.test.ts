import { beforeAll, describe, expect, it } from 'vitest';
import { channel } from '../src/cluster/channels.ts';
import { runMain, setupTenant, type Tenant } from './helpers.ts';

describe("pause, resume and interval (the menu's Start/Resume and Pause, scripted)", () => {
  let t: Tenant;
  const state = async () => {
    const [d] = await t.check<{ sync_enabled: boolean; status: string; sync_interval: number; next: boolean }[]>`
      select sync_enabled, status, sync_interval, next_sync_at is not null as next
      from sync_metadata.client_deployments where client_name = ${t.name}`;
    return d!;
  };
  beforeAll(async () => {
    t = await setupTenant({ name: 'sched' });
  });

  it('pauses and resumes as the host role, tells the agents, and records who changed it', async () => {
    const notes: string[] = [];
    const [h] = await t.check<{ cluster_name: string }[]>`
      select cluster_name from sync_metadata.hosts where hostname = ${t.host}`;
    // The channel of the host's own cluster: other clusters' agents are not woken.
    const listening = await t.check.listen(channel('state', h!.cluster_name), (payload) => notes.push(payload));
    try {
      const p = await runMain(['pause', 'sched', '--json'], t.hostEnv);
      expect(p.code, p.stderr).toBe(0);
      expect(JSON.parse(p.stdout)).toMatchObject({ client: 'sched', sync_enabled: false, status: 'paused' });
      expect(await state()).toMatchObject({ sync_enabled: false, status: 'paused' });

      const r = await runMain(['resume', 'sched', '--interval', '1h'], t.hostEnv);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^sched: active, syncs every 1h; next run due \d{4}-/);
      expect(await state()).toMatchObject({ sync_enabled: true, status: 'active', sync_interval: 3600, next: true });

      for (let i = 0; i < 50 && notes.length < 2; i++) await new Promise((res) => setTimeout(res, 20));
      expect(notes.map((n) => JSON.parse(n).key)).toEqual(['deployment:sched', 'deployment:sched']);
      const events = await t.check<{ origin_node: string }[]>`
        select origin_node from sync_metadata.cache_events where cache_key = 'deployment:sched' order by seq`;
      expect(events).toHaveLength(2);
      expect(events[0]!.origin_node).toMatch(/^cli:.+@.+/);
    } finally {
      await listening.unlisten();
    }
  });

  it('sets the interval, keeping a paused client paused', async () => {
    await runMain(['pause', 'sched'], t.hostEnv);
    const r = await runMain(['interval', 'sched', '300'], t.hostEnv);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('sched: syncs every 5m once resumed (it is paused)\n');
    expect(await state()).toMatchObject({ sync_enabled: false, status: 'paused', sync_interval: 300 });
    const j = await runMain(['interval', 'sched', '4h', '--json'], t.hostEnv);
    expect(JSON.parse(j.stdout)).toMatchObject({ sync_interval: 14400, sync_enabled: false });
  });

  it('refuses a bad interval or an unknown client with exit 2 and what to do', async () => {
    const bad = await runMain(['interval', 'sched', '10s'], t.hostEnv);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('interval 10s is out of range');
    expect(bad.stderr).toContain('hint: use between 1m and 7d');
    const none = await runMain(['pause', 'nobody'], t.hostEnv);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('client "nobody" is not registered');
    const noUrl = await runMain(['resume', 'sched']);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('OWUI_SYNC_DATABASE_URL');
  });
});
