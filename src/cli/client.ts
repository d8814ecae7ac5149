import { Command, Option } from 'commander';
import { clientAdd } from '../ops/clients.ts';
import { formatInterval, parseInterval } from '../util/config.ts';
import { adminUrl, adminUrlOption } from './connections.ts';
import { printJson, type Io } from './output.ts';

export function clientCommand(io: Io): Command {
  const cmd = new Command('client').description('register and manage the Open WebUI tenants that are synced');
  cmd
    .command('add')
    .description('register a tenant: create schema NAME with a mirror of every Open WebUI table, record its SQLite path')
    .argument('<name>', 'client name = PostgreSQL schema name (e.g. the legacy CLIENT_ID chat-example-com)')
    .requiredOption('--sqlite <path>', "the tenant's webui.db (e.g. /opt/openwebui/<CLIENT_ID>/data/webui.db)")
    .addOption(new Option('--interval <every>', 'sync interval: 1m, 5m, 1h, 1d or seconds (60/300/3600/14400/86400)').default('5m'))
    .option('--container <name>', 'the Open WebUI container of this tenant (default: openwebui-NAME)')
    .addOption(new Option('--reconcile-every <n>', 'every Nth scheduled run is a full reconciliation pass').default(12).argParser(Number))
    .option('--json', 'print the result as JSON')
    .addOption(adminUrlOption())
    .addHelpText('after', '\nIdempotent: running it again updates the path and interval and creates what is missing.\nExample:\n  owui-sync client add chat-example-com --sqlite /opt/openwebui/chat-example-com/data/webui.db --interval 5m')
    .action(async (name: string, opts: { sqlite: string; interval: string; container?: string; reconcileEvery: number; json?: boolean; adminUrl?: string }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals().json;
      const r = await clientAdd({
        name,
        sqlitePath: opts.sqlite,
        adminUrl: adminUrl(io, opts.adminUrl),
        intervalSeconds: parseInterval(opts.interval),
        containerName: opts.container,
        reconcileEvery: Number.isInteger(opts.reconcileEvery) && opts.reconcileEvery >= 1 ? opts.reconcileEvery : 12,
      });
      if (json) printJson(io, r);
      else {
        io.out(`${r.created ? 'registered' : 'updated'} client ${r.client} (deployment ${r.deployment_id}): ${r.sqlite_path}, every ${formatInterval(r.sync_interval)}`);
        io.out(`mirror schema "${r.client}": ${r.tables_created} tables created, ${r.columns_added} columns added`);
        io.out(`next: owui-sync sync ${r.client}`);
      }
    });
  return cmd;
}
