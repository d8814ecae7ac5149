import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { BINARY_COPY_HEADER, BINARY_COPY_TRAILER, CopyEncoder, copyTextOf, rowsOfPage } from '../src/model/copy.ts';
import type { PgType, TablePlan } from '../src/model/plan.ts';
import { canonicalTargetText, copyLine, normaliseValue, type RawEntry } from '../src/model/values.ts';
import { binaryForms, readTargetSchema } from '../src/pg/tenant.ts';
import { freshDatabase } from './helpers.ts';

// The binary COPY format against a real PostgreSQL: each form PostgreSQL's binary input of its type, for the values
// a sync writes (canonical text, from SQLite values as the reader normalises them).

const COLUMNS: [name: string, ddl: string, type: PgType][] = [
  ['k', 'text COLLATE "C" NOT NULL', 'text'],
  ['t', 'text', 'text'],
  ['v', 'varchar(40)', 'text'],
  ['j', 'json', 'json'],
  ['jb', 'jsonb', 'json'],
  ['i', 'bigint', 'bigint'],
  ['b', 'boolean', 'boolean'],
  ['f', 'double precision', 'double precision'],
  ['y', 'bytea', 'bytea'],
];

/** SQLite values, one row each, with what each form must get right: signs, limits, empty values, escapes. */
const SOURCE: unknown[][] = [
  ['a', 'ünïcødé 🙂', 'v', '{"a": [1, 2.50, "x\\ny"]}', '{"b": 1}', 0n, 1n, 0.1, Buffer.from([0, 1, 255])],
  ['b', '', '', 5n, '[]', -1n, 0n, -0, Buffer.alloc(0)],
  ['c', null, null, null, null, 9223372036854775807n, null, 1e300, null],
  ['d', 'tab\there\\ new\nline', 'x', '"s"', 'null', -9223372036854775808n, 1n, -2.5e-300, Buffer.from('ab')],
  ['e', 'x'.repeat(5000), 'y', '{}', '{}', 9007199254740993n, 0n, 123456789.123, Buffer.alloc(3000, 7)],
  ['f', 'z', 'z', '1.50', '{}', -9007199254740993n, 1n, 42n, null],
  ['g', 'z', 'z', '{}', '{}', 4294967296n, 1n, Number.MAX_VALUE, null],
  ['h', 'z', 'z', '{}', '{}', -4294967297n, 1n, -Number.MIN_VALUE, null],
];

async function copyIn(sql: Awaited<ReturnType<typeof freshDatabase>>['sql'], stmt: string, data: (string | Buffer)[]) {
  const w = await sql.unsafe(stmt).writable();
  await pipeline(Readable.from(data), w);
}

describe('binary COPY (a mirror table whose column types all have a binary form)', () => {
  it('stores every form as the text COPY of the same values does, and reads back as the values', async () => {
    const { sql } = await freshDatabase();
    await sql.unsafe('CREATE SCHEMA s');
    const ddl = `${COLUMNS.map(([n, d]) => `${n} ${d}`).join(', ')}, _sync_hash text, _sync_raw jsonb, _sync_light text, PRIMARY KEY (k)`;
    await sql.unsafe(`CREATE TABLE s.bin (${ddl}); CREATE TABLE s.txt (${ddl})`);
    // A table with a column no binary form is written for: its COPY stays text.
    await sql.unsafe(
      'CREATE TABLE s.other (k text PRIMARY KEY, n integer, at timestamp, _sync_hash text, _sync_raw jsonb, _sync_light text)',
    );
    const target = await readTargetSchema(sql, 's');
    const plan: TablePlan = {
      name: 'bin',
      columns: COLUMNS.map(([name, , pgType]) => ({ name, declared: '', pgType })),
      key: ['k'],
      keySource: 'primary',
      hasUpdatedAt: false,
      updatedAtIndexed: false,
      hasRowid: true,
      large: [],
    };
    plan.copyBinary = binaryForms(target, plan);
    expect(plan.copyBinary).toEqual([
      'text',
      'text',
      'text',
      'text',
      'jsonb',
      'int8',
      'bool',
      'float8',
      'bytea',
      'text',
      'jsonb',
      'text',
    ]);
    const other = {
      ...plan,
      name: 'other',
      columns: [
        plan.columns[0]!,
        { name: 'n', declared: '', pgType: 'bigint' as const },
        { name: 'at', declared: '', pgType: 'timestamp' as const },
      ],
    };
    expect(binaryForms(target, other)).toBeUndefined();

    const rows = SOURCE.map((src, n) => {
      const values = src.map((v, i) => normaliseValue(v, COLUMNS[i]![2]).text);
      const raw: Record<string, RawEntry> | null = n === 0 ? { t: ['text', 'AP8='] } : null;
      return { values, hash: `h${n}`, raw, light: n % 2 ? `l${n}` : null };
    });
    const enc = new CopyEncoder(Buffer.allocUnsafe, 16, plan.copyBinary); // grows from far too small
    for (const r of rows) enc.add(r.values, r.hash, r.raw, r.light);
    const page = Buffer.from(enc.result());
    const cols = [...COLUMNS.map(([n]) => n), '_sync_hash', '_sync_raw', '_sync_light'].join(', ');
    await copyIn(sql, `COPY s.bin (${cols}) FROM STDIN (FORMAT binary)`, [
      BINARY_COPY_HEADER,
      page,
      BINARY_COPY_TRAILER,
    ]);
    await copyIn(
      sql,
      `COPY s.txt (${cols}) FROM STDIN`,
      rows.map((r) => copyLine(r.values, r.hash, r.raw, r.light)),
    );
    const read = (t: string) =>
      sql
        .unsafe(
          `SELECT ${[...COLUMNS.map(([n]) => `${n}::text`), '_sync_hash', '_sync_raw::text', '_sync_light'].join(', ')} FROM s.${t} ORDER BY k`,
          [],
          { prepare: false },
        )
        .values();
    const bin = (await read('bin')) as (string | null)[][];
    expect(bin).toEqual(await read('txt'));
    expect(bin).toHaveLength(SOURCE.length);
    // What PostgreSQL holds reads back as the values written (jsonb is PostgreSQL's own form of the JSON).
    for (const [n, r] of rows.entries()) {
      const got = bin[n]!;
      for (const [i, [name, , type]] of COLUMNS.entries()) {
        if (name === 'jb')
          expect(got[i] === null ? null : JSON.parse(got[i]!)).toEqual(
            r.values[i] === null ? null : JSON.parse(r.values[i]!),
          );
        else expect(canonicalTargetText(got[i]!, type), `${name} of row ${n}`).toBe(r.values[i]);
      }
      const [hash, raw, light] = got.slice(COLUMNS.length);
      expect([hash, raw === null ? null : JSON.parse(raw!), light]).toEqual([r.hash, r.raw, r.light]);
    }

    // Made back into records (a merge needs them), and into text lines for the staging table (all text).
    const made = rowsOfPage(plan, page);
    expect(made.map((r) => [r.key, r.hash, r.raw, r.light])).toEqual(
      rows.map((r) => [[r.values[0]], r.hash, r.raw, r.light]),
    );
    expect(made.map((r) => copyTextOf(plan.copyBinary!, page, r.copy!.start))).toEqual(
      rows.map((r) => copyLine(r.values, r.hash, r.raw, r.light)),
    );
  });
});
