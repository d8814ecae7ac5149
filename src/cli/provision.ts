import { Command } from './commander.ts';
import { adminUrl, adminUrlOption } from './connections.ts';
import { type Io, printJson } from './output.ts';

export function provisionCommand(io: Io): Command {
  return new Command('provision')
    .description('create or upgrade sync_metadata (idempotent); with --host, register a host and its login role')
    .option('--host <name>', 'register this host: creates the login role sync_service_<name> (member of sync_service)')
    .option('--cluster <name>', "the host's leader-election cluster (default: the host name)")
    .option(
      '--secret-file <path>',
      "where the host role's generated password is written (mode 0600); needed when the role is new or rotated",
    )
    .option(
      '--docker-secret <name>',
      'or: a Docker swarm secret of this name receives the password (mount it as db_sync_password)',
    )
    .option('--rotate', "replace the host role's password (the new one goes to --secret-file)")
    .option('--json', 'print the result as JSON')
    .addOption(adminUrlOption())
    .addHelpText(
      'after',
      '\nThe password is generated, stored in PostgreSQL as a SCRAM verifier, written only to --secret-file and never printed.\nAn existing sync_metadata made by the legacy toolkit is upgraded in place; every row is kept and the changes are listed.\nExamples:\n  owui-sync provision\n  owui-sync provision --host prod-host-1 --docker-secret db_sync_password\n  owui-sync provision --host prod-host-1 --secret-file /etc/owui-sync/db_sync_password\n  owui-sync provision --host prod-host-1 --rotate --secret-file /etc/owui-sync/db_sync_password',
    )
    .action(
      async (
        opts: {
          host?: string;
          cluster?: string;
          secretFile?: string;
          dockerSecret?: string;
          rotate?: boolean;
          json?: boolean;
          adminUrl?: string;
        },
        cmd: Command,
      ) => {
        const json = !!cmd.optsWithGlobals().json;
        const url = adminUrl(io, opts.adminUrl);
        const { provision } = await import('../ops/provision.ts');
        const r = await provision({
          adminUrl: url,
          host: opts.host,
          cluster: opts.cluster,
          secretFile: opts.secretFile,
          dockerSecret: opts.dockerSecret,
          rotate: opts.rotate,
        });
        if (json) printJson(io, r);
        else {
          if (r.adoptedLegacy) io.out('found a sync_metadata schema made by the legacy toolkit: upgraded in place');
          for (const c of r.changes) io.out(`  ${c}`);
          for (const m of r.applied)
            io.out(
              `applied ${m}${m in r.clientSteps ? ` (${r.clientSteps[m]} client schemas, one transaction each)` : ''}`,
            );
          io.out(`sync_metadata is at version ${r.schema_version}${r.applied.length ? '' : ' (already up to date)'}`);
          if (r.host) {
            const h = r.host;
            const where = !h.secret
              ? ' (kept; use --rotate to replace it)'
              : h.secret.kind === 'file'
                ? `, written to ${h.secret.path} (mode 0600)`
                : `, stored in Docker secret ${h.secret.name} (${h.secret.id})`;
            io.out(
              `host ${h.name} (cluster ${h.cluster}, id ${h.host_id}): role ${h.role}, password ${h.password}${where}`,
            );
          }
        }
      },
    );
}
