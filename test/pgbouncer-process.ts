import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/util/net.ts';

/** Debian's pgbouncer, where installed (.ci/run installs it). */
export const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => fs.existsSync(p));

export interface Bouncer {
  port: number;
  pid: number | undefined;
  /** The URL of `user` through the pooler (the same database as `target`). */
  urlFor: (user: string, password: string) => string;
  /** What the pooler logged (for a failing test's message). */
  log: () => string;
  stop: () => Promise<void>;
}

/**
 * A real PgBouncer in front of `target` (a PostgreSQL URL: its host, port and database), in session or
 * transaction mode, started as a child process of the caller's (which stops it). Clients log in with
 * the passwords given in `users` (PgBouncer passes them on to PostgreSQL). As root it runs as the `postgres`
 * system user (PgBouncer refuses to run as root), in a folder of its own that user owns.
 */
export async function startPgBouncer(o: {
  target: string;
  mode: 'session' | 'transaction';
  users: { name: string; password: string }[];
  poolSize?: number;
  maxDbConnections?: number;
  /** Seconds an idle server connection is kept for its pool (PgBouncer's default 600; 10 here). */
  serverIdleTimeout?: number;
  /** Told the PID as soon as the process is started (the tests kill it by PID after the file). */
  started?: (pid: number | undefined) => void;
}): Promise<Bouncer> {
  if (!PGBOUNCER) throw new Error('pgbouncer is not installed (apt-get install pgbouncer)');
  const t = new URL(o.target);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-sync-bouncer-'));
  const port = await freePort();
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  fs.writeFileSync(path.join(dir, 'users.txt'), o.users.map((u) => `${q(u.name)} ${q(u.password)}\n`).join(''));
  fs.writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${t.hostname} port=${t.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = plain',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      `pool_mode = ${o.mode}`,
      'max_client_conn = 5000',
      `default_pool_size = ${o.poolSize ?? 10}`,
      `max_db_connections = ${o.maxDbConnections ?? 0}`,
      `server_idle_timeout = ${o.serverIdleTimeout ?? 10}`,
      'server_reset_query = DISCARD ALL',
      `logfile = ${path.join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  let uid: number | undefined;
  let gid: number | undefined;
  if (asRoot) {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    fs.chmodSync(dir, 0o700);
    for (const f of ['', 'users.txt', 'pgbouncer.ini']) fs.chownSync(path.join(dir, f), uid, gid);
  }
  const child = spawn(PGBOUNCER, [path.join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(asRoot ? { uid, gid } : {}),
  });
  o.started?.(child.pid);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const log = () => {
    try {
      return fs.readFileSync(path.join(dir, 'pgbouncer.log'), 'utf8') + stderr;
    } catch {
      return stderr;
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // Listening?
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) break;
    if (i > 100 || child.exitCode !== null) throw new Error(`pgbouncer did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const urlFor = (user: string, password: string) => {
    const u = new URL(o.target);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    u.username = user;
    u.password = encodeURIComponent(password);
    return u.toString();
  };
  return { port, pid: child.pid, urlFor, log, stop };
}
