import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../util/errors.ts';
import { readNodeHealth } from './node-health.ts';
import type { NodeController, NodeInfo, StopMode } from './nodes.ts';

// The specification's failover test, for whatever runs the pair (local processes now, containers later): stop the
// leader, time the follower's takeover, start the stopped node again and check it rejoins as a follower.

export interface FailoverStep {
  at_ms: number;
  step: string;
}

export interface FailoverResult {
  ok: boolean;
  mode: StopMode;
  stopped: string;
  new_leader: string | null;
  term_before: number | null;
  term_after: number | null;
  /** From the stop until the follower's /health said is_leader. */
  takeover_ms: number | null;
  /** From the start until the stopped node answered as a follower. */
  rejoin_ms: number | null;
  rejoined_as: 'follower' | 'leader' | null;
  steps: FailoverStep[];
  error: string | null;
}

async function until<T>(
  probe: () => Promise<T | null>,
  timeoutMs: number,
  stepMs = 100,
): Promise<{ value: T; ms: number } | null> {
  const t0 = performance.now();
  for (;;) {
    const v = await probe();
    if (v !== null) return { value: v, ms: performance.now() - t0 };
    if (performance.now() - t0 > timeoutMs) return null;
    await sleep(stepMs);
  }
}

export async function failoverTest(
  ctrl: NodeController,
  o: { mode: StopMode; takeoverTimeoutMs?: number; rejoinTimeoutMs?: number; onStep?: (s: FailoverStep) => void },
): Promise<FailoverResult> {
  const t0 = performance.now();
  const steps: FailoverStep[] = [];
  const say = (step: string) => {
    const s = { at_ms: Math.round(performance.now() - t0), step };
    steps.push(s);
    o.onStep?.(s);
  };
  const nodes = await ctrl.list();
  const answers = await Promise.all(nodes.map(async (n) => ({ n, a: await readNodeHealth(n.url) })));
  const leader = answers.find((x) => x.a.up && x.a.health.is_leader);
  if (!leader)
    throw new ConfigError(
      'no node leads now: the failover test needs a leader to stop',
      'start the agents (owui-sync cluster status shows them) and try again',
    );
  const followers = answers.filter((x) => x !== leader);
  const follower = followers.find((x) => x.a.up);
  if (!follower) {
    const why = followers.map((x) => `${x.n.node_id}: ${x.a.up ? 'answers' : x.a.error}`).join('; ');
    throw new ConfigError(
      `the leader ${leader.n.node_id} has no follower answering (${why || 'no other node is configured'}): stopping it would leave the cluster without a leader`,
      'start the other node first and wait until it shows UP (the menu header, or owui-sync cluster status), then run the test again',
    );
  }
  const before = leader.a.up ? leader.a.health.term : null;
  const result: FailoverResult = {
    ok: false,
    mode: o.mode,
    stopped: leader.n.node_id,
    new_leader: null,
    term_before: before,
    term_after: null,
    takeover_ms: null,
    rejoin_ms: null,
    rejoined_as: null,
    steps,
    error: null,
  };
  say(
    `stopping the leader ${leader.n.node_id} (${o.mode === 'crash' ? 'a crash: SIGKILL, the lease must expire' : 'gracefully: SIGTERM, it hands the lease over'})`,
  );
  const stopAt = performance.now();
  await ctrl.stop(leader.n.node_id, o.mode);
  const isLeaderNow = async (n: NodeInfo) => {
    const a = await readNodeHealth(n.url);
    return a.up && a.health.is_leader ? a.health : null;
  };
  const took = await until(() => isLeaderNow(follower.n), o.takeoverTimeoutMs ?? 60_000);
  if (took) {
    result.takeover_ms = Math.round(performance.now() - stopAt);
    result.new_leader = took.value.node_id;
    result.term_after = took.value.term;
    say(`${follower.n.node_id} leads (term ${took.value.term}) after ${(result.takeover_ms / 1000).toFixed(1)} s`);
  } else {
    result.error = `${follower.n.node_id} did not take over within ${Math.round((o.takeoverTimeoutMs ?? 60_000) / 1000)} s`;
    say(result.error);
  }
  say(`starting ${leader.n.node_id} again`);
  const startAt = performance.now();
  await ctrl.start(leader.n.node_id);
  const back = await until(async () => {
    const a = await readNodeHealth(leader.n.url);
    return a.up ? a.health : null;
  }, o.rejoinTimeoutMs ?? 30_000);
  if (back) {
    // It answers; as a follower if someone else holds the lease (give it a moment to see the lease).
    const settled = await until(async () => {
      const a = await readNodeHealth(leader.n.url);
      return a.up && a.health.leader_id ? a.health : null;
    }, 5_000);
    const h = settled?.value ?? back.value;
    result.rejoin_ms = Math.round(performance.now() - startAt);
    result.rejoined_as = h.is_leader ? 'leader' : 'follower';
    say(`${leader.n.node_id} answers again as ${result.rejoined_as} after ${(result.rejoin_ms / 1000).toFixed(1)} s`);
  } else {
    result.error ??= `${leader.n.node_id} did not answer within ${Math.round((o.rejoinTimeoutMs ?? 30_000) / 1000)} s of its start`;
    say(`${leader.n.node_id} did not come back`);
  }
  result.ok =
    result.error === null &&
    result.takeover_ms !== null &&
    result.rejoined_as === 'follower' &&
    (result.term_before === null || (result.term_after ?? 0) > result.term_before);
  if (!result.ok && !result.error) result.error = `${leader.n.node_id} rejoined as ${result.rejoined_as}`;
  return result;
}
