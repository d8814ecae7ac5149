import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, NotFoundError, OwuiError } from '../util/errors.ts';
import { readableLogLine } from '../util/log.ts';

// The agents of this host's pair, as something the menu and `owui-sync failover-test` can stop, start and read
// the logs of. One small interface: local agent processes (the demo's, or any started through a nodes file) now,
// containers when the pair is deployed with Docker.

export interface NodeInfo {
  /** The agent's node id (what /health reports as node_id). */
  node_id: string;
  role: 'primary' | 'secondary';
  kind: 'process' | 'container';
  running: boolean;
  /** Process id, or the container's name. */
  handle: string;
  /** Where its API answers. */
  url: string;
}

export type StopMode = 'graceful' | 'crash';

export interface NodeController {
  readonly kind: 'process' | 'container';
  list(): Promise<NodeInfo[]>;
  /** graceful: SIGTERM (`docker stop`), the node hands its lease over; crash: SIGKILL (`docker kill`). */
  stop(nodeId: string, mode: StopMode): Promise<void>;
  start(nodeId: string): Promise<void>;
  restart(nodeId: string): Promise<void>;
  /** The last lines of the node's log, oldest first, made readable. */
  logs(nodeId: string, lines: number): Promise<string[]>;
}

/** One agent process the nodes file describes: how to start it, where it logs, and the pid it runs as. */
export interface LocalNodeSpec {
  node_id: string;
  role: 'primary' | 'secondary';
  /** The command line (node, the CLI, `agent` and its flags): no secret ever goes here. */
  argv: string[];
  /** Environment added to PATH and HOME: settings and paths to secret files, never the secrets. */
  env: Record<string, string>;
  log: string;
  url: string;
  pid: number | null;
}

interface NodesFile {
  kind: 'local';
  nodes: LocalNodeSpec[];
}

const SECRET_NAME = /PASSWORD(?!_FILE)|SECRET(?!_FILE)|TOKEN/i;

function alive(pid: number): boolean {
  try {
    // A zombie still answers kill 0; its state letter in /proc says it is gone.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

/** The process with this pid runs exactly the command line we started it with (never signal anyone else's). */
function isOurs(pid: number, argv: string[]): boolean {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return cmdline.length === argv.length && cmdline.every((a, i) => a === argv[i]);
  } catch {
    return false;
  }
}

/** Read the last `n` lines of a file without reading all of it. */
export function tailFile(file: string, n: number): string[] {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = fs.fstatSync(fd).size;
    const want = Math.min(size, Math.max(4096, n * 512));
    const buf = Buffer.alloc(want);
    fs.readSync(fd, buf, 0, want, size - want);
    const lines = buf.toString('utf8').split('\n').filter(Boolean);
    if (want < size) lines.shift(); // the first one is cut
    return lines.slice(-n);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Agent processes on this machine, described by a nodes file (JSON, written by whoever starts them: the demo,
 * or an operator's own wrapper). Started detached, logging to a file each, so they outlive a menu that quits;
 * signalled only when /proc shows the very command line recorded, so a reused pid is never hit.
 */
export class LocalNodes implements NodeController {
  readonly kind = 'process';
  /** The processes this one started: held so that Node reaps them when they exit (no zombie left behind). */
  private children = new Map<string, import('node:child_process').ChildProcess>();

  constructor(readonly file: string) {}

  /** Write a nodes file for agents about to be started (refuses secrets in argv or env). */
  static create(file: string, nodes: Omit<LocalNodeSpec, 'pid'>[]): LocalNodes {
    for (const n of nodes) {
      const bad = Object.keys(n.env).find((k) => SECRET_NAME.test(k));
      if (bad)
        throw new ConfigError(
          `the nodes file would hold ${bad}`,
          'pass secrets as files (OWUI_SYNC_DATABASE_PASSWORD_FILE, OWUI_SYNC_JWT_SECRET_FILE)',
        );
      for (const [k, v] of Object.entries(n.env)) {
        if (/_URL$/.test(k) && /^postgres/i.test(v) && new URL(v).password)
          throw new ConfigError(`${k} in the nodes file holds a password`, 'put the password in a file instead');
      }
    }
    const body: NodesFile = { kind: 'local', nodes: nodes.map((n) => ({ ...n, pid: null })) };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    return new LocalNodes(file);
  }

  private read(): NodesFile {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read the nodes file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        'start the agents with npm run demo, or point OWUI_SYNC_NODES_FILE at the file their starter wrote',
      );
    }
    try {
      const f = JSON.parse(text) as NodesFile;
      if (f.kind !== 'local' || !Array.isArray(f.nodes)) throw new Error('not a nodes file');
      return f;
    } catch (err) {
      throw new ConfigError(
        `${this.file} is not a nodes file: ${(err as Error).message}`,
        'check OWUI_SYNC_NODES_FILE',
      );
    }
  }

  private write(f: NodesFile): void {
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }

  private spec(nodeId: string): { f: NodesFile; n: LocalNodeSpec } {
    const f = this.read();
    const n = f.nodes.find((x) => x.node_id === nodeId);
    if (!n)
      throw new NotFoundError(
        `no node ${nodeId} in ${this.file}`,
        `its nodes are ${f.nodes.map((x) => x.node_id).join(', ')}`,
      );
    return { f, n };
  }

  private running(n: LocalNodeSpec): boolean {
    return n.pid !== null && alive(n.pid) && isOurs(n.pid, n.argv);
  }

  async list(): Promise<NodeInfo[]> {
    return this.read().nodes.map((n) => ({
      node_id: n.node_id,
      role: n.role,
      kind: 'process',
      running: this.running(n),
      handle: n.pid === null ? '-' : `pid ${n.pid}`,
      url: n.url,
    }));
  }

  async start(nodeId: string): Promise<void> {
    const { f, n } = this.spec(nodeId);
    if (this.running(n)) return;
    fs.mkdirSync(path.dirname(n.log), { recursive: true });
    const out = fs.openSync(n.log, 'a', 0o600);
    try {
      const child = spawn(n.argv[0]!, n.argv.slice(1), {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', ...n.env },
        detached: true,
        stdio: ['ignore', out, out],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      child.unref();
      this.children.set(nodeId, child);
      n.pid = child.pid!;
    } catch (err) {
      throw new OwuiError(`cannot start node ${nodeId}: ${(err as Error).message}`, {
        hint: `check the command in ${this.file}`,
      });
    } finally {
      fs.closeSync(out);
    }
    this.write(f);
  }

  async stop(nodeId: string, mode: StopMode): Promise<void> {
    const { n } = this.spec(nodeId);
    if (!this.running(n)) return;
    const pid = n.pid!;
    process.kill(pid, mode === 'crash' ? 'SIGKILL' : 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (alive(pid)) {
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL');
        break;
      }
      await sleep(50);
    }
    this.children.delete(nodeId);
  }

  async restart(nodeId: string): Promise<void> {
    await this.stop(nodeId, 'graceful');
    await this.start(nodeId);
  }

  async logs(nodeId: string, lines: number): Promise<string[]> {
    const { n } = this.spec(nodeId);
    return tailFile(n.log, lines).map(readableLogLine);
  }

  /** Stop every node that runs (the demo's exit). */
  async stopAll(): Promise<void> {
    await Promise.all(this.read().nodes.map((n) => this.stop(n.node_id, 'graceful')));
  }
}

export const NO_NODE_CONTROL_HINT =
  'no node control here: set OWUI_SYNC_NODES_FILE to the nodes file of local agent processes (the demo writes one)';
