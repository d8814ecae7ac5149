import { resolveSetting } from '../util/config.ts';
import { ConfigError, ExitCode } from '../util/errors.ts';
import { Command } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import type { Io } from './output.ts';
import { wantsColour } from './style.ts';

/** Whether this process may draw the menu: a terminal on both ends, and not TERM=dumb. */
export const canDrawMenu = (env: NodeJS.ProcessEnv = process.env) =>
  !!process.stdin.isTTY && !!process.stdout.isTTY && env.TERM !== 'dumb';

export async function openMenu(io: Io, opts: { host?: string; databaseUrl?: string; nodesFile?: string }) {
  if (!canDrawMenu())
    throw new ConfigError(
      'the menu needs a terminal (and TERM other than dumb)',
      'run it over ssh -t, or use the subcommands: owui-sync --help',
    );
  const url = databaseUrl(io, opts.databaseUrl);
  const [{ runMenu }, { LocalNodes }, { findNodeController }] = await Promise.all([
    import('../tui/run.tsx'),
    import('../ops/nodes.ts'),
    import('../ops/docker-nodes.ts'),
  ]);
  await runMenu({
    databaseUrl: url,
    adminUrl: resolveSetting('OWUI_SYNC_ADMIN_URL', undefined) ?? null,
    host: opts.host ?? process.env.OWUI_SYNC_HOST,
    nodes: opts.nodesFile ? new LocalNodes(opts.nodesFile) : await findNodeController(),
    colour: wantsColour(process.stdout),
    settings: (await import('../util/settings.ts')).syncSettings(),
    secretFiles: {
      passwordFile: process.env.OWUI_SYNC_DATABASE_PASSWORD_FILE ?? null,
      jwtFile: process.env.OWUI_SYNC_JWT_SECRET_FILE ?? null,
    },
  });
}

export function menuCommand(io: Io): Command {
  return new Command('menu')
    .description('the operator menu (also: owui-sync with no arguments on a terminal)')
    .option('--host <name>', 'the registered host (default: OWUI_SYNC_HOST, or the one host this login may see)')
    .option('--nodes-file <file>', 'the local agent processes to control (default: OWUI_SYNC_NODES_FILE)')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Keys: arrows or j/k move, Enter chooses, Esc or Backspace goes back, / filters a list, r refreshes, ? helps, q quits.
Registering and deregistering need the admin connection (OWUI_SYNC_ADMIN_URL_FILE); the rest runs as the host role.
Without a terminal (or with TERM=dumb) it exits ${ExitCode.usage}: use the subcommands it mirrors (docs/menu.md).`,
    )
    .action(async (opts: { host?: string; databaseUrl?: string; nodesFile?: string }) => openMenu(io, opts));
}
