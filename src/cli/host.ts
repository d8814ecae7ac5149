import { Command } from './commander.ts';
import { adminUrl, adminUrlOption } from './connections.ts';
import { type Io, printJson } from './output.ts';

export function hostCommand(io: Io): Command {
  const cmd = new Command('host').description('the hosts whose agents sync clients (each logs in with its own role)');
  cmd
    .command('remove')
    .description('revoke a host: end its sessions, drop its role and privileges; other hosts and all rows stay')
    .argument('<name>', 'host name')
    .option('--json', 'print the result as JSON')
    .addOption(adminUrlOption())
    .action(async (name: string, opts: { json?: boolean; adminUrl?: string }, c: Command) => {
      const url = adminUrl(io, opts.adminUrl);
      const { hostRemove } = await import('../ops/hosts.ts');
      const r = await hostRemove(url, name);
      if (c.optsWithGlobals().json) printJson(io, r);
      else {
        io.out(
          `host ${r.host}: role ${r.role} ${r.role_dropped ? 'dropped' : 'not present'}, ${r.sessions_ended} sessions ended; the host is marked offline`,
        );
        if (r.orphaned_clients.length)
          io.out(
            `clients still assigned to it (not synced until moved with client add NAME --host OTHER): ${r.orphaned_clients.join(', ')}`,
          );
      }
    });
  return cmd;
}
