import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { ident, type Sql } from '../src/pg/connect.ts';
import { introspect } from '../src/sqlite/introspect.ts';
import { copyField } from '../src/sync/sql.ts';

/**
 * The baseline: the same rows, read from the same SQLite file, sent with a plain COPY into tables of
 * the same column types, with nothing else (no normalising, hashing, merge, checkpoints or job rows).
 */
export async function copyBaseline(sql: Sql, sqlitePath: string): Promise<{ rows: number; bytes: number }> {
  const db = new Database(sqlitePath, { readonly: true });
  db.defaultSafeIntegers(true);
  const plan = introspect(db);
  await sql`drop schema if exists bench_baseline cascade`;
  await sql`create schema bench_baseline`;
  let rows = 0;
  let bytes = 0;
  try {
    for (const t of plan.tables) {
      const tbl = `bench_baseline.${ident(t.name)}`;
      await sql.unsafe(`CREATE TABLE ${tbl} (${t.columns.map((c) => `${ident(c.name)} ${c.pgType}`).join(', ')})`);
      const stmt = db
        .prepare(
          `SELECT ${t.columns.map((c) => `"${c.name.replaceAll('"', '""')}"`).join(', ')} FROM "${t.name.replaceAll('"', '""')}"`,
        )
        .raw(true);
      function* lines(): Generator<string> {
        let chunk = '';
        for (const r of stmt.iterate() as IterableIterator<unknown[]>) {
          rows++;
          const f = r.map((v) => {
            if (v === null) return '\\N';
            const s = typeof v === 'string' ? v : Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : String(v);
            bytes += s.length;
            return copyField(s);
          });
          chunk += `${f.join('\t')}\n`;
          if (chunk.length > 1 << 20) {
            yield chunk;
            chunk = '';
          }
        }
        if (chunk) yield chunk;
      }
      await sql.begin(async (tx) => {
        const w = await tx.unsafe(`COPY ${tbl} FROM STDIN`).writable();
        await pipeline(Readable.from(lines()), w);
      });
    }
  } finally {
    db.close();
  }
  return { rows, bytes };
}

/**
 * The raw pipeline baseline: per table, `sqlite3 -csv` piped into `psql \copy ... csv`, into unindexed tables of
 * text columns. No Node.js in the data path at all. The password goes to psql through PGPASSWORD (this child's
 * environment only), never on a command line.
 */
export async function cliCopyBaseline(url: string, sqlitePath: string): Promise<{ rows: number; bytes: number }> {
  const db = new Database(sqlitePath, { readonly: true });
  const plan = introspect(db);
  const counts = plan.tables.map(
    (t) => (db.prepare(`SELECT count(*) AS n FROM "${t.name.replaceAll('"', '""')}"`).get() as { n: number }).n,
  );
  db.close();
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const env = { ...process.env, PGPASSWORD: password };
  const psql = (args: string[], input?: NodeJS.ReadableStream) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', u.toString(), ...args], {
        env,
        stdio: [input ? 'pipe' : 'ignore', 'ignore', 'inherit'],
      });
      if (input) input.pipe(p.stdin!);
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}`))));
    });
  await psql(['-c', 'DROP SCHEMA IF EXISTS bench_cli CASCADE; CREATE SCHEMA bench_cli']);
  let bytes = 0;
  for (const t of plan.tables) {
    const tbl = `bench_cli.${ident(t.name)}`;
    await psql(['-c', `CREATE TABLE ${tbl} (${t.columns.map((c) => `${ident(c.name)} text`).join(', ')})`]);
    const cols = t.columns.map((c) => `"${c.name.replaceAll('"', '""')}"`).join(', ');
    const reader = spawn(
      'sqlite3',
      ['-readonly', '-csv', sqlitePath, `SELECT ${cols} FROM "${t.name.replaceAll('"', '""')}"`],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    reader.stdout!.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    await psql(['-c', `\\copy ${tbl} FROM STDIN WITH (FORMAT csv)`], reader.stdout!);
  }
  return { rows: counts.reduce((a, b) => a + b, 0), bytes };
}
