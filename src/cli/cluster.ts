import type { ClusterStatus } from '../ops/cluster.ts';
import { ConfigError, ExitCode } from '../util/errors.ts';
import { ago, duration as uptime } from '../util/when.ts';
import { Command } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { type Io, printJson, table } from './output.ts';

function print(io: Io, c: ClusterStatus): void {
  const l = c.lease;
  io.out(
    l?.live
      ? `cluster ${c.cluster} (host ${c.host}): leader ${l.leader_id}, term ${l.term}, lease renews within ${Math.max(0, Math.round(l.expires_in_seconds))} s`
      : `cluster ${c.cluster} (host ${c.host}): NO LEADER${l ? ` (last: ${l.leader_id}, term ${l.term})` : ''}`,
  );
  io.out(
    table(
      c.nodes.map((n) =>
        n.answer.up
          ? [
              n.node_id,
              n.role,
              n.answer.health.status,
              n.answer.health.is_leader ? 'yes' : 'no',
              n.answer.health.term ?? '-',
              uptime(n.answer.health.uptime_seconds),
              n.answer.health.database.reachable ? 'reachable' : 'UNREACHABLE',
              ago(n.answer.health.last_heartbeat),
              n.url,
            ]
          : [n.node_id, n.role, 'DOWN', '-', '-', '-', '-', ago(n.last_seen), `${n.url}: ${n.answer.error}`],
      ),
      ['NODE', 'ROLE', 'STATE', 'LEADER', 'TERM', 'UP', 'DATABASE', 'HEARTBEAT', 'ADDRESS'],
    ),
  );
  if (c.hint) io.out(`hint: ${c.hint}`);
}

export function clusterCommand(io: Io, setExit: (c: number) => void): Command {
  const cmd = new Command('cluster').description("this host's HA pair of agents");
  cmd
    .command('status')
    .description('both nodes (up or down, role, leader, term, uptime, database, last heartbeat) and the lease')
    .option('--host <name>', 'the registered host (default: the one host this login may see)')
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      '\nEach node is asked for /health at the address its agent recorded (else 127.0.0.1:9443 and :9444), with 1 s timeouts.\nExit codes: 0 a live leader and every node answering, 1 no live leader or a node not answering, 2 usage.',
    )
    .action(async (opts: { host?: string; databaseUrl?: string }, c: Command) => {
      const url = databaseUrl(io, opts.databaseUrl);
      const [{ openPg }, { clusterStatus }, { closeNodeHealth }] = await Promise.all([
        import('../pg/connect.ts'),
        import('../ops/cluster.ts'),
        import('../ops/node-health.ts'),
      ]);
      const sql = await openPg(url, 'the database connection');
      try {
        const s = await clusterStatus(sql, opts.host);
        if (c.optsWithGlobals().json) printJson(io, s);
        else print(io, s);
        setExit(s.lease?.live && s.nodes.every((n) => n.answer.up) ? ExitCode.ok : ExitCode.failed);
      } finally {
        await Promise.all([sql.end({ timeout: 5 }), closeNodeHealth()]);
      }
    });
  return cmd;
}

export function failoverTestCommand(io: Io, setExit: (c: number) => void): Command {
  return new Command('failover-test')
    .description(
      "the specification's failover test: stop the leader, time the follower's takeover, start the node again, check it rejoins as a follower",
    )
    .option(
      '--crash',
      'stop the leader with SIGKILL (docker kill) so the lease must expire; default: SIGTERM (docker stop)',
    )
    .option('--nodes-file <file>', 'the local agent processes (default: OWUI_SYNC_NODES_FILE; the demo writes one)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nProgress goes to stderr, the report to stdout. Exit codes: 0 passed, 1 failed (no takeover, or the node did not\nrejoin as a follower), 2 nothing to control or no leader to stop.',
    )
    .action(async (opts: { crash?: boolean; nodesFile?: string }, c: Command) => {
      const json = !!c.optsWithGlobals().json;
      const [{ failoverTest }, { LocalNodes, NO_NODE_CONTROL_HINT }, { findNodeController }, { closeNodeHealth }] =
        await Promise.all([
          import('../ops/failover.ts'),
          import('../ops/nodes.ts'),
          import('../ops/docker-nodes.ts'),
          import('../ops/node-health.ts'),
        ]);
      const ctrl = opts.nodesFile ? new LocalNodes(opts.nodesFile) : await findNodeController();
      if (!ctrl) throw new ConfigError('no nodes to control', NO_NODE_CONTROL_HINT);
      try {
        const r = await failoverTest(ctrl, {
          mode: opts.crash ? 'crash' : 'graceful',
          onStep: (s) => io.err(`${(s.at_ms / 1000).toFixed(1).padStart(6)} s  ${s.step}`),
        });
        if (json) printJson(io, r);
        else {
          io.out(
            `${r.ok ? 'PASSED' : 'FAILED'}: ${r.new_leader ?? 'nobody'} took over from ${r.stopped} (${r.mode}) in ${r.takeover_ms === null ? '-' : `${(r.takeover_ms / 1000).toFixed(1)} s`}; term ${r.term_before ?? '-'} -> ${r.term_after ?? '-'}`,
          );
          io.out(
            `${r.stopped} rejoined as ${r.rejoined_as ?? '-'}${r.rejoin_ms === null ? '' : ` after ${(r.rejoin_ms / 1000).toFixed(1)} s`}`,
          );
          if (r.error) io.err(`error: ${r.error}`);
        }
        setExit(r.ok ? ExitCode.ok : ExitCode.failed);
      } finally {
        await closeNodeHealth();
      }
    });
}
