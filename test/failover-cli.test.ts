import { describe, expect, it } from 'vitest';
import { localPair } from './agents.ts';
import { runCli, runMain, setupTenant, waitFor } from './helpers.ts';

// `owui-sync failover-test`, the menu's failover test as a subcommand, on two real agent processes.

describe('owui-sync failover-test', () => {
  it('graceful: the follower leads within 5 s, the old leader rejoins as follower; then a crash: the lease expires', async () => {
    const t = await setupTenant({ name: 'fo_cli', seed: { users: 1, chatsPerUser: 1 } });
    const { file, nodes } = await localPair(t, 'fo');
    // Wait for a leader (the first one takes the lease at once).
    await waitFor(
      'a live lease',
      async () => JSON.parse((await runMain(['cluster', 'status', '--json'], t.hostEnv)).stdout).lease?.live === true,
      { timeoutMs: 10_000, stepMs: 100 },
    );
    const g = await runCli(['failover-test', '--nodes-file', file, '--json'], t.hostEnv, { timeoutMs: 90_000 });
    expect(g.code, g.stderr).toBe(0);
    const r = JSON.parse(g.stdout);
    expect(r).toMatchObject({ ok: true, mode: 'graceful', rejoined_as: 'follower', error: null });
    expect(r.new_leader).not.toBe(r.stopped);
    expect(r.takeover_ms).toBeLessThan(5000);
    expect(r.term_after).toBeGreaterThan(r.term_before);
    // Progress went to stderr, step by step.
    expect(g.stderr).toMatch(/stopping the leader .* \(gracefully/);

    const c = await runCli(['failover-test', '--nodes-file', file, '--crash'], t.hostEnv, { timeoutMs: 90_000 });
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(
      /^PASSED: \S+ took over from \S+ \(crash\) in [\d.]+ s; term \d+ -> \d+\n\S+ rejoined as follower after/,
    );
    expect(c.stderr).toContain('a crash: SIGKILL, the lease must expire');

    // With the follower stopped, the test refuses to stop the leader, and says why.
    await nodes.stop('fo-secondary', 'graceful');
    const n = await runCli(['failover-test', '--nodes-file', file], t.hostEnv, { timeoutMs: 30_000 });
    expect(n.code, n.stderr).toBe(2);
    expect(n.stderr).toContain(
      'the leader fo-primary has no follower answering (fo-secondary: connection refused (no agent listens there))',
    );
    expect(n.stderr).toContain('hint: start the other node first');
  }, 120_000);

  it('with nothing to control: exit 2 and what to set', async () => {
    const r = await runMain(['failover-test'], { OWUI_SYNC_NODES_FILE: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no nodes to control');
    expect(r.stderr).toContain('OWUI_SYNC_NODES_FILE');
  });
});
