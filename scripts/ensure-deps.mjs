// Makes the README's quick start two commands on a fresh clone: `npm run demo` and `npm test` install the
// locked dependencies first when they are missing or older than package-lock.json, then compile src/ to dist/
// when dist/ is missing or older than the sources, and do nothing otherwise.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
const stale = !fs.existsSync(installed) || fs.statSync(installed).mtimeMs < fs.statSync(lock).mtimeMs;
if (stale) {
  console.error('installing the locked dependencies first (npm ci; better-sqlite3 builds from source, about 75 s)...');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('npm ci failed: see above (it needs python3, make and g++ to build better-sqlite3)');
    process.exit(r.status ?? 1);
  }
}

const { buildIfStale } = await import('./build.mjs');
await buildIfStale();
