import { describe, expect, it } from 'vitest';
import { AgentProc, apiSecret } from './agents.ts';
import { runMain, setupTenant, tmpDir, waitFor } from './helpers.ts';

describe('owui-sync cluster status (the menu header, scripted)', () => {
  it('says there is no agent, and how to start one, when none answers', async () => {
    const t = await setupTenant({ name: 'cs0' });
    const r = await runMain(['cluster', 'status', '--json'], t.hostEnv);
    expect(r.code).toBe(1);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ host: t.host, lease: null });
    expect(s.nodes.map((n: { url: string }) => n.url)).toEqual(['http://127.0.0.1:9443', 'http://127.0.0.1:9444']);
    expect(s.hint).toContain('no agent answers: start them');
  });

  it('shows both nodes of a running pair and its lease, then the node that went down', async () => {
    const t = await setupTenant({ name: 'cs1' });
    const sec = apiSecret(tmpDir());
    const a = await AgentProc.start(t, { role: 'primary', nodeId: 'cs-a', secretFile: sec.file });
    const b = await AgentProc.start(t, { role: 'secondary', nodeId: 'cs-b', secretFile: sec.file });
    await a.until((h) => h.is_leader === true);
    // Both have recorded where they answer (their heartbeat).
    await b.waitFor((l) => l.event === 'started');
    await waitFor('both heartbeats', async () => {
      const [row] = await t.check<{ n: number }[]>`
        select count(*)::int as n from sync_metadata.hosts, jsonb_object_keys(metadata->'agents') where hostname = ${t.host}`;
      return row!.n === 2;
    });
    const r = await runMain(['cluster', 'status', '--json'], t.hostEnv);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.lease).toMatchObject({ leader_id: 'cs-a', live: true, term: 1 });
    expect(s.nodes.map((n: { node_id: string; answer: { up: boolean } }) => [n.node_id, n.answer.up])).toEqual([
      ['cs-a', true],
      ['cs-b', true],
    ]);
    expect(
      s.nodes.filter((n: { answer: { health: { is_leader: boolean } } }) => n.answer.health.is_leader),
    ).toHaveLength(1);
    const text = await runMain(['cluster', 'status'], t.hostEnv);
    expect(text.stdout).toMatch(/^cluster \S+ \(host \S+\): leader cs-a, term 1, lease renews within \d+ s\n/);
    expect(text.stdout).toMatch(/NODE\s+ROLE\s+STATE\s+LEADER\s+TERM/);
    expect(text.stdout).toMatch(/cs-b\s+secondary\s+ok\s+no\s/);

    b.signal('SIGKILL');
    await b.exited;
    const down = await runMain(['cluster', 'status'], t.hostEnv);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/cs-b\s+secondary\s+DOWN .*connection refused/);
    a.signal('SIGTERM');
    await a.exited;
  });
});
