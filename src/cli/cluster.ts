import type { ClusterStatus } from '../ops/cluster.ts';
import { ExitCode } from '../util/errors.ts';
import { Command } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { type Io, printJson, table } from './output.ts';

const ago = (iso: string | null) => {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};
const uptime = (s: number) =>
  s < 120
    ? `${s} s`
    : s < 7200
      ? `${Math.round(s / 60)} min`
      : s < 172800
        ? `${Math.round(s / 3600)} h`
        : `${Math.round(s / 86400)} d`;

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
