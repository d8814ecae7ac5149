import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
/** tsx's loader by absolute URL, so a child runs TypeScript whatever its working directory. */
export const TSX_IMPORT = pathToFileURL(require.resolve('tsx/esm')).href;

/** Start a TypeScript file of this package as a child Node process. */
export function spawnTs(file: string | URL, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const path = file instanceof URL ? file.pathname : file;
  return spawn(process.execPath, ['--import', TSX_IMPORT, path, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** Wait for a line on a child's stdout that matches. */
export function waitForLine(child: ChildProcess, match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for the child process (pid ${child.pid})`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
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
