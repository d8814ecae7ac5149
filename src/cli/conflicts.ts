import { STRATEGIES, type Strategy } from '../conflicts/strategies.ts';
import type { Choice } from '../ops/conflicts.ts';
import type { Sql } from '../pg/connect.ts';
import { ConfigError } from '../util/errors.ts';
import { Command, Option } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { type Io, printJson, table } from './output.ts';

/** `chat=merge` -> ['chat', 'merge'], with the strategy checked. */
function parseTableStrategy(text: string): [string, Strategy] {
  const m = /^([^=]+)=(.+)$/.exec(text);
  const strategy = m?.[2] as Strategy | undefined;
  if (!m || !strategy || !STRATEGIES.includes(strategy))
    throw new ConfigError(
      `invalid --table ${JSON.stringify(text)}`,
      `use TABLE=STRATEGY, with a strategy of: ${STRATEGIES.join(', ')} (e.g. --table chat=merge)`,
    );
  return [m[1]!, strategy];
}

export function conflictsCommand(io: Io, setExit: (c: number) => void): Command {
  const cmd = new Command('conflicts').description(
    'rows changed both in SQLite and in PostgreSQL: configuration, audit log, manual override',
  );
  type Ops = typeof import('../ops/conflicts.ts');
  const withSql = async <T>(flag: string | undefined, fn: (sql: Sql, ops: Ops) => Promise<T>) => {
    const url = databaseUrl(io, flag);
    const [{ openPg }, ops] = await Promise.all([import('../pg/connect.ts'), import('../ops/conflicts.ts')]);
    const sql = await openPg(url, 'the database connection');
    try {
      return await fn(sql, ops);
    } finally {
      await sql.end({ timeout: 5 });
    }
  };

  cmd
    .command('config')
    .description(
      "store a client's conflict configuration (--file, or --default-strategy / --table), or show the one in force (--show)",
    )
    .argument('<name>', 'client name')
    .option(
      '--file <path>',
      'a JSON file in the format of templates/conflict-resolution-default.json; validated, then stored in PostgreSQL',
    )
    .option('--show', 'print the configuration in force (stored, or the default)')
    .addOption(new Option('--default-strategy <strategy>', 'change the default strategy').choices([...STRATEGIES]))
    .option(
      '--table <table=strategy>',
      `change one table's strategy (repeatable): ${STRATEGIES.join(', ')}`,
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .action(
      async (
        name: string,
        opts: {
          file?: string;
          show?: boolean;
          defaultStrategy?: Strategy;
          table: string[];
          json?: boolean;
          databaseUrl?: string;
        },
        c: Command,
      ) => {
        const edits = opts.defaultStrategy !== undefined || opts.table.length > 0;
        if ([!!opts.file, !!opts.show, edits].filter(Boolean).length !== 1)
          throw new ConfigError(
            'conflicts config needs one of --file FILE, --show, or --default-strategy / --table',
            'owui-sync conflicts config NAME --show; owui-sync conflicts config NAME --default-strategy newest_wins --table chat=merge',
          );
        const tables = Object.fromEntries(opts.table.map(parseTableStrategy));
        await withSql(
          opts.databaseUrl,
          async (sql, { changeConflictConfig, setConflictConfig, showConflictConfig }) => {
            if (edits) {
              const cfg = await changeConflictConfig(sql, name, { defaultStrategy: opts.defaultStrategy, tables });
              if (c.optsWithGlobals().json) printJson(io, { client: name, stored: true, config: cfg });
              else {
                const r = cfg.conflict_resolution;
                io.out(`stored the conflict configuration of ${name}: default ${r.default_strategy}`);
                for (const t of Object.keys(tables)) io.out(`  ${t}: ${r.table_strategies[t]!.strategy}`);
                io.out('the next sync uses it');
              }
            } else if (opts.file) {
              const cfg = await setConflictConfig(sql, name, opts.file);
              if (c.optsWithGlobals().json) printJson(io, { client: name, stored: true, config: cfg });
              else
                io.out(
                  `stored the conflict configuration of ${name} (default ${cfg.conflict_resolution.default_strategy}, ${Object.keys(cfg.conflict_resolution.table_strategies).length} table rules); the next sync uses it`,
                );
            } else {
              const r = await showConflictConfig(sql, name);
              if (c.optsWithGlobals().json) printJson(io, r);
              else {
                io.out(
                  `# conflict configuration of ${name} (${r.source === 'stored' ? 'stored in PostgreSQL' : 'the default: none stored yet'})`,
                );
                io.out(JSON.stringify(r.config, null, 2));
              }
            }
          },
        );
      },
    );

  cmd
    .command('list')
    .description('the conflict log, newest first')
    .argument('[name]', 'client name (default: every client you may see)')
    .option('--pending', 'only conflicts that wait for a manual resolution')
    .option('--since <age>', 'only conflicts detected within this age: 30m, 12h, 7d')
    .addOption(new Option('--limit <n>', 'at most this many').default(500).argParser(Number))
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText('after', '\nExit codes: 0, or 3 with --pending when conflicts wait for review.')
    .action(
      async (
        name: string | undefined,
        opts: { pending?: boolean; since?: string; limit: number; json?: boolean; databaseUrl?: string },
        c: Command,
      ) => {
        const rows = await withSql(opts.databaseUrl, (sql, { listConflicts, parseSince }) =>
          listConflicts(sql, {
            client: name,
            pending: opts.pending,
            sinceSeconds: opts.since ? parseSince(opts.since) : undefined,
            limit: opts.limit,
          }),
        );
        if (c.optsWithGlobals().json) printJson(io, rows);
        else if (rows.length === 0) io.out(opts.pending ? 'no conflict waits for review' : 'no conflicts');
        else
          io.out(
            table(
              rows.map((r) => [
                r.log_id,
                r.detected_at.slice(0, 19).replace('T', ' '),
                r.client_name,
                r.table_name,
                r.record_id.length > 40 ? `${r.record_id.slice(0, 37)}...` : r.record_id,
                r.conflict_type,
                r.resolution_strategy ?? '',
                r.resolved_at ? `${r.winner} (${r.resolved_by})` : 'PENDING',
              ]),
              ['ID', 'DETECTED', 'CLIENT', 'TABLE', 'RECORD', 'TYPE', 'STRATEGY', 'RESOLUTION'],
            ),
          );
        if (opts.pending && rows.length) setExit(3);
      },
    );

  cmd
    .command('show')
    .description('one conflict with its source, target and resolved data')
    .argument('<id>', 'conflict id (log_id)')
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .action(async (id: string, opts: { json?: boolean; databaseUrl?: string }) => {
      const r = await withSql(opts.databaseUrl, (sql, { showConflict }) => showConflict(sql, id));
      printJson(io, r);
    });

  cmd
    .command('resolve')
    .description('resolve a pending conflict by hand: apply the chosen version and record who and when')
    .argument('<id>', 'conflict id (log_id)')
    .addOption(
      new Option('--use <version>', 'which version the mirror keeps')
        .choices(['source', 'target', 'merged'])
        .makeOptionMandatory(),
    )
    .option('--by <name>', 'recorded as resolved_by (default: your login name)')
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      "\nsource: the SQLite row (read now) replaces the mirror row; target: the mirror keeps its row;\nmerged: both, by the table's merge rules (chat messages merged by id).",
    )
    .action(
      async (id: string, opts: { use: Choice; by?: string; json?: boolean; databaseUrl?: string }, c: Command) => {
        const r = await withSql(opts.databaseUrl, (sql, { resolveConflict }) =>
          resolveConflict(sql, id, opts.use, opts.by),
        );
        if (c.optsWithGlobals().json) printJson(io, r);
        else
          io.out(
            `conflict ${r.log_id} (${r.table_name} ${r.record_id}): resolved with the ${r.winner} version by ${r.resolved_by}`,
          );
      },
    );
  return cmd;
}
