import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/util/net.ts';
import { waitFor } from './helpers.ts';

/**
 * Why no Docker engine of the tests' own can start here, or null when one can: dockerd must be installed (CI
 * installs docker.io; see .ci/run) and this process must be root (dockerd needs it). The Docker tests skip with
 * this reason, printed once.
 */
export const dockerSkipReason: string | null = (() => {
  try {
    execFileSync('dockerd', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'dockerd is not installed (apt-get install docker.io)';
  }
  if (process.getuid?.() !== 0) return 'dockerd needs root, and these tests do not run as root';
  return null;
})();
if (dockerSkipReason) console.warn(`Docker tests skipped: ${dockerSkipReason}`);

/** Can the tests start a Docker engine of their own? */
export const hasDockerd = dockerSkipReason === null;

export interface TestEngine {
  dockerHost: string;
  docker: (...args: string[]) => string;
  stop: () => Promise<void>;
}

/**
 * A Docker engine of the test's own, in swarm mode: its own socket, data root and swarm port, no
 * bridge and no iptables (as this machine allows). Stopped by PID, and its files removed, by stop().
 */
export async function startSwarmEngine(): Promise<TestEngine> {
  return startEngine({ swarm: true });
}

/** A Docker engine of the test's own (see startSwarmEngine), in swarm mode or not. */
export async function startEngine(o: { swarm: boolean }): Promise<TestEngine> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-dockerd-'));
  const sock = path.join(dir, 'docker.sock');
  const dockerHost = `unix://${sock}`;
  const log = fs.openSync(path.join(dir, 'dockerd.log'), 'w');
  const d = spawn(
    'dockerd',
    [
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
      '--host',
      dockerHost,
      '--data-root',
      path.join(dir, 'data'),
      '--exec-root',
      path.join(dir, 'exec'),
      '--pidfile',
      path.join(dir, 'docker.pid'),
    ],
    { stdio: ['ignore', log, log] },
  );
  const docker = (...args: string[]) =>
    execFileSync('docker', ['-H', dockerHost, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = async () => {
    try {
      docker('swarm', 'leave', '--force');
    } catch {
      /* not in a swarm */
    }
    if (d.exitCode === null) {
      d.kill('SIGTERM');
      await waitFor('dockerd to exit', () => d.exitCode !== null, { timeoutMs: 5000, stepMs: 100 }).catch(() => {});
      if (d.exitCode === null) d.kill('SIGKILL');
    }
    // The engine leaves mounts under its exec root (a network namespace of containers on the host network).
    for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').reverse()) {
      const at = line.split(' ')[1];
      if (at?.startsWith(dir)) spawnSync('umount', ['-l', at]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'dockerd to answer',
      () => {
        if (d.exitCode !== null) throw new Error(`dockerd exited ${d.exitCode}`);
        docker('info');
        return true;
      },
      { timeoutMs: 20_000, stepMs: 200 },
    ).catch((err: Error) => {
      throw new Error(`dockerd did not start: ${fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').slice(-800)}`, {
        cause: err,
      });
    });
    if (o.swarm)
      docker('swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', `127.0.0.1:${await freePort()}`);
    return { dockerHost, docker, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A base image without a registry: this machine's Node.js and the shared libraries it links (glibc, libstdc++),
 * with /tmp, imported as a root file system. It has no shell and no package manager, like a distroless image.
 */
export function importNodeBaseImage(engine: TestEngine, tag: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-base-'));
  try {
    const root = path.join(dir, 'root');
    const node = fs.realpathSync(process.execPath);
    const put = (file: string, at = file) => {
      fs.mkdirSync(path.join(root, path.dirname(at)), { recursive: true });
      fs.copyFileSync(fs.realpathSync(file), path.join(root, at));
    };
    put(node, '/usr/local/bin/node');
    const libs = execFileSync('ldd', [node], { encoding: 'utf8' }).match(/\/\S+/g) ?? [];
    for (const l of libs) put(l);
    fs.mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 });
    fs.chmodSync(path.join(root, 'tmp'), 0o1777);
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(
      path.join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/:/nonexistent\nowui:x:10001:10001::/:/nonexistent\n',
    );
    fs.writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nowui:x:10001:\n');
    execFileSync('tar', ['-C', root, '-cf', path.join(dir, 'root.tar'), '.']);
    engine.docker('import', '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', path.join(dir, 'root.tar'), tag);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
