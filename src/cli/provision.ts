import { Command } from 'commander';
import { provision } from '../ops/provision.ts';
import { adminUrl, adminUrlOption } from './connections.ts';
import { printJson, type Io } from './output.ts';

export function provisionCommand(io: Io): Command {
  return new Command('provision')
    .description('create or upgrade the sync_metadata schema from the numbered migrations in sql/ (idempotent)')
    .option('--json', 'print the result as JSON')
    .addOption(adminUrlOption())
    .addHelpText('after', '\nAn existing sync_metadata made by the legacy toolkit is upgraded in place; every row is kept.')
    .action(async (opts: { json?: boolean; adminUrl?: string }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals().json;
      const r = await provision(adminUrl(io, opts.adminUrl));
      if (json) printJson(io, r);
      else {
        if (r.adoptedLegacy) io.out('found a sync_metadata schema made by the legacy toolkit: upgraded in place, rows kept');
        for (const m of r.applied) io.out(`applied ${m}`);
        io.out(`sync_metadata is at version ${r.schema_version}${r.applied.length ? '' : ' (already up to date)'}`);
      }
    });
}
