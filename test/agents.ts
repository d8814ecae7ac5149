import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { mintToken } from '../src/api/auth.ts';
import type { AgentEventName } from '../src/cluster/events.ts';
import { LocalNodes } from '../src/ops/nodes.ts';
import { freePort } from '../src/util/net.ts';
import { BIN, onCleanup, type Tenant, tmpDir, trackChild, waitFor } from './helpers.ts';

/** Short timings so failover tests take seconds: lease 2 s, renew 0.5 s, deadline 1.5 s, retry 0.3 s. */
export const FAST = {
  LEASE_DURATION: '2',
  LEASE_RENEW_INTERVAL: '0.5',
  LEASE_RENEW_DEADLINE: '1.5',
  LEASE_RETRY_INTERVAL: '0.3',
  HEARTBEAT_INTERVAL: '1',
  OWUI_SYNC_POLL_INTERVAL: '0.2',
};
export const LEASE_PLUS_RETRY_MS = (2 + 0.3 * 1.2) * 1000;

export interface LogLine {
  level: number;
  msg: string;
  /** The agent's event name (src/cluster/events.ts), on the lines that announce one. */
  event?: AgentEventName;
  [k: string]: unknown;
}

/** A secret file for the API, shared by the agents of a test and by its token minting. */
export function apiSecret(dir: string): {
  file: string;
  key: Uint8Array;
  token: (ttlSeconds?: number) => Promise<string>;
} {
  const file = path.join(dir, 'api_jwt_secret');
  const text = crypto.randomBytes(48).toString('base64');
  fs.writeFileSync(file, `${text}\n`, { mode: 0o600 });
  const key = new TextEncoder().encode(text);
  return { file, key, token: (ttl = 600) => mintToken(key, { ttlSeconds: ttl, subject: 'test' }) };
}

/** A real agent process (the CLI shim, tsx and all), its JSON log lines, and its API address. */
export class AgentProc {
  readonly lines: LogLine[] = [];
  url = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  stderr = '';

  private constructor(
    readonly child: ChildProcess,
    readonly nodeId: string,
  ) {
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const text = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          line = { level: 0, msg: text };
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  static async start(
    t: Tenant,
    o: { role: 'primary' | 'secondary'; nodeId: string; secretFile: string; env?: Record<string, string> },
  ): Promise<AgentProc> {
    const child = spawn(
      process.execPath,
      [BIN, 'agent', '--role', o.role, '--node-id', o.nodeId, '--port', '0', '--host', t.host],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NO_COLOR: '1',
          OWUI_SYNC_CONFIG: '',
          LOG_FORMAT: 'json',
          OWUI_SYNC_JWT_SECRET_FILE: o.secretFile,
          ...t.hostEnv,
          ...FAST,
          // The elector's `round` events are debug lines: AgentProc.rounds waits on them.
          LOG_LEVEL: 'debug',
          ...o.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    trackChild(child.pid);
    const a = new AgentProc(child, o.nodeId);
    const listening = await Promise.race([
      a.event('listening', () => true, 30_000),
      a.exited.then((e) => {
        throw new Error(`agent ${o.nodeId} exited (${e.code ?? e.signal}) before listening: ${a.stderr}`);
      }),
    ]);
    a.url = `http://${listening.address as string}`;
    return a;
  }

  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(
              `agent ${this.nodeId}: no matching log line within ${timeoutMs} ms; last lines:\n${this.lines
                .slice(-8)
                .map((l) => JSON.stringify(l))
                .join('\n')}\n${this.stderr}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  }

  /** The first (already logged, or next) `event` line for which `pred` holds. */
  event(name: AgentEventName, pred: (l: LogLine) => boolean = () => true, timeoutMs = 20_000): Promise<LogLine> {
    return this.waitFor((l) => l.event === name && pred(l), timeoutMs);
  }

  /** The `event` lines logged so far. */
  events(name: AgentEventName): LogLine[] {
    return this.lines.filter((l) => l.event === name);
  }

  /** Resolves after `n` more lease rounds of this agent's elector (each one an acquire or renew attempt). */
  async rounds(n: number, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.events('round').length;
    return this.waitFor((l) => l.event === 'round' && this.events('round').length >= seen + n, timeoutMs);
  }

  async health(): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2000) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }

  /** Poll /health until pred holds; returns the milliseconds it took. */
  until(pred: (h: Record<string, unknown>) => boolean, timeoutMs = 20_000, stepMs = 50): Promise<number> {
    return pollHealth(this.url, this.nodeId, pred, timeoutMs, stepMs);
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }
}

export async function api(
  url: string,
  pathName: string,
  o: { method?: string; token?: string; body?: string; headers?: Record<string, string> } = {},
) {
  const r = await fetch(url + pathName, {
    method: o.method ?? 'GET',
    headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers },
    body: o.body,
    signal: AbortSignal.timeout(20_000),
  });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* metrics and the like */
  }
  return { status: r.status, headers: r.headers, body: body as Record<string, unknown>, text };
}

/**
 * The pair as local agent processes under a nodes file (what the demo writes, what the menu's Cluster screen and
 * `owui-sync failover-test` control), with the fast timings. Started, tracked by PID, stopped after the file.
 */
/** Poll an agent's /health until pred holds; returns the milliseconds it took. */
async function pollHealth(
  url: string,
  label: string,
  pred: (h: Record<string, unknown>) => boolean,
  timeoutMs: number,
  stepMs: number,
): Promise<number> {
  const t0 = performance.now();
  let last: unknown;
  await waitFor(
    `agent ${label}'s /health`,
    async () => {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      last = await r.json();
      return pred(last as Record<string, unknown>);
    },
    { timeoutMs, stepMs },
  ).catch((err: Error) => {
    throw new Error(
      `agent ${label}: condition not met within ${timeoutMs} ms; last health: ${JSON.stringify(last)} (${err.message})`,
    );
  });
  return performance.now() - t0;
}

export async function localPair(t: Tenant, prefix: string): Promise<{ nodes: LocalNodes; file: string; dir: string }> {
  const dir = tmpDir();
  const sec = apiSecret(dir);
  const specs = [];
  for (const role of ['primary', 'secondary'] as const) {
    const port = await freePort();
    specs.push({
      node_id: `${prefix}-${role}`,
      role,
      argv: [
        process.execPath,
        BIN,
        'agent',
        '--role',
        role,
        '--node-id',
        `${prefix}-${role}`,
        '--port',
        String(port),
        '--host',
        t.host,
      ],
      env: { OWUI_SYNC_CONFIG: '', OWUI_SYNC_JWT_SECRET_FILE: sec.file, LOG_FORMAT: 'json', ...t.hostEnv, ...FAST },
      log: path.join(dir, `${role}.log`),
      url: `http://127.0.0.1:${port}`,
    });
  }
  const file = path.join(dir, 'nodes.json');
  const nodes = LocalNodes.create(file, specs);
  onCleanup(async () => {
    // By PID from the nodes file, whatever the test did to them (it may have restarted one).
    const f = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: { pid: number | null }[] };
    await nodes.stopAll().catch(() => {});
    for (const n of f.nodes) if (n.pid) trackChild(n.pid);
  });
  // The primary first, and leading before the secondary starts: the tests name the leader, and two agents started
  // together race for the first term (under load the secondary sometimes won it). Then the secondary answering as
  // its follower: a test that stops the leader at once needs a follower to take over (CI once ran the failover test
  // before the secondary's server was listening).
  for (const s of specs) {
    await nodes.start(s.node_id);
    if (s.role === 'primary') await pollHealth(s.url, s.node_id, (h) => h.is_leader === true, 30_000, 100);
    else
      await pollHealth(
        s.url,
        s.node_id,
        (h) => h.is_leader === false && h.leader_id === `${prefix}-primary`,
        30_000,
        100,
      );
  }
  return { nodes, file, dir };
}
