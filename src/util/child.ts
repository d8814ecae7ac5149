import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * tsx's loader by absolute URL, so a child runs TypeScript whatever its working directory. Resolved only when a
 * `.ts` file is started (tests and benchmarks): tsx is a development dependency, absent from installed packages.
 */
export function tsxImport(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
}

const SECRET_NAME = /(URL|PASSWORD|SECRET|TOKEN|KEY)(_FILE)?$/i;
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^@\s]+@/i;

/**
 * The environment for a child process: this process's, minus owui-sync's connection settings and
 * anything else that names or holds a secret. A child gets what it needs through its arguments.
 */
export function scrubbedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (k.startsWith('OWUI_SYNC_') && SECRET_NAME.test(k)) continue;
    if (SECRET_NAME.test(k) && /PASSWORD|SECRET|TOKEN/i.test(k)) continue;
    if (URL_WITH_PASSWORD.test(v)) continue;
    out[k] = v;
  }
  return out;
}

/** Start a module of this package (compiled `.js`, or `.ts` through tsx) as a child Node process, with a scrubbed environment. */
export function spawnModule(file: string | URL, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const path = file instanceof URL ? file.pathname : file;
  const loader = path.endsWith('.ts') ? ['--import', tsxImport()] : [];
  return spawn(process.execPath, [...loader, path, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: scrubbedEnv(),
    ...opts,
  });
}

/** Wait for a line on a child's stdout that matches. */
export function waitForLine(
  child: ChildProcess,
  match: (line: string) => boolean,
  timeoutMs = 30_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(
      () => reject(new Error(`timed out waiting for the child process (pid ${child.pid})`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (match(line)) {
          clearTimeout(t);
          child.stdout!.off('data', onData);
          resolve(line);
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`child process ${child.pid} exited (${code}) before it was ready`));
    });
  });
}
