// npm run bench:engine [-- --rows 75000] [-- --size-mb 1600] [-- --skip-big] [-- --base <commit>]
// The engine's every-run exactness and its costs (issue 13), each figure with a baseline measured in the same run:
//   1. a many-row tenant: full-sync throughput against two raw COPY pipelines, and peak RSS; verify's time and peak;
//   2. a large tenant: peak RSS of a full sync; the light pass's cost on a run that finds nothing changed and on a
//      run after 1% of chats changed, each against the same run without the light pass;
//   3. what one ordinary run catches: 1% of chats retitled without an updated_at bump.
// Not a test; never gates CI. The output also goes to bench/out/engine-last-run.txt.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { clientAdd } from '../src/ops/clients.ts';
import { provision } from '../src/ops/provision.ts';
import { openPg } from '../src/pg/connect.ts';
import { startEmbedded } from '../src/pg/embedded.ts';
import { retitleWithoutBump } from '../src/sqlite/sample.ts';
import { benchChild, benchCli, type ChildMode, type ChildResult, setUpBase } from './children.ts';
import { buildLarge, buildManyRows } from './tenants.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '75000' },
    'size-mb': { type: 'string', default: '1600' },
    'skip-big': { type: 'boolean', default: false },
    'skip-many': { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    dir: { type: 'string' },
    /** The build whose full sync is the "before" of the same run (none: --base ''). */
    base: { type: 'string', default: '3f5dbb6' },
  },
});
const ROWS = Number(args.rows);
const SIZE_MB = Number(args['size-mb']);
const RUNS = Number(args.runs);
const dir = args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'owui-bench-engine-'));
fs.mkdirSync(dir, { recursive: true });
fs.chmodSync(dir, 0o755);

const lines: string[] = [];
const report = (s: string) => {
  lines.push(s);
  console.log(s);
};
const mb = (b: number) => b / 1024 / 1024;
const fmt = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const child = benchChild;
const hasPgloader = spawnSync('pgloader', ['--version']).status === 0;
const ROOT = path.resolve(import.meta.dirname, '..');
const baseRoot = args.base ? path.join(dir, 'base') : null;
if (baseRoot) setUpBase(ROOT, baseRoot, args.base!);

const pg = await startEmbedded({ dataDir: path.join(dir, 'pg') });
try {
  report(`owui-sync engine benchmarks, ${new Date().toISOString()}`);
  report(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), ${fmt(os.totalmem() / 2 ** 30, 0)} GiB RAM, Node ${process.version}; PostgreSQL 17 (embedded, default durability) on 127.0.0.1; each sync and baseline in a process of its own`,
  );
  await provision({ adminUrl: pg.url });
  const sql = await openPg(pg.url, 'bench');

  // 1. Many rows.
  if (!args['skip-many']) await manyRows();
  async function manyRows() {
    const many = path.join(dir, 'many', 'webui.db');
    fs.mkdirSync(path.dirname(many), { recursive: true });
    const m = buildManyRows(many, ROWS);
    report(`\nmany-row tenant: ${fmt(mb(m.bytes), 0)} MB webui.db (WAL), ${m.chats} chats of 10 rows, 43 tables`);
    const cli: ChildResult[] = [];
    const node: ChildResult[] = [];
    const ours: ChildResult[] = [];
    const before: ChildResult[] = [];
    const loader: ChildResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      // Interleaved, so a busy moment of the machine falls on all alike. Each sync is the first of a client of its
      // own (an empty mirror), so it writes every row, as the baselines do.
      await clientAdd({ name: `many${i}`, sqlitePath: many, adminUrl: pg.url });
      cli.push(await child('copy-cli', pg.url, `many${i}`, many));
      node.push(await child('copy', pg.url, `many${i}`, many));
      // pgloader (SBCL) now and then dies of its own ("GC invariant lost"): once more, and say so.
      if (hasPgloader)
        loader.push(
          await child('pgloader', pg.url, `many${i}`, many).catch((err: Error) => {
            report(`  (pgloader failed in run ${i + 1}, run again: ${err.message.split('\n')[0]!.slice(0, 120)})`);
            return child('pgloader', pg.url, `many${i}`, many);
          }),
        );
      ours.push(await child('full', pg.url, `many${i}`, many));
      if (baseRoot) {
        await clientAdd({ name: `base${i}`, sqlitePath: many, adminUrl: pg.url });
        before.push(await child('full-base', pg.url, `base${i}`, many));
      }
    }
    const rows = ours[0]!.totals!.rows_read;
    const rate = (xs: ChildResult[], n: number) => n / (median(xs.map((x) => x.ms)) / 1000);
    report(`full sync of ${fmt(rows, 0)} rows, median of ${RUNS} runs each, interleaved:`);
    report(
      `  baseline sqlite3 -csv | psql \\copy (text tables, no index): ${fmt(median(cli.map((x) => x.ms)) / 1000, 2)} s, ${fmt(rate(cli, cli[0]!.rows!), 0)} rows/s`,
    );
    report(
      `  baseline Node COPY (better-sqlite3 -> COPY, typed tables):  ${fmt(median(node.map((x) => x.ms)) / 1000, 2)} s, ${fmt(rate(node, node[0]!.rows!), 0)} rows/s, peak RSS ${fmt(median(node.map((x) => x.maxRssMb)), 0)} MB`,
    );
    if (loader.length)
      report(
        `  baseline pgloader (tables; no indexes, no foreign keys):      ${fmt(median(loader.map((x) => x.ms)) / 1000, 2)} s, ${fmt(rate(loader, rows), 0)} rows/s`,
      );
    if (before.length)
      report(
        `  before: ${args.base} sync --full (first run):                ${fmt(median(before.map((x) => x.ms)) / 1000, 2)} s, ${fmt(rate(before, rows), 0)} rows/s, peak RSS ${fmt(median(before.map((x) => x.maxRssMb)), 0)} MB (max ${fmt(Math.max(...before.map((x) => x.maxRssMb)), 0)} MB)`,
      );
    report(
      `  owui-sync sync --full (first run):                            ${fmt(median(ours.map((x) => x.ms)) / 1000, 2)} s, ${fmt(rate(ours, rows), 0)} rows/s, peak RSS ${fmt(median(ours.map((x) => x.maxRssMb)), 0)} MB (max ${fmt(Math.max(...ours.map((x) => x.maxRssMb)), 0)} MB)`,
    );
    report(
      `  ratio: ${fmt(rate(ours, rows) / rate(cli, cli[0]!.rows!), 2)} of sqlite3|psql (target >= 0.8), ${fmt(rate(ours, rows) / rate(node, node[0]!.rows!), 2)} of Node COPY${loader.length ? `, ${fmt(rate(ours, rows) / rate(loader, rows), 2)}x pgloader (target >= 2)` : ''}${before.length ? `, ${fmt(rate(ours, rows) / rate(before, rows), 2)}x before` : ''}; RSS target < 150 MB`,
    );
    // verify reads every value on both sides: the same rows as the baselines, compared instead of copied.
    const ver = [];
    for (let i = 0; i < RUNS; i++) ver.push(await benchCli<{ identical: boolean }>(pg.url, ['verify', `many${i}`]));
    if (!ver.every((v) => v.out.identical)) throw new Error('verify found differences after a full sync');
    report(
      `  owui-sync verify (every value, both sides), median of ${RUNS}: ${fmt(median(ver.map((x) => x.ms)) / 1000, 2)} s, peak RSS ${fmt(median(ver.map((x) => x.maxRssMb)), 0)} MB (max ${fmt(Math.max(...ver.map((x) => x.maxRssMb)), 0)} MB)`,
    );
  }

  if (!args['skip-big']) {
    // 2. The large tenant.
    const big = path.join(dir, 'big', 'webui.db');
    fs.mkdirSync(path.dirname(big), { recursive: true });
    const t0 = performance.now();
    const b = buildLarge(big, SIZE_MB);
    report(
      `\nlarge tenant: ${fmt(mb(b.bytes), 0)} MB webui.db (WAL), ${b.chats} chats of ~100 KB with chat_message copies; built in ${fmt((performance.now() - t0) / 1000)} s`,
    );
    await clientAdd({ name: 'big', sqlitePath: big, adminUrl: pg.url });
    if (baseRoot) {
      await clientAdd({ name: 'bigbase', sqlitePath: big, adminUrl: pg.url });
      const b0 = await child('full-base', pg.url, 'bigbase', big);
      report(`  before: ${args.base} full sync: ${fmt(b0.ms / 1000, 1)} s, peak RSS ${fmt(b0.maxRssMb, 0)} MB`);
    }
    const full = await child('full', pg.url, 'big', big);
    report(
      `  full sync: ${fmt(full.ms / 1000, 1)} s, ${fmt(full.totals!.rows_read, 0)} rows, peak RSS ${fmt(full.maxRssMb, 0)} MB (target < 150 MB)`,
    );
    const none = await child('incremental', pg.url, 'big', big);
    report(`  no change, database files unchanged: ${fmt(none.ms, 0)} ms (kind ${none.kind}; target < 100 ms)`);
    const noShortcut = async (mode: ChildMode) => {
      await sql`update sync_metadata.client_deployments set source_fingerprint = null where client_name = 'big'`;
      return child(mode, pg.url, 'big', big);
    };
    const off: number[] = [];
    const on: ChildResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      off.push((await noShortcut('cursor-read')).ms);
      on.push(await noShortcut('incremental'));
    }
    report(
      `  no change, every table read (fingerprint shortcut off), median of ${RUNS}: a read by cursor alone (baseline, writes nothing) ${fmt(median(off), 0)} ms; the sync with its light pass ${fmt(median(on.map((x) => x.ms)), 0)} ms (${fmt(on[0]!.light_rows!, 0)} light rows compared, ${on[0]!.light_changed} differed)`,
    );
    // 1% of chats changed with an updated_at bump, as Open WebUI's message upserts do.
    const db = new Database(big);
    const ids = db.prepare('SELECT id FROM chat ORDER BY id').pluck().all() as string[];
    const change = (k: number, bump: boolean) => {
      const now = Math.floor(Date.now() / 1000) + k;
      db.transaction(() => {
        for (const id of ids.filter((_, i) => i % 100 === k)) {
          if (!bump) retitleWithoutBump(db, id, `retitled ${k}`);
          else {
            db.prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?').run(`changed ${k}`, now, id);
            db.prepare('UPDATE chat_message SET updated_at = ? WHERE chat_id = ?').run(now, id);
          }
        }
      })();
    };
    const bumpOff: number[] = [];
    const bumpOn: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      change(i, true);
      bumpOff.push((await child('cursor-read', pg.url, 'big', big)).ms);
      bumpOn.push((await child('incremental', pg.url, 'big', big)).ms);
    }
    report(
      `  1% of chats changed with updated_at bumped (${(ids.length / 100) | 0} chats and their messages), median of ${RUNS}: a read by cursor alone (baseline) ${fmt(median(bumpOff), 0)} ms; the sync with its light pass ${fmt(median(bumpOn), 0)} ms (ratio ${fmt(median(bumpOn) / median(bumpOff), 2)}; target within 1.5x)`,
    );
    // 3. What the light pass is for.
    change(RUNS + 1, false);
    const caught = await child('incremental', pg.url, 'big', big);
    report(
      `  1% of chats retitled without a bump: one ordinary run, ${fmt(caught.ms, 0)} ms, ${caught.light_changed} rows found by the light pass, ${caught.totals!.updated} updated`,
    );
    db.close();
  }
  await sql.end();
} finally {
  await pg.stop();
  const out = path.resolve('bench', 'out');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'engine-last-run.txt'), `${lines.join('\n')}\n`);
  if (!args.dir) fs.rmSync(dir, { recursive: true, force: true });
}
