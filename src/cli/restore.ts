import type { RestoreProgress } from '../ops/restore.ts';
import { ExitCode } from '../util/errors.ts';
import { Command, Option } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { bar, fmtBytes, fmtInt, type Io, ProgressLine, printJson } from './output.ts';

export function restoreCommand(io: Io, setExit: (c: number) => void): Command {
  return new Command('restore')
    .description("write a client's mirror back into a new SQLite file that Open WebUI opens as its webui.db")
    .argument('<name>', 'client name')
    .requiredOption('--to <path>', 'the file to write (never overwritten without --force)')
    .option('--force', 'replace an existing file; the old one is kept beside it as NAME.before-restore-TIME')
    .option(
      '--check-against <path>',
      "a running tenant's webui.db: refuse when the copy's schema is newer than that tenant's Open WebUI",
    )
    .addOption(new Option('--at <timestamp>', 'point in time: not available (the mirror keeps no history; exit 2)'))
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      [
        '',
        "Stop the tenant's container first: restore refuses a folder an Open WebUI process has files open in.",
        'The file is built under a hidden name (.NAME.restoring-PID) and renamed only when it is complete and',
        'its integrity check passed. Uploaded files live outside webui.db and are not part of the copy.',
        'Check the result: owui-sync verify NAME --against PATH. Steps: docs/restore.md.',
        'Exit codes: 0 restored, 1 failed, 2 usage/configuration (also --at, and a copy newer than --check-against).',
      ].join('\n'),
    )
    .action(
      async (
        name: string,
        opts: { to: string; force?: boolean; checkAgainst?: string; at?: string; databaseUrl?: string },
        cmd: Command,
      ) => {
        const json = !!cmd.optsWithGlobals().json;
        const { pointInTimeRefused, restore } = await import('../ops/restore.ts');
        if (opts.at) throw pointInTimeRefused(opts.at);
        const url = databaseUrl(io, opts.databaseUrl);
        const [{ openPg }, { requireProvisioned }] = await Promise.all([
          import('../pg/connect.ts'),
          import('../pg/deployments.ts'),
        ]);
        const sql = await openPg(url, 'the database connection');
        const progress = new ProgressLine(io);
        const show = (p: RestoreProgress) =>
          progress.update(
            `restoring ${bar(p.rowsEstimate ? p.rowsDone / p.rowsEstimate : 0)} table ${p.index + 1}/${p.count} ${p.table}: ${fmtInt(p.rows)} rows (${fmtInt(p.rowsDone)} in all)`,
          );
        try {
          await requireProvisioned(sql);
          const r = await restore(sql, {
            client: name,
            to: opts.to,
            force: opts.force,
            checkAgainst: opts.checkAgainst,
            onProgress: json ? undefined : show,
          });
          progress.done();
          if (json) printJson(io, r);
          else {
            io.out(
              `${name}: restored ${fmtInt(r.rows)} rows in ${r.tables.length} tables to ${r.path} (${fmtBytes(r.bytes)}, ${(r.duration_ms / 1000).toFixed(1)} s)`,
            );
            io.out(
              `schema: Open WebUI revision ${r.alembic_version ?? '(none)'}, as recorded ${r.schema_recorded_at}; last sync ${r.last_sync_at ?? 'never'}; integrity ${r.integrity}`,
            );
            if (r.check) io.out(`check against ${r.check.against}: ${r.check.verdict} (${r.check.detail})`);
            if (r.replaced) io.out(`the file that was there is now ${r.replaced}`);
            if (r.empty_tables.length)
              io.out(`created empty: ${r.empty_tables.map((t) => `${t.table} (${t.reason})`).join(', ')}`);
            if (r.rows_set_aside)
              io.out(
                `not in the copy: ${fmtInt(r.rows_set_aside)} rows the sync set aside (PostgreSQL refused them; owui-sync status ${name} counts them)`,
              );
            if (r.rows_changed_in_postgres)
              io.out(
                `${fmtInt(r.rows_changed_in_postgres)} rows were changed in PostgreSQL after their sync: restored as PostgreSQL has them`,
              );
            io.out(`check it: owui-sync verify ${name} --against ${r.path}`);
          }
          setExit(ExitCode.ok);
        } finally {
          progress.done();
          await sql.end({ timeout: 5 });
        }
      },
    );
}
