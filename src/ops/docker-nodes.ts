import { Engine } from '../docker/engine.ts';
import { NotFoundError } from '../util/errors.ts';
import { readableLogLine } from '../util/log.ts';
import { PAIR } from './deploy.ts';
import type { NodeController, NodeInfo, StopMode } from './nodes.ts';

/**
 * The pair as containers (owui-sync deploy): stop is `docker stop` (SIGTERM, the lease is handed over) or
 * `docker kill` (a crash: the lease must expire), logs are the containers' own, demultiplexed.
 */
export class DockerNodes implements NodeController {
  readonly kind = 'container';
  constructor(
    readonly engine = new Engine(),
    private readonly publish = '127.0.0.1',
  ) {}

  private node(nodeId: string) {
    const n = PAIR.find((p) => p.name === nodeId || p.role === nodeId || nodeId.endsWith(`-${p.role}`));
    if (!n) throw new NotFoundError(`no node ${nodeId}`, `the pair is ${PAIR.map((p) => p.name).join(' and ')}`);
    return n;
  }

  /** The container of a node: the standalone container, or the running task of the swarm service of that name. */
  private async container(name: string): Promise<{ name: string; swarm: boolean } | null> {
    if (await this.engine.state(name)) return { name, swarm: false };
    const task = await this.engine.taskOf(name).catch(() => null);
    return task ? { name: task, swarm: true } : null;
  }

  private async must(nodeId: string) {
    const n = this.node(nodeId);
    const c = await this.container(n.name);
    if (!c) throw new NotFoundError(`node ${n.name} has no running container`, 'owui-sync nodes shows the pair');
    return c;
  }

  async list(): Promise<NodeInfo[]> {
    const out: NodeInfo[] = [];
    for (const p of PAIR) {
      const c = await this.container(p.name);
      const st = c ? await this.engine.state(c.name) : null;
      if (!c || !st) continue;
      const env = (await this.engine.inspect(c.name)).Config.Env ?? [];
      const nodeId = env.find((e) => e.startsWith('NODE_ID='))?.slice(8) ?? p.name;
      const url =
        env.find((e) => e.startsWith('OWUI_SYNC_ADVERTISE_URL='))?.slice(24) ?? `http://${this.publish}:${p.port}`;
      out.push({
        node_id: nodeId,
        role: p.role,
        kind: 'container',
        running: st.running,
        handle: `${c.name}${c.swarm ? ' (swarm task)' : ''}${st.health ? ` (${st.health})` : ''}`,
        url,
      });
    }
    return out;
  }

  async stop(nodeId: string, mode: StopMode): Promise<void> {
    const c = await this.must(nodeId);
    if (mode === 'crash') await this.engine.kill(c.name);
    else await this.engine.stop(c.name, 30);
  }

  /** Standalone: docker start. A swarm service starts a new task by itself (its restart policy). */
  async start(nodeId: string): Promise<void> {
    const n = this.node(nodeId);
    if (await this.engine.state(n.name)) await this.engine.start(n.name);
  }

  async restart(nodeId: string): Promise<void> {
    const c = await this.must(nodeId);
    await this.engine.stop(c.name, 30);
    if (!c.swarm) await this.engine.start(c.name);
  }

  async logs(nodeId: string, lines: number): Promise<string[]> {
    return (await this.engine.logs((await this.must(nodeId)).name, lines)).map(readableLogLine);
  }
}

/** Node control for this host: the nodes file when one is named, else the deployed pair when there is one. */
export async function findNodeController(env: NodeJS.ProcessEnv = process.env): Promise<NodeController | null> {
  const { LocalNodes } = await import('./nodes.ts');
  if (env.OWUI_SYNC_NODES_FILE) return new LocalNodes(env.OWUI_SYNC_NODES_FILE);
  try {
    const d = new DockerNodes();
    await d.engine.docker.ping();
    return (await d.list()).length ? d : null;
  } catch {
    return null;
  }
}
