import { ExitCode } from '../util/errors.ts';
import { packageVersion } from '../util/paths.ts';
import { agentCommand } from './agent.ts';
import { clientCommand } from './client.ts';
import { clusterCommand, failoverTestCommand } from './cluster.ts';
import { Command, CommanderError } from './commander.ts';
import { configCommand } from './config.ts';
import { conflictsCommand } from './conflicts.ts';
import { demoCommand } from './demo.ts';
import { deployCommands } from './deploy.ts';
import { hostCommand } from './host.ts';
import { canDrawMenu, menuCommand } from './menu.ts';
import { endQuietlyOnClosedPipe, type Io, printError, processIo } from './output.ts';
import { provisionCommand } from './provision.ts';
import { restoreCommand } from './restore.ts';
import { scheduleCommands } from './schedule.ts';
import { schemaCommand } from './schema.ts';
import { statusCommand } from './status.ts';
import { syncCommand } from './sync.ts';
import { tokenCommand } from './token.ts';
import { verifyCommand } from './verify.ts';

export function buildProgram(io: Io, setExit: (c: number) => void): Command {
  const program = new Command('owui-sync')
    .description('Copies every Open WebUI tenant (SQLite) one way and continuously into its own PostgreSQL schema.')
    .version(packageVersion(), '-V, --version')
    .option('--json', 'print results as JSON (every command; also accepted after the verb)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 finished but rows await manual review, 4 verify found differences.\nConnections: OWUI_SYNC_DATABASE_URL (runtime) and OWUI_SYNC_ADMIN_URL (DDL), or their _FILE variants;\nOWUI_SYNC_CONNECTION_MODE=transaction through a transaction pooler (fleet mode, docs/fleet.md).\nSettings: flags, then the environment, then ~/.config/owui-sync/config.json, then /etc/owui-sync/config.json\n(or the file OWUI_SYNC_CONFIG names); owui-sync config show prints what is in force and where it came from.\nColour: only on a terminal; NO_COLOR (not empty) or TERM=dumb turn it off, FORCE_COLOR turns it on.',
    );
  program.addCommand(provisionCommand(io));
  program.addCommand(clientCommand(io));
  program.addCommand(hostCommand(io));
  program.addCommand(syncCommand(io, setExit));
  program.addCommand(verifyCommand(io, setExit));
  program.addCommand(restoreCommand(io, setExit));
  program.addCommand(schemaCommand(io, setExit));
  program.addCommand(statusCommand(io));
  for (const c of scheduleCommands(io)) program.addCommand(c);
  program.addCommand(clusterCommand(io, setExit));
  program.addCommand(failoverTestCommand(io, setExit));
  program.addCommand(configCommand(io));
  program.addCommand(conflictsCommand(io, setExit));
  program.addCommand(agentCommand(io));
  program.addCommand(tokenCommand(io));
  for (const c of deployCommands(io, setExit)) program.addCommand(c);
  program.addCommand(menuCommand(io));
  program.addCommand(demoCommand(io, setExit));
  // Settings files fill in what the environment leaves unset, before any verb runs (not for --help).
  program.hook('preAction', async () => {
    const { applySettingsFiles } = await import('../util/settings-file.ts');
    applySettingsFiles();
    // Every pool of this process opens in the configured mode (a transaction pooler: no session state).
    const { connectionModeSetting } = await import('../util/config.ts');
    const { setConnectionMode } = await import('../pg/connect.ts');
    setConnectionMode(connectionModeSetting());
  });
  program.exitOverride();
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  return program;
}

/** Run the CLI; returns the exit code (the shim sets process.exitCode, so output is flushed). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code: number = ExitCode.ok;
  if (io === processIo) endQuietlyOnClosedPipe();
  const program = buildProgram(io, (c) => (code = c));
  if (argv.length <= 2) {
    // No verb: on a terminal, the menu; otherwise the usage on stderr and exit 2, so a script that forgot its
    // verb does not pass for a success.
    if (io === processIo && canDrawMenu()) argv = [...argv, 'menu'];
    else {
      io.err(program.helpInformation().trimEnd());
      return ExitCode.usage;
    }
  }
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return ExitCode.ok;
      return ExitCode.usage;
    }
    printError(io, err);
    return (err as { exitCode?: number }).exitCode ?? ExitCode.failed;
  }
}
