import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
  // One shell pipeline and one psql session for the whole tenant (a process and a connection per table would
  // measure their start-up): psql reads its script from stdin, and each table's `\copy ... FROM STDIN` reads the
  // rows the sqlite3 shell prints into that same stream, up to `\.`. The statements sit in files, so nothing is
  // quoted for the shell.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-raw-'));
  try {
    const parts = ['set -e', '{', `  cat ${path.join(dir, 'head.sql')}`];
    const head = ['DROP SCHEMA IF EXISTS bench_cli CASCADE;', 'CREATE SCHEMA bench_cli;'];
    plan.tables.forEach((t, i) => {
      const tbl = `bench_cli.${ident(t.name)}`;
      head.push(`CREATE TABLE ${tbl} (${t.columns.map((c) => `${ident(c.name)} text`).join(', ')});`);
      const cols = t.columns.map((c) => `"${c.name.replaceAll('"', '""')}"`).join(', ');
      fs.writeFileSync(path.join(dir, `${i}.sql`), `SELECT ${cols} FROM "${t.name.replaceAll('"', '""')}";\n`);
      fs.writeFileSync(path.join(dir, `${i}.copy`), `\\copy ${tbl} FROM STDIN WITH (FORMAT csv)\n`);
      parts.push(`  cat ${path.join(dir, `${i}.copy`)}`);
      parts.push(`  sqlite3 -readonly -csv "$1" < ${path.join(dir, `${i}.sql`)}`);
      parts.push("  printf '\\\\.\\n'");
    });
    parts.push(`} | psql -X -q -v ON_ERROR_STOP=1 "$2" > /dev/null`);
    fs.writeFileSync(path.join(dir, 'head.sql'), `${head.join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'run.sh'), `${parts.join('\n')}\n`);
    await new Promise<void>((resolve, reject) => {
      const p = spawn('sh', [path.join(dir, 'run.sh'), sqlitePath, u.toString()], {
        env,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      p.on('error', reject);
      p.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`the sqlite3 | psql pipeline exited ${code}`)),
      );
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const bytes = fs.statSync(sqlitePath).size;
  return { rows: counts.reduce((a, b) => a + b, 0), bytes };
}
