import type { SchemaDiffResult } from '../ops/clients.ts';
import { Command } from './commander.ts';
import { adminUrl, adminUrlOption, databaseUrl, databaseUrlOption } from './connections.ts';
import { type Io, printJson } from './output.ts';

function printDiff(io: Io, r: SchemaDiffResult) {
  const d = r.diff;
  for (const t of d.missingTables) io.out(`+ table ${t.table} (${t.columns} columns)`);
  for (const c of d.missingColumns) io.out(`+ column ${c.table}.${c.column} ${c.type}`);
  for (const t of d.typeDifferences)
    io.out(
      `~ column ${t.table}.${t.column}: SQLite maps to ${t.source}, mirror has ${t.target} (kept; values are cast to the mirror's type)`,
    );
  for (const t of d.targetOnlyTables) io.out(`= table ${t} exists only in the mirror (kept)`);
  for (const c of d.targetOnlyColumns) io.out(`= column ${c.table}.${c.column} exists only in the mirror (kept)`);
  for (const t of d.missingTriggers)
    if (!d.missingTables.some((m) => m.table === t))
      io.out(`+ trigger ${t}: marks rows changed by others (conflict detection)`);
  for (const s of d.skippedSourceTables) io.out(`! table ${s.table} is not synced: ${s.reason}`);
}

export function schemaCommand(io: Io, setExit: (c: number) => void): Command {
  const cmd = new Command('schema').description("schema drift between a tenant's SQLite database and its mirror");
  cmd
    .command('diff')
    .description('show tables and columns SQLite has and the mirror lacks (read-only)')
    .argument('<name>', 'client name')
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText('after', '\nExit codes: 0 in sync, 4 drift found (apply it with `owui-sync schema apply NAME`).')
    .action(async (name: string, opts: { json?: boolean; databaseUrl?: string }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals().json;
      const url = databaseUrl(io, opts.databaseUrl);
      const [{ openPg }, { schemaDiff }] = await Promise.all([import('../pg/connect.ts'), import('../ops/clients.ts')]);
      const sql = await openPg(url, 'the database connection');
      try {
        const r = await schemaDiff(sql, name);
        if (json) printJson(io, r);
        else {
          printDiff(io, r);
          io.out(
            r.in_sync
              ? `${name}: the mirror has every table and column of the SQLite database`
              : `${name}: ${r.statements.length} changes needed; apply with: owui-sync schema apply ${name}`,
          );
        }
        setExit(r.in_sync ? 0 : 4);
      } finally {
        await sql.end({ timeout: 5 });
      }
    });
  cmd
    .command('apply')
    .description('create the missing tables and columns in the mirror (admin connection; never drops anything)')
    .argument('<name>', 'client name')
    .option('--json', 'print the result as JSON')
    .addOption(adminUrlOption())
    .action(async (name: string, opts: { json?: boolean; adminUrl?: string }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals().json;
      const url = adminUrl(io, opts.adminUrl);
      const { schemaApply } = await import('../ops/clients.ts');
      const r = await schemaApply(url, name);
      if (json) printJson(io, r);
      else {
        printDiff(io, r);
        io.out(r.applied ? `${name}: applied ${r.applied} changes` : `${name}: nothing to apply`);
      }
    });
  return cmd;
}
