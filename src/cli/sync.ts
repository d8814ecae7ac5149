import type { SyncResult } from '../sync/result.ts';
import { ExitCode, OwuiError } from '../util/errors.ts';
import { redactText } from '../util/redact.ts';
import { Command, Option } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { bar, fmtBytes, fmtInt, type Io, ProgressLine, printJson, table } from './output.ts';

export function syncCommand(io: Io, setExit: (c: number) => void): Command {
  return new Command('sync')
    .description('sync one client now: SQLite -> its PostgreSQL schema (incremental unless --full)')
    .argument('<name>', 'client name')
    .option('--full', 'full scan of every table: also catches updates that did not bump updated_at, and deletes')
    .addOption(new Option('--batch-size <rows>', 'rows per batch transaction (1-1000)').default(1000).argParser(Number))
    .option('--triggered-by <who>', 'recorded in sync_jobs.triggered_by', 'manual')
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 synced, 1 failed (also: synced, but the run could not record its result), 2 usage/configuration\n(incl. schema drift), 3 synced but rows were set aside for review.\nRollback-journal tenants: each read statement holds the lock at most OWUI_SYNC_READ_STATEMENT_MS (default 0.1; 0: no time bound).\nExample:\n  owui-sync sync chat-example-com --json',
    )
    .action(
      async (
        name: string,
        opts: { full?: boolean; batchSize: number; triggeredBy: string; json?: boolean; databaseUrl?: string },
        cmd: Command,
      ) => {
        const json = !!cmd.optsWithGlobals().json;
        if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1 || opts.batchSize > 1000) {
          throw new OwuiError(`--batch-size must be a whole number from 1 to 1000`, { exitCode: ExitCode.usage });
        }
        const url = databaseUrl(io, opts.databaseUrl);
        // The SQLite reader thread starts now, so that it is ready when the run has connected and prepared (a
        // failure to start it shows when the run opens the tenant).
        void import('../sqlite/source.ts').then((m) => m.prewarmReader()).catch(() => {});
        const [{ openPg }, { getDeployment, requireProvisioned }, { runSync }] = await Promise.all([
          import('../pg/connect.ts'),
          import('../pg/deployments.ts'),
          import('../sync/engine.ts'),
        ]);
        const settings = (await import('../util/settings.ts')).syncSettings();
        const sql = await openPg(url, 'the database connection');
        const ac = new AbortController();
        const stop = () => {
          if (!ac.signal.aborted) io.err('stopping after the current batch (press Ctrl-C again to force)');
          else process.exit(130);
          ac.abort();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        const progress = new ProgressLine(io);
        try {
          await requireProvisioned(sql);
          const dep = await getDeployment(sql, name);
          const result = await runSync(sql, dep, {
            ...settings,
            full: opts.full,
            batchRows: opts.batchSize,
            triggeredBy: opts.triggeredBy,
            signal: ac.signal,
            hooks: {
              onRetry: (err, attempt, ms) =>
                io.err(
                  redactText(
                    `retrying after a transient error (attempt ${attempt}, in ${ms} ms): ${(err as Error).message}`,
                  ),
                ),
            },
            onProgress:
              io.isTTY && !json
                ? (p) => {
                    const frac = p.rowsTotal ? p.rowsRead / p.rowsTotal : (p.tableIndex + 1) / p.tableCount;
                    const of = p.rowsTotal ? `/${fmtInt(p.rowsTotal)}` : '';
                    progress.update(
                      `${bar(frac)} table ${p.tableIndex + 1}/${p.tableCount} ${p.table} (${p.mode}) ${fmtInt(p.rowsRead)}${of} rows read, ${fmtInt(p.rowsWritten)} written, ${fmtBytes(p.bytes)}`,
                    );
                  }
                : undefined,
          });
          progress.done();
          if (json) printJson(io, result);
          else printSummary(io, result);
          if (result.bookkeeping_error) {
            io.err(`error: ${redactText(result.bookkeeping_error)}`);
            io.err(
              'hint: the batches this run committed stay committed; check the connection to PostgreSQL, then run the sync again (it marks this job abandoned and carries on)',
            );
          }
          setExit(
            result.status !== 'success' || result.bookkeeping_error
              ? ExitCode.failed
              : result.rejected_pending + result.conflicts_pending > 0
                ? ExitCode.conflicts
                : ExitCode.ok,
          );
        } finally {
          progress.done();
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          await sql.end({ timeout: 5 });
        }
      },
    );
}

function printSummary(io: Io, r: SyncResult) {
  const t = r.totals;
  if (r.kind === 'unchanged') {
    io.out(`${r.client}: no change since the last sync (database files unchanged); job ${r.job_id}`);
    return;
  }
  const changed = r.tables.filter((x) => x.inserted + x.updated + x.tombstoned + x.rejected > 0);
  if (changed.length) {
    io.out(
      table(
        changed.map((x) => [
          x.table,
          x.mode,
          fmtInt(x.rows_read),
          fmtInt(x.inserted),
          fmtInt(x.updated),
          fmtInt(x.tombstoned),
          fmtInt(x.rejected),
        ]),
        ['TABLE', 'MODE', 'READ', 'INSERTED', 'UPDATED', 'TOMBSTONED', 'SET ASIDE'],
      ),
    );
  }
  const verb = r.status === 'success' ? 'synced' : r.status === 'cancelled' ? 'cancelled' : 'FAILED';
  io.out(
    `${r.client}: ${verb} (${r.kind}) in ${(r.duration_ms / 1000).toFixed(1)} s: ${fmtInt(t.rows_read)} rows read, ${fmtInt(t.inserted)} inserted, ${fmtInt(t.updated)} updated, ${fmtInt(t.tombstoned)} tombstoned, ${fmtBytes(t.bytes)} written; job ${r.job_id}`,
  );
  if (t.raw_values > 0)
    io.out(
      `${fmtInt(t.raw_values)} values were stored in their lossless raw form (_sync_raw): see docs/how-a-sync-works.md "How values are stored"`,
    );
  for (const s of r.skipped_tables) io.out(`skipped table ${s.table}: ${s.reason}`);
  if (t.conflicts > 0)
    io.out(
      `${fmtInt(t.conflicts)} conflicts (changed in PostgreSQL by someone else too): ${fmtInt(t.conflicts_resolved)} resolved by their strategy, ${fmtInt(t.conflicts_pending)} left for review`,
    );
  if (r.rejected_pending > 0)
    io.out(
      `${fmtInt(r.rejected_pending)} rows are set aside in sync_metadata.rejected_rows and await review (exit code 3)`,
    );
  if (r.conflicts_pending > 0)
    io.out(
      `${fmtInt(r.conflicts_pending)} conflicts await review: owui-sync conflicts list ${r.client} --pending (exit code 3)`,
    );
  if (r.error)
    io.err(`error: ${r.error}\nhint: fix the cause and run the sync again; it resumes from the last committed batch`);
}
