// npm run bench:restore [-- --size-mb 1600] [-- --history-rows 20000] [-- --dir DIR]
// Restore (docs/restore.md), in one run:
//   1. the large tenant (1.6 GB of chats, bench/tenants.ts buildLarge) synced in full, then `owui-sync restore` of
//      it as the command ships (its own process: time and peak RSS), against the baseline `sqlite3 .backup` of the
//      source (the SQLite shell's online backup, a page copy: the fastest way to a second file), and
//      `owui-sync verify --against` of the restored file;
//   2. what point-in-time restore would cost: chat rows updated in a mirror table as a sync's merge updates them,
//      with and without a history trigger that keeps each replaced version (time and bytes per row).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clientAdd } from '../src/ops/clients.ts';
import { provision } from '../src/ops/provision.ts';
import { openPg } from '../src/pg/connect.ts';
import { startEmbedded } from '../src/pg/embedded.ts';
import { benchCli } from './children.ts';
import { buildLarge } from './tenants.ts';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1600' },
    'history-rows': { type: 'string', default: '20000' },
    dir: { type: 'string' },
  },
});
const SIZE_MB = Number(args['size-mb']);
const HISTORY_ROWS = Number(args['history-rows']);
const dir = args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'owui-bench-restore-'));
fs.mkdirSync(dir, { recursive: true });
fs.chmodSync(dir, 0o755);
const lines: string[] = [];
const report = (s: string) => {
  lines.push(s);
  console.log(s);
};
const fmt = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const mb = (b: number) => b / 1024 / 1024;

/** A command in a process of its own: wall time and peak RSS (getrusage of the children, through python3). */
function timed(cmd: string, argv: string[]): Promise<{ ms: number; maxRssMb: number }> {
  const py =
    'import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); ' +
    'print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn('python3', ['-c', py, cmd, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.on('exit', () => {
      const [code, kb] = out.trim().split(' ').map(Number);
      if (code !== 0) return reject(new Error(`${cmd} exited ${code}`));
      resolve({ ms: performance.now() - t0, maxRssMb: (kb ?? 0) / 1024 });
    });
  });
}

const pg = await startEmbedded({ dataDir: path.join(dir, 'pg') });
try {
  report(`owui-sync restore benchmark, ${new Date().toISOString()}`);
  report(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), ${fmt(os.totalmem() / 2 ** 30, 0)} GiB RAM, Node ${process.version}; PostgreSQL 17 (embedded, default durability) on 127.0.0.1`,
  );
  await provision({ adminUrl: pg.url });
  const sql = await openPg(pg.url, 'bench');

  // 1. The large tenant.
  const src = path.join(dir, 'large', 'webui.db');
  fs.mkdirSync(path.dirname(src), { recursive: true });
  const t0 = performance.now();
  const b = buildLarge(src, SIZE_MB);
  report(`tenant: ${b.chats} chats, ${fmt(mb(b.bytes), 0)} MB (built in ${fmt((performance.now() - t0) / 1000, 0)} s)`);
  await clientAdd({ name: 'large', sqlitePath: src, adminUrl: pg.url });
  const full = await benchCli<{ totals: { rows_read: number } }>(pg.url, ['sync', 'large', '--full']);
  report(`full sync: ${fmt(full.ms / 1000, 1)} s, ${full.out.totals.rows_read} rows`);

  const backup = path.join(dir, 'backup.db');
  execFileSync('sync');
  const base = await timed('sqlite3', [src, `.backup '${backup}'`]);
  report(
    `  baseline sqlite3 .backup of the source:  ${fmt(base.ms / 1000, 1)} s, peak RSS ${fmt(base.maxRssMb, 0)} MB, ${fmt(mb(fs.statSync(backup).size), 0)} MB`,
  );
  fs.rmSync(backup, { force: true });
  const out = path.join(dir, 'restored.db');
  const r = await benchCli<{ rows: number; bytes: number; integrity: string }>(pg.url, [
    'restore',
    'large',
    '--to',
    out,
  ]);
  report(
    `  owui-sync restore (from PostgreSQL):      ${fmt(r.ms / 1000, 1)} s, peak RSS ${fmt(r.maxRssMb, 0)} MB (target < 150 MB), ${r.out.rows} rows, ${fmt(mb(r.out.bytes), 0)} MB, integrity ${r.out.integrity}`,
  );
  const v = await benchCli<{ identical: boolean; rows_checked: number }>(pg.url, ['verify', 'large', '--against', out]);
  report(
    `  owui-sync verify --against the restored file: ${fmt(v.ms / 1000, 1)} s, peak RSS ${fmt(v.maxRssMb, 0)} MB, identical: ${v.out.identical} (${v.out.rows_checked} rows)`,
  );
  fs.rmSync(path.join(dir, 'large'), { recursive: true, force: true });
  fs.rmSync(out, { force: true });

  // 2. Point in time: the cost of keeping every replaced version of a row.
  report('');
  report(
    `point in time: ${HISTORY_ROWS} chat rows (about 10 KB of random hex each) updated in batches of 500, as a merge does`,
  );
  await sql.unsafe(`
    create schema if not exists pit;
    create table pit.chat (id text primary key, user_id text, title text, chat json, updated_at bigint,
      _sync_hash text, _sync_raw jsonb, _synced_at timestamptz, _deleted_at timestamptz);
    create table pit.chat_history (like pit.chat, _valid_until timestamptz not null);
    create index on pit.chat_history (id, _valid_until);
    create function pit.keep() returns trigger language plpgsql as $$
      begin insert into pit.chat_history select (old).*, now(); return new; end $$;`);
  const fill = () =>
    sql.unsafe(
      `insert into pit.chat select 'c' || g, 'u', 'title ' || g,
         json_build_object('m', x.m), g, md5(g::text), null, now(), null
       from generate_series(1, $1::int) g,
         lateral (select string_agg(md5(random()::text || k || g), ' ') as m from generate_series(1, 300) k) x`,
      [HISTORY_ROWS],
    );
  const updateAll = async () => {
    const t = performance.now();
    for (let i = 1; i <= HISTORY_ROWS; i += 500)
      await sql.unsafe(
        `update pit.chat set title = title || '.', updated_at = updated_at + 1, _sync_hash = md5(title) where id in (select 'c' || g from generate_series($1::int, $2::int) g)`,
        [i, Math.min(HISTORY_ROWS, i + 499)],
      );
    return performance.now() - t;
  };
  const rel = async (t: string) =>
    Number((await sql.unsafe<{ b: string }[]>(`select pg_total_relation_size('${t}')::text as b`))[0]!.b);
  await fill();
  await sql.unsafe('vacuum analyze pit.chat');
  const plain = await updateAll();
  await sql.unsafe('create trigger keep before update on pit.chat for each row execute function pit.keep()');
  const kept = await updateAll();
  const histBytes = await rel('pit.chat_history');
  report(
    `  update without history: ${fmt((plain * 1000) / HISTORY_ROWS, 0)} us a row; with a history trigger: ${fmt((kept * 1000) / HISTORY_ROWS, 0)} us a row, ` +
      `${fmt(histBytes / HISTORY_ROWS / 1024, 1)} KB of history a replaced row (table, TOAST and index)`,
  );
  await sql.end({ timeout: 5 });
} finally {
  await pg.stop();
  fs.mkdirSync(path.join(import.meta.dirname, 'out'), { recursive: true });
  fs.writeFileSync(path.join(import.meta.dirname, 'out', 'restore-last-run.txt'), `${lines.join('\n')}\n`);
  if (!args.dir) fs.rmSync(dir, { recursive: true, force: true });
}
