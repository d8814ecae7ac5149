// `npm run build`: compiles src/ to dist/ (tsc, .ts import specifiers rewritten to .js) and copies beside it
// the files the compiled code reads next to itself (the Open WebUI schema files). sql/ and templates/ stay at
// the package root, where both src/ and dist/ find them at the same relative path (../../sql).
// Also importable: `buildIfStale()` is what `npm test`, `npm run demo` and the test setup call, so a fresh
// clone or an edited source never runs stale JavaScript.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
/** Written last, so an interrupted build is seen as stale. */
const stamp = path.join(dist, '.build-stamp');
const inputs = [src, path.join(root, 'tsconfig.json'), path.join(root, 'tsconfig.build.json')];

function newestMtime(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, e)));
  return newest;
}

export function isStale() {
  if (!fs.existsSync(stamp)) return true;
  const built = fs.statSync(stamp).mtimeMs;
  return inputs.some((p) => fs.existsSync(p) && newestMtime(p) > built);
}

function copyAssets(from, to) {
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const a = path.join(from, e.name);
    const b = path.join(to, e.name);
    if (e.isDirectory()) copyAssets(a, b);
    else if (e.name.endsWith('.sql')) {
      fs.mkdirSync(to, { recursive: true });
      fs.copyFileSync(a, b);
    }
  }
}

export function build() {
  fs.rmSync(dist, { recursive: true, force: true });
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!fs.existsSync(tsc)) {
    console.error('build: typescript is not installed; run npm ci first (the build needs the development dependencies)');
    process.exit(1);
  }
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('build: tsc failed (see above)');
    process.exit(r.status ?? 1);
  }
  copyAssets(src, dist);
  fs.writeFileSync(stamp, new Date().toISOString() + '\n');
}

export function buildIfStale(log = (s) => console.error(s)) {
  if (!isStale()) return false;
  log('compiling owui-sync (src/ -> dist/, about 15 s)...');
  build();
  return true;
}

// `node scripts/build.mjs` always rebuilds; `--if-stale` (npm pack's prepack) keeps an up-to-date dist/.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale')) buildIfStale();
  else build();
}
