import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../src/pg/embedded.ts';

/** Is a Docker engine binary installed (CI installs docker.io; see .ci/run)? */
export const hasDockerd = (() => {
  try {
    execFileSync('dockerd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

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
      for (let i = 0; i < 50 && d.exitCode === null; i++) await sleep(100);
      if (d.exitCode === null) d.kill('SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; ; i++) {
      try {
        docker('info');
        break;
      } catch (err) {
        if (i > 100 || d.exitCode !== null)
          throw new Error(
            `dockerd did not start: ${fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').slice(-800)}`,
            { cause: err },
          );
        await sleep(200);
      }
    }
    docker('swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', `127.0.0.1:${await freePort()}`);
    return { dockerHost, docker, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
