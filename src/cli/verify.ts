import { ExitCode } from '../util/errors.ts';
import { Command, Option } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { fmtInt, type Io, ProgressLine, printJson, table } from './output.ts';

export function verifyCommand(io: Io, setExit: (c: number) => void): Command {
  return new Command('verify')
    .description('compare every SQLite row with its mirror row (and every tombstone); exit 4 if they differ')
    .argument('<name>', 'client name')
    .addOption(new Option('--limit <n>', 'list at most this many differences').default(1000).argParser(Number))
    .option('--against <path>', "compare this SQLite file (a restored one) instead of the client's own")
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      '\nRows Open WebUI changed after the last sync show as differences: run it right after a sync.\nExit codes: 0 identical, 4 differences found, 1 failed, 2 usage/configuration.',
    )
    .action(
      async (
        name: string,
        opts: { limit: number; json?: boolean; against?: string; databaseUrl?: string },
        cmd: Command,
      ) => {
        const json = !!cmd.optsWithGlobals().json;
        const url = databaseUrl(io, opts.databaseUrl);
        const [{ openPg }, { getDeployment, requireProvisioned }, { verify }] = await Promise.all([
          import('../pg/connect.ts'),
          import('../pg/deployments.ts'),
          import('../sync/verify.ts'),
        ]);
        const settings = (await import('../util/settings.ts')).syncSettings();
        const sql = await openPg(url, 'the database connection');
        const progress = new ProgressLine(io);
        try {
          await requireProvisioned(sql);
          const dep = await getDeployment(sql, name);
          const r = await verify(sql, dep, {
            ...settings,
            limit: opts.limit,
            against: opts.against,
            onTable: json ? undefined : (t, i, n) => progress.update(`verifying table ${i + 1}/${n} ${t}`),
          });
          progress.done();
          if (json) printJson(io, r);
          else {
            if (r.differences.length) {
              io.out(
                table(
                  r.differences.map((d) => [
                    d.table,
                    d.kind,
                    d.key ? JSON.stringify(d.key) : '',
                    d.columns?.join(',') ?? d.detail ?? '',
                  ]),
                  ['TABLE', 'DIFFERENCE', 'KEY', 'COLUMNS / DETAIL'],
                ),
              );
            }
            io.out(
              `${name}: ${r.identical ? 'identical' : `${fmtInt(r.differences_total)} differences`} (${fmtInt(r.rows_checked)} rows and ${fmtInt(r.tombstones_checked)} tombstones in ${r.tables_checked} tables checked, ${(r.duration_ms / 1000).toFixed(1)} s)`,
            );
            if (!r.identical)
              io.out(
                opts.against
                  ? `hint: the file differs from the mirror; restore it again (owui-sync restore ${name} --to PATH --force)`
                  : `hint: run owui-sync sync ${name} --full, then verify again`,
              );
          }
          setExit(r.identical ? ExitCode.ok : ExitCode.differences);
        } finally {
          progress.done();
          await sql.end({ timeout: 5 });
        }
      },
    );
}
