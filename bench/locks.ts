// npm run bench:locks [-- --size-mb 200] [-- --seconds 10] [-- --rounds 2] [-- --journals wal,rollback]
// How long Open WebUI's writer waits because of a sync's reads: the locking alone, without the disk's noise.
// The tenants live on a tmpfs (/dev/shm) and the writer commits with synchronous=OFF, so no fsync is measured.
// Three conditions, interleaved, in each journal mode:
//   alone   the writer alone;
//   other   the writer while full syncs read a copy of its tenant (another file: the same CPU load, no shared lock);
//   shared  the writer while full syncs read its own tenant.
// What the locking adds is shared minus other (targets: at most 2 ms of p99 in rollback-journal mode, 1 ms in WAL).
// Rollback journal also: shared with other time bounds of a read statement (--bounds, OWUI_SYNC_READ_STATEMENT_MS;
// 0, the default, is no time bound: the bound's baseline); and shared with the syncs of another build (--base, a
// commit: before and after in one run). Not a test; never gates CI. The output also goes to bench/out/locks-last-run.txt.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clientAdd } from '../src/ops/clients.ts';
import { provision } from '../src/ops/provision.ts';
import { startEmbedded } from '../src/pg/embedded.ts';
import { spawnModule, waitForLine } from '../src/util/child.ts';
import { benchChild, setUpBase } from './children.ts';
import { buildTenant } from './tenants.ts';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    // Rollback journal: other time bounds of a read statement (OWUI_SYNC_READ_STATEMENT_MS; 0: none) to compare.
    bounds: { type: 'string', default: '0' },
    /** The build whose syncs are also measured on the shared tenant ("shared-base"; none: --base ''). */
    base: { type: 'string', default: '3f5dbb6' },
    /** The journal modes to measure, comma-separated. */
    journals: { type: 'string', default: 'wal,rollback' },
  },
});
const SIZE_MB = Number(args['size-mb']);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const WRITER = new URL('../src/sqlite/writer-process.ts', import.meta.url);
const shm = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const dir = fs.mkdtempSync(path.join(shm, 'owui-bench-locks-'));
fs.chmodSync(dir, 0o755);
// PostgreSQL on the ordinary disk, as in production: only the tenants are in memory.
const pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-bench-locks-pg-'));
fs.chmodSync(pgDir, 0o755);

if (args.base) setUpBase(path.resolve(import.meta.dirname, '..'), path.join(pgDir, 'base'), args.base);

const lines: string[] = [];
const report = (s: string) => {
  lines.push(s);
  console.log(s);
};
const fmt = (n: number, d = 2) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface WriterResult {
  writes: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
}

let seed = 5000;
/** The writer for SECONDS (a chat every 20 ms, synchronous=OFF), while `during` runs over and over. */
async function writerRun(
  file: string,
  during?: () => Promise<{ ms: number }>,
): Promise<WriterResult & { syncs: number; syncMs: number[] }> {
  const w = spawnModule(WRITER, [file, '20', String(SECONDS * 1000), String(seed++), '', '', 'off']);
  await waitForLine(w, (l) => l === 'ready');
  const result = waitForLine(w, (l) => l.startsWith('{'), (SECONDS + 600) * 1000);
  const syncMs: number[] = [];
  if (during) {
    const stopAt = Date.now() + SECONDS * 1000;
    while (Date.now() < stopAt - 500) syncMs.push((await during()).ms);
  }
  return { ...(JSON.parse(await result) as WriterResult), syncs: syncMs.length, syncMs };
}

const pg = await startEmbedded({ dataDir: path.join(pgDir, 'pg') });
try {
  report(`owui-sync lock benchmark, ${new Date().toISOString()}`);
  report(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}; PostgreSQL 17 (embedded) on disk; tenants of ${SIZE_MB} MB on ${shm} (tmpfs); writer: a chat every 20 ms for ${SECONDS} s, synchronous=OFF, busy_timeout 5 s; ${ROUNDS} rounds, conditions interleaved, medians of the rounds`,
  );
  await provision({ adminUrl: pg.url });
  const journals = args.journals!.split(',').map((j) => j.trim());
  for (const j of journals)
    if (j !== 'wal' && j !== 'rollback') throw new Error(`--journals: ${j} is not wal or rollback`);
  for (const journal of journals as ('wal' | 'rollback')[]) {
    const file = path.join(dir, journal, 'webui.db');
    const copy = path.join(dir, `${journal}-copy`, 'webui.db');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    buildTenant(file, {
      chats: Math.ceil((SIZE_MB * 1024 * 1024) / 310_000),
      users: 20,
      messages: 8,
      padBytes: 100_000,
      seed: 99,
      per: 200,
      journal,
    });
    fs.copyFileSync(file, copy);
    await clientAdd({ name: `l_${journal}`, sqlitePath: file, adminUrl: pg.url });
    await clientAdd({ name: `l_${journal}_copy`, sqlitePath: copy, adminUrl: pg.url });
    const sync =
      (name: string, env: Record<string, string> = {}) =>
      () =>
        benchChild('full', pg.url, name, name.endsWith('_copy') ? copy : file, env);
    // The first full sync of each writes every row: done before measuring, so each condition's syncs are alike.
    await sync(`l_${journal}`)();
    await sync(`l_${journal}_copy`)();
    const conditions: [string, (() => Promise<{ ms: number }>) | undefined][] = [
      ['alone', undefined],
      ['other', sync(`l_${journal}_copy`)],
      ['shared', sync(`l_${journal}`)],
    ];
    if (args.base) conditions.push([`shared-base`, () => benchChild('full-base', pg.url, `l_${journal}`, file)]);
    if (journal === 'rollback')
      for (const b of args.bounds!.split(',').filter(Boolean))
        conditions.push([
          b === '0' ? 'shared-unbounded' : `shared-${b}ms`,
          sync(`l_${journal}`, { OWUI_SYNC_READ_STATEMENT_MS: b }),
        ]);
    const got = new Map<string, (WriterResult & { syncs: number; syncMs: number[] })[]>();
    for (let round = 0; round < ROUNDS; round++)
      for (const [name, during] of conditions) {
        const r = await writerRun(file, during);
        got.set(name, [...(got.get(name) ?? []), r]);
      }
    const p99 = (name: string) => median(got.get(name)!.map((r) => r.p99_ms));
    report(`\n${journal === 'wal' ? 'WAL' : 'rollback journal (delete)'}:`);
    for (const [name] of conditions) {
      const rs = got.get(name)!;
      report(
        `  ${name.padEnd(16)} p99 ${fmt(p99(name))} ms (rounds: ${rs.map((r) => fmt(r.p99_ms)).join(', ')}), p50 ${fmt(median(rs.map((r) => r.p50_ms)))} ms, max ${fmt(Math.max(...rs.map((r) => r.max_ms)))} ms; ${rs.reduce((n, r) => n + r.writes, 0)} writes, ${rs.reduce((n, r) => n + r.errors, 0)} errors, ${rs.reduce((n, r) => n + r.syncs, 0)} full syncs${rs[0]!.syncs ? `, median ${fmt(median(rs.flatMap((r) => r.syncMs)), 0)} ms each` : ''}`,
      );
    }
    const target = journal === 'wal' ? 1 : 2;
    report(
      `  locking adds (shared - other): ${fmt(p99('shared') - p99('other'))} ms of p99 (target <= ${target} ms); the syncs' CPU load adds (other - alone): ${fmt(p99('other') - p99('alone'))} ms`,
    );
    for (const [name] of conditions.slice(3))
      report(`  ${name}: locking adds (${name} - other): ${fmt(p99(name) - p99('other'))} ms of p99`);
  }
} finally {
  await pg.stop();
  const out = path.resolve('bench', 'out');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'locks-last-run.txt'), `${lines.join('\n')}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(pgDir, { recursive: true, force: true });
}
