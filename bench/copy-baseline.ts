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
