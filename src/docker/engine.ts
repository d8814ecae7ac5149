import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { ConfigError, messageOf, OwuiError } from '../util/errors.ts';

// The Docker engine as owui-sync uses it: images built from a folder, containers by name, their logs. The engine
// is the one DOCKER_HOST names, or the local socket.

export type ContainerSpec = Docker.ContainerCreateOptions & { name: string };

export interface ContainerState {
  name: string;
  id: string;
  running: boolean;
  status: string;
  health: string | null;
  image: string;
  labels: Record<string, string>;
}

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

export class Engine {
  readonly docker: Docker;
  constructor(docker?: Docker) {
    this.docker = docker ?? new Docker();
  }

  /** An operator-readable error when there is no engine. */
  async require(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (err) {
      throw new ConfigError(
        `cannot reach the Docker engine: ${messageOf(err)}`,
        'check that Docker runs and that this user may use its socket (or set DOCKER_HOST)',
      );
    }
  }

  /** Build an image from a folder holding a Dockerfile at `dockerfile`; returns the image's size in bytes. */
  async build(dir: string, files: string[], o: { tag: string; dockerfile: string; buildargs: Record<string, string> }) {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.buildImage(
        { context: dir, src: files },
        { t: o.tag, dockerfile: o.dockerfile, buildargs: o.buildargs, networkmode: 'none', rm: true, forcerm: true },
      );
    } catch (err) {
      throw new OwuiError(`the image build did not start: ${messageOf(err)}`, { hint: 'check the Docker engine' });
    }
    const out: string[] = [];
    await new Promise<void>((resolve, reject) =>
      this.docker.modem.followProgress(
        stream,
        (err, res) => {
          if (err) return reject(err);
          const failed = (res as { error?: string; errorDetail?: { message?: string } }[]).find((r) => r.error);
          if (failed) reject(new Error(failed.errorDetail?.message ?? failed.error));
          else resolve();
        },
        (ev: { stream?: string }) => ev.stream && out.push(ev.stream),
      ),
    ).catch((err) => {
      throw new OwuiError(`the image build failed: ${messageOf(err)}`, {
        hint: `its last lines:\n${out.join('').trim().split('\n').slice(-6).join('\n')}`,
      });
    });
    const info = await this.docker.getImage(o.tag).inspect();
    return { size: info.Size, id: info.Id };
  }

  /** Whether the engine is a swarm manager (the pair then runs as services, with Docker secrets). */
  async swarmActive(): Promise<boolean> {
    const info = (await this.docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    return info.Swarm?.LocalNodeState === 'active' && !!info.Swarm.ControlAvailable;
  }

  async service(name: string): Promise<{ id: string; version: number; labels: Record<string, string> } | null> {
    try {
      const s = (await this.docker.getService(name).inspect()) as {
        ID: string;
        Version: { Index: number };
        Spec: { Labels?: Record<string, string> };
      };
      return { id: s.ID, version: s.Version.Index, labels: s.Spec.Labels ?? {} };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async createService(spec: object): Promise<void> {
    await this.docker.createService(spec as Docker.CreateServiceOptions);
  }

  async updateService(name: string, version: number, spec: object): Promise<void> {
    await this.docker.getService(name).update({ ...spec, version } as never);
  }

  async removeService(name: string): Promise<void> {
    try {
      await this.docker.getService(name).remove();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  /** The running task container of a swarm service, or null. */
  async taskOf(service: string): Promise<string | null> {
    const list = await this.docker.listContainers({
      filters: JSON.stringify({ label: [`com.docker.swarm.service.name=${service}`] }),
    });
    return list[0] ? (list[0].Names[0] ?? '').replace(/^\//, '') : null;
  }

  async imageExists(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  async state(name: string): Promise<ContainerState | null> {
    try {
      const i = await this.docker.getContainer(name).inspect();
      return {
        name,
        id: i.Id,
        running: i.State.Running,
        status: i.State.Status,
        health: i.State.Health?.Status ?? null,
        image: i.Config.Image,
        labels: i.Config.Labels ?? {},
      };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  /** Containers whose name starts with `prefix`, with their environment and mounts (for discovery). */
  async list(prefix: string) {
    const all = await this.docker.listContainers({ all: true });
    return all
      .map((c) => ({ ...c, name: (c.Names[0] ?? '').replace(/^\//, '') }))
      .filter((c) => c.name.startsWith(prefix));
  }

  async inspect(name: string) {
    return this.docker.getContainer(name).inspect();
  }

  async create(spec: ContainerSpec): Promise<void> {
    await this.docker.createContainer(spec);
  }

  async start(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).start();
    } catch (err) {
      if (statusOf(err) !== 304) throw err; // already running
    }
  }

  /** docker stop: SIGTERM, then SIGKILL after `seconds`. */
  async stop(name: string, seconds = 30): Promise<void> {
    try {
      await this.docker.getContainer(name).stop({ t: seconds });
    } catch (err) {
      if (statusOf(err) !== 304) throw err; // already stopped
    }
  }

  /** docker kill: SIGKILL at once. */
  async kill(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).kill();
    } catch (err) {
      if (statusOf(err) !== 409) throw err; // not running
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).remove({ force: true });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  /** The last `lines` of a container's log, stdout and stderr demultiplexed, oldest first. */
  async logs(name: string, lines: number): Promise<string[]> {
    const buf = (await this.docker.getContainer(name).logs({
      stdout: true,
      stderr: true,
      tail: lines,
      follow: false,
    })) as unknown as Buffer;
    return demux(buf).split('\n').filter(Boolean);
  }

  /** Follow a container's log (stdout and stderr demultiplexed) until the signal aborts. */
  async follow(name: string, lines: number, onLine: (l: string) => void, signal: AbortSignal): Promise<void> {
    const c = this.docker.getContainer(name);
    const stream = (await c.logs({ stdout: true, stderr: true, tail: lines, follow: true })) as NodeJS.ReadableStream;
    const out = new PassThrough();
    let rest = '';
    out.on('data', (d: Buffer) => {
      rest += d.toString();
      const parts = rest.split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) onLine(p);
    });
    this.docker.modem.demuxStream(stream, out, out);
    await new Promise<void>((resolve) => {
      stream.on('end', resolve);
      signal.addEventListener('abort', () => {
        (stream as unknown as { destroy: () => void }).destroy();
        resolve();
      });
    });
  }
}

/**
 * A container log without a terminal comes in frames: one byte for the stream, three zero bytes, a four-byte
 * big-endian length, then the payload. Plain text (a container with a terminal) is returned as it is.
 */
export function demux(buf: Buffer): string {
  if (buf.length < 8 || buf[0]! > 2 || buf[1] !== 0 || buf[2] !== 0 || buf[3] !== 0) return buf.toString('utf8');
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const n = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + n));
    i += 8 + n;
  }
  return Buffer.concat(parts).toString('utf8');
}
