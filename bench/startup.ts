// npm run bench:startup [-- --runs 30]
// Start-up cost of the CLI, each figure against `node -e 0` measured in the same run, runs interleaved so that
// a busy moment of the machine falls on every command alike:
//  - `owui-sync --help` (compiled, the shipped path);
//  - `owui-sync status --json` against an unreachable database (127.0.0.1:1: the verb loads its libraries,
//    checks the driver and fails to connect at once);
//  - for comparison, `--help` run from the TypeScript sources through tsx, as the shim did before the build.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '30' } } });
const RUNS = Number(args.runs);
const BIN = new URL('../bin/owui-sync.js', import.meta.url).pathname;
const MAIN_TS = new URL('../src/cli/main.ts', import.meta.url).href;
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

interface Cmd {
  name: string;
  argv: string[];
  env?: Record<string, string>;
  expectCode: number;
}
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1' };
const cmds: Cmd[] = [
  { name: 'node -e 0 (baseline)', argv: [process.execPath, '-e', '0'], expectCode: 0 },
  { name: 'owui-sync --help', argv: [process.execPath, BIN, '--help'], expectCode: 0 },
  {
    name: 'owui-sync status --json, database unreachable',
    argv: [process.execPath, BIN, 'status', '--json'],
    env: { OWUI_SYNC_DATABASE_URL: 'postgresql://bench@127.0.0.1:1/bench' },
    expectCode: 1,
  },
  {
    name: 'owui-sync --help from src/ through tsx (before the build)',
    argv: [
      process.execPath,
      '--import',
      'tsx',
      '-e',
      `const { main } = await import(${JSON.stringify(MAIN_TS)}); process.exitCode = await main(['node', 'owui-sync', '--help']);`,
      '--input-type=module',
    ],
    expectCode: 0,
  },
];

/** Wall time in ms and peak RSS in MB of one run (RSS through /usr/bin/time when it is there). */
function once(c: Cmd): { ms: number; rssMb?: number } {
  const argv = TIME ? [TIME, '-f', '%M', ...c.argv] : c.argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...env, ...c.env }, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== c.expectCode) throw new Error(`${c.name}: exit ${r.status}, expected ${c.expectCode}: ${r.stderr}`);
  const rss = TIME ? Number(r.stderr.trim().split('\n').pop()) / 1024 : undefined;
  return { ms, rssMb: rss };
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

for (const c of cmds) once(c); // warm the file cache once
const samples = new Map<string, { ms: number[]; rss: number[] }>(cmds.map((c) => [c.name, { ms: [], rss: [] }]));
for (let i = 0; i < RUNS; i++) {
  for (const c of cmds) {
    const s = once(c);
    samples.get(c.name)!.ms.push(s.ms);
    if (s.rssMb !== undefined) samples.get(c.name)!.rss.push(s.rssMb);
  }
}

console.log(
  `Start-up, ${RUNS} runs each, interleaved; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, ${os.platform()} ${os.release()}`,
);
const base = pct(samples.get(cmds[0]!.name)!.ms, 50);
for (const c of cmds) {
  const s = samples.get(c.name)!;
  const med = pct(s.ms, 50);
  const rss = s.rss.length ? `, peak RSS median ${pct(s.rss, 50).toFixed(0)} MB` : '';
  console.log(
    `  ${c.name.padEnd(58)} median ${med.toFixed(0).padStart(4)} ms, p90 ${pct(s.ms, 90).toFixed(0).padStart(4)} ms, ${(med / base).toFixed(2)}x node -e 0${rss}`,
  );
}
