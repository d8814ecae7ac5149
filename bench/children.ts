// The benchmarks' child processes: each sync and each baseline runs in a process of its own, so its time and peak
// RSS are its own. A full sync, whose peak RSS is a target, runs the shipped command (`owui-sync sync --full`,
// compiled, with the executable's V8 options: cli-child.mjs). The baselines and the incremental runs run the engine
// from the sources (sync-child.ts), and so does the light pass's baseline (a read by cursor alone, cursor-baseline.ts).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scrubbedEnv, spawnModule, waitForLine } from '../src/util/child.ts';
import { NODE_FLAGS } from '../src/util/memory.ts';

export type ChildMode = 'full' | 'full-base' | 'incremental' | 'cursor-read' | 'copy' | 'copy-cli' | 'pgloader';

export interface ChildResult {
  ms: number;
  kind?: string;
  rows?: number;
  bytes?: number;
  totals?: { rows_read: number; bytes: number; inserted: number; updated: number; tombstoned: number };
  light_rows?: number;
  light_changed?: number;
  maxRssMb: number;
}

const SYNC_CHILD = new URL('./sync-child.ts', import.meta.url);
const CLI_CHILD = new URL('./cli-child.mjs', import.meta.url).pathname;
/** The cli-child.mjs of another build (an earlier commit's, for before/after in one run): mode 'full-base'. */
let baseCliChild: string | null = null;
export const setBaseCliChild = (file: string) => {
  baseCliChild = file;
};
const urlFiles = new Map<string, string>();
// The files hold a password: gone when the benchmark ends, however it ends.
process.on('exit', () => {
  for (const f of urlFiles.values()) fs.rmSync(path.dirname(f), { recursive: true, force: true });
});

/** The database URL as the command reads it: from a file (never in argv or the environment). */
function urlFile(url: string): string {
  let f = urlFiles.get(url);
  if (!f) {
    f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'owui-bench-url-')), 'url');
    fs.writeFileSync(f, url, { mode: 0o600 });
    urlFiles.set(url, f);
  }
  return f;
}

/**
 * The base commit checked out beside this tree (a git worktree) and built, sharing this tree's node_modules but for
 * postgres.js, a copy without the edits the base's driver check does not expect (scripts/patch-postgres.mjs).
 */
export function setUpBase(ROOT: string, at: string, commit: string): void {
  execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--detach', '-f', at, commit], { stdio: 'ignore' });
  process.on('exit', () => execFileSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', at], { stdio: 'ignore' }));
  const nm = path.join(at, 'node_modules');
  fs.mkdirSync(nm);
  for (const e of fs.readdirSync(path.join(ROOT, 'node_modules')))
    if (e !== 'postgres') fs.symlinkSync(path.join(ROOT, 'node_modules', e), path.join(nm, e));
  fs.cpSync(path.join(ROOT, 'node_modules', 'postgres'), path.join(nm, 'postgres'), { recursive: true });
  const want = Number(/'connection\.js': (\d+)/.exec(fs.readFileSync(path.join(at, 'src/pg/driver.ts'), 'utf8'))![1]);
  if (want === 4)
    for (const b of ['src', 'cjs/src', 'cf/src']) {
      const f = path.join(nm, 'postgres', b, 'connection.js');
      if (!fs.existsSync(f)) continue;
      const s = fs.readFileSync(f, 'utf8');
      fs.writeFileSync(
        f,
        s.replace(
          /write\(chunk, encoding, callback\) \{ \/\* owui-sync patch: connection loss \*\/\n[\s\S]*?socket\.uncork\(\)\n {6}\},/,
          'write(chunk, encoding, callback) {\n        socket.write(b().d().raw(chunk).end(), callback)\n      },',
        ),
      );
    }
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: at, stdio: 'ignore' });
  setBaseCliChild(path.join(at, 'bench', 'cli-child.mjs'));
}

export async function benchChild(
  mode: ChildMode,
  url: string,
  name: string,
  sqlitePath: string,
  env: Record<string, string> = {},
): Promise<ChildResult> {
  if (mode === 'full') return cliSync(url, name, env);
  if (mode === 'full-base') {
    if (!baseCliChild) throw new Error('no base build: setBaseCliChild first');
    return cliSync(url, name, env, baseCliChild);
  }
  if (mode === 'pgloader') return pgloader(url, sqlitePath);
  const c = spawnModule(SYNC_CHILD, [mode, url, name, sqlitePath], { env: { ...scrubbedEnv(), ...env } });
  let err = '';
  c.stderr!.on('data', (d) => {
    err += d;
  });
  const line = await waitForLine(c, (l) => l.startsWith('{'), 60 * 60_000).catch((e) => {
    throw new Error(`${mode} child failed: ${e.message}\n${err}`);
  });
  await new Promise((r) => c.once('exit', r));
  return JSON.parse(line) as ChildResult;
}

/**
 * One owui-sync command as it ships (cli-child.mjs), with `--json`: its stdout parsed, its time (main()'s, reading
 * the configuration and connecting included) and its process's peak RSS.
 */
export async function benchCli<T>(
  url: string,
  args: string[],
  env: Record<string, string> = {},
  cliChild = CLI_CHILD,
): Promise<{ out: T; ms: number; maxRssMb: number }> {
  const c = spawn(process.execPath, [...NODE_FLAGS, cliChild, ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...scrubbedEnv(), OWUI_SYNC_CONFIG: '', OWUI_SYNC_DATABASE_URL_FILE: urlFile(url), ...env },
  });
  let out = '';
  let err = '';
  c.stdout!.on('data', (d) => {
    out += d;
  });
  c.stderr!.on('data', (d) => {
    err += d;
  });
  await new Promise((r) => c.once('close', r));
  const line = err.split('\n').find((l) => l.startsWith('BENCH '));
  if (!line) throw new Error(`owui-sync ${args.join(' ')} failed:\n${err}`);
  const b = JSON.parse(line.slice(6)) as { ms: number; code: number; maxRssMb: number };
  if (b.code !== 0) throw new Error(`owui-sync ${args.join(' ')} exited ${b.code}:\n${err}`);
  return { ms: b.ms, maxRssMb: b.maxRssMb, out: JSON.parse(out) as T };
}

/** `owui-sync sync NAME --full --json`. */
async function cliSync(
  url: string,
  name: string,
  env: Record<string, string>,
  cliChild = CLI_CHILD,
): Promise<ChildResult> {
  const {
    out: r,
    ms,
    maxRssMb,
  } = await benchCli<{
    kind: string;
    totals: NonNullable<ChildResult['totals']>;
    tables: { light_rows?: number; light_changed?: number }[];
  }>(url, ['sync', name, '--full'], env, cliChild);
  return {
    ms,
    kind: r.kind,
    totals: r.totals,
    light_rows: r.tables.reduce((n, x) => n + (x.light_rows ?? 0), 0),
    light_changed: r.tables.reduce((n, x) => n + (x.light_changed ?? 0), 0),
    maxRssMb,
  };
}

/**
 * pgloader (Debian's), the tenant into a database of its own made for the run (dropped after). Its defaults stop on
 * Open WebUI's schema (a type error on an index), so the load file says create tables, no indexes, no foreign
 * keys. The password reaches it through PGPASSWORD, not the command line or the file. Wall time only: its memory is
 * a Lisp image's, not comparable.
 */
async function pgloader(url: string, sqlitePath: string): Promise<ChildResult> {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const db = `bench_pgloader_${process.pid}`;
  const { default: postgres } = await import('postgres');
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${db}`);
    await admin.unsafe(`CREATE DATABASE ${db}`);
    const target = new URL(u.toString());
    target.pathname = `/${db}`;
    const loadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-pgloader-'));
    const load = path.join(loadDir, 'tenant.load');
    fs.writeFileSync(
      load,
      `LOAD DATABASE\n  FROM sqlite://${sqlitePath}\n  INTO ${target.toString()}\n  WITH include drop, create tables, create no indexes, no foreign keys, reset no sequences;\n`,
    );
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const p = spawn('pgloader', ['--quiet', load], {
        env: { ...scrubbedEnv(), PGPASSWORD: password },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      p.stderr!.on('data', (d) => {
        err += d;
      });
      p.on('error', reject);
      p.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`pgloader exited ${code}: ${err.slice(-500)}`)),
      );
    });
    const ms = performance.now() - t0;
    fs.rmSync(loadDir, { recursive: true, force: true });
    const c = postgres({
      ...Object.fromEntries([]),
      host: u.hostname,
      port: Number(u.port),
      username: decodeURIComponent(u.username),
      password,
      database: db,
      max: 1,
    });
    const [{ n }] = await c<{ n: string }[]>`select sum(n_live_tup)::text as n from pg_stat_user_tables`;
    await c.end();
    return { ms, rows: Number(n), maxRssMb: 0 };
  } finally {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${db}`).catch(() => {});
    await admin.end();
  }
}
