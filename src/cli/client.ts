import fs from 'node:fs';
import { formatInterval, parseInterval } from '../util/config.ts';
import { ConfigError } from '../util/errors.ts';
import { Command, Option } from './commander.ts';
import { askMissing, typedConfirmation } from './confirm.ts';
import { adminUrl, adminUrlOption } from './connections.ts';
import { type Io, printJson } from './output.ts';

function validReconcileEvery(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 10000)
    throw new ConfigError(
      `--reconcile-every must be a whole number from 1 to 10000`,
      'e.g. 12: every 12th run is a full reconciliation pass',
    );
  return n;
}

export function clientCommand(io: Io): Command {
  const cmd = new Command('client').description('register and manage the Open WebUI tenants that are synced');
  cmd
    .command('add')
    .description(
      'register a tenant: create schema NAME with a mirror of every Open WebUI table, record its SQLite path',
    )
    .argument(
      '[name]',
      'client name = PostgreSQL schema name (e.g. the legacy CLIENT_ID chat-example-com); asked if missing',
    )
    .option(
      '--sqlite <path>',
      "the tenant's webui.db (e.g. /opt/openwebui/<CLIENT_ID>/data/webui.db); asked on a terminal if missing",
    )
    .addOption(
      new Option(
        '--interval <every>',
        'sync interval: 1m, 5m, 1h, 1d or seconds (60/300/3600/14400/86400); default 5m for a new client, unchanged otherwise',
      ),
    )
    .option('--container <name>', 'the Open WebUI container of this tenant (default: openwebui-NAME)')
    .option('--host <name>', "the host whose agents sync it: only that host's role may read and write its schema")
    .addOption(
      new Option(
        '--reconcile-every <n>',
        'every Nth run is a full reconciliation pass; default 12 for a new client, unchanged otherwise',
      ).argParser(Number),
    )
    .option('--json', 'print the result as JSON')
    .addOption(adminUrlOption())
    .addHelpText(
      'after',
      '\nIdempotent: running it again updates the path and interval and creates what is missing.\nExample:\n  owui-sync client add chat-example-com --sqlite /opt/openwebui/chat-example-com/data/webui.db --interval 5m',
    )
    .action(
      async (
        nameArg: string | undefined,
        opts: {
          sqlite?: string;
          interval?: string;
          container?: string;
          host?: string;
          reconcileEvery?: number;
          json?: boolean;
          adminUrl?: string;
        },
        cmd: Command,
      ) => {
        const json = !!cmd.optsWithGlobals().json;
        const url = adminUrl(io, opts.adminUrl);
        const name = await askMissing({
          value: nameArg,
          flag: 'the client NAME (the first argument)',
          question: 'Client name (its PostgreSQL schema, e.g. chat-example-com):',
        });
        const sqlite = await askMissing({
          value: opts.sqlite,
          flag: '--sqlite PATH',
          question: `SQLite database of ${name}:`,
          default: `/opt/openwebui/${name}/data/webui.db`,
          validate: (v) => (fs.existsSync(v.trim()) ? true : `no file at ${v.trim()}`),
        });
        const { clientAdd } = await import('../ops/clients.ts');
        const r = await clientAdd({
          name,
          sqlitePath: sqlite,
          adminUrl: url,
          intervalSeconds: opts.interval === undefined ? undefined : parseInterval(opts.interval),
          containerName: opts.container,
          host: opts.host,
          reconcileEvery: opts.reconcileEvery === undefined ? undefined : validReconcileEvery(opts.reconcileEvery),
        });
        if (json) printJson(io, r);
        else {
          io.out(
            `${r.created ? 'registered' : 'updated'} client ${r.client} (deployment ${r.deployment_id}): ${r.sqlite_path}, every ${formatInterval(r.sync_interval)}`,
          );
          io.out(
            `mirror schema "${r.client}": ${r.tables_created} tables created, ${r.columns_added} columns added; ${r.role ? `granted to ${r.role} only` : 'no host yet: only the admin can sync it (add --host NAME)'}`,
          );
          io.out(`next: owui-sync sync ${r.client}`);
        }
      },
    );
  cmd
    .command('remove')
    .description('unregister a client (its job history goes with it); --drop-schema also drops its mirror')
    .argument('<name>', 'client name')
    .option('--drop-schema', 'also DROP SCHEMA NAME CASCADE: the mirror and everything in it')
    .option('--yes', 'do not ask for the typed confirmation (for scripts)')
    .option('--json', 'print the result as JSON')
    .addOption(adminUrlOption())
    .addHelpText('after', '\nInteractive use asks you to type DELETE. Without a terminal, pass --yes.')
    .action(
      async (
        name: string,
        opts: { dropSchema?: boolean; yes?: boolean; json?: boolean; adminUrl?: string },
        c: Command,
      ) => {
        const url = adminUrl(io, opts.adminUrl);
        if (!opts.yes) {
          await typedConfirmation({
            word: 'DELETE',
            question: `This removes ${opts.dropSchema ? `client ${name}, its job history AND its mirror schema with all its data` : `client ${name} and its job history (the mirror schema stays)`}.`,
            what: `client remove ${name}`,
            refused: 'not confirmed: nothing was removed',
          });
        }
        const { clientRemove } = await import('../ops/clients.ts');
        const r = await clientRemove(url, name, !!opts.dropSchema);
        if (c.optsWithGlobals().json) printJson(io, r);
        else
          io.out(
            `client ${r.client}: ${r.removed ? `unregistered (${r.jobs_removed} jobs of history removed)` : 'was not registered'}${r.schema_dropped ? ', mirror schema dropped' : ''}`,
          );
      },
    );
  return cmd;
}
