import { formatInterval } from '../util/config.ts';
import { Command } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { fmtInt, type Io, printJson, table } from './output.ts';

export function statusCommand(io: Io): Command {
  return new Command('status')
    .description('sync status of every registered client, or of one')
    .argument('[name]', 'client name')
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .action(async (name: string | undefined, opts: { json?: boolean; databaseUrl?: string }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals().json;
      const url = databaseUrl(io, opts.databaseUrl);
      const [{ openPg }, { status }] = await Promise.all([import('../pg/connect.ts'), import('../ops/clients.ts')]);
      const sql = await openPg(url, 'the database connection');
      try {
        const rows = await status(sql, name);
        if (json) printJson(io, rows);
        else if (rows.length === 0) io.out('no clients registered yet: owui-sync client add NAME --sqlite PATH');
        else
          io.out(
            table(
              rows.map((r) => [
                r.client,
                r.sync_enabled ? r.status : 'paused',
                formatInterval(r.sync_interval),
                r.last_sync_at ?? 'never',
                r.last_sync_status ?? '-',
                r.last_job
                  ? `${r.last_job.status} ${r.last_job.sync_type} ${fmtInt(r.last_job.rows_synced)} rows`
                  : '-',
                r.rejected_pending ? String(r.rejected_pending) : '',
              ]),
              ['CLIENT', 'STATE', 'EVERY', 'LAST SYNC', 'RESULT', 'LAST JOB', 'SET ASIDE'],
            ),
          );
        if (!json) {
          // Who leads each cluster this login may see (the agents' lease), for the operator at a glance.
          const { leases } = await import('../ops/cluster.ts');
          for (const l of await leases(sql)) {
            io.out(
              l.live
                ? `cluster ${l.cluster_name}: leader ${l.leader_id} (term ${l.term}, lease renews within ${Math.max(0, Math.round(l.expires_in_seconds))} s)`
                : `cluster ${l.cluster_name}: no leader (last: ${l.leader_id}, term ${l.term}); are the agents running?`,
            );
          }
        }
      } finally {
        await sql.end({ timeout: 5 });
      }
    });
}
