// `npm run build`: compiles src/ to dist/ with esbuild, bundled and split: dist/cli/main.js holds what every
// start needs, each verb's libraries and code stay in dist/chunks/ and load only when that verb runs, and
// dist/sqlite/writer-process.js is the demo's writer, dist/sqlite/read-worker.js a sync's SQLite reader thread. A bundle because Node loads ES modules one by one: the
// CLI's 21 small modules cost about 40 ms at every start before (bench/startup.ts). Types are checked by
// `npm run typecheck` (tsc), not here. Beside the code go the files it reads next to itself (the Open WebUI
// schema files); sql/ and templates/ stay at the package root (src/util/paths.ts says how both are found).
// Also importable: `buildIfStale()` is what `npm test`, `npm run demo` and the test setup call, so a fresh
// clone or an edited source never runs stale JavaScript.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
/** Written last, so an interrupted build is seen as stale. */
const stamp = path.join(dist, '.build-stamp');
const inputs = [src, path.join(root, 'scripts', 'build.mjs'), path.join(root, 'package.json')];

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

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
/** Dependencies compiled into dist/ rather than loaded from node_modules (see the comment in build()). */
const BUNDLED = ['ink', 'react', '@inkjs/ui'];

export async function build() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    console.error('build: esbuild is not installed; run npm ci first (the build needs the development dependencies)');
    process.exit(1);
  }
  fs.rmSync(dist, { recursive: true, force: true });
  try {
    esbuild.buildSync({
      absWorkingDir: root,
      entryPoints: ['src/cli/main.ts', 'src/sqlite/writer-process.ts', 'src/sqlite/read-worker.ts'],
      outbase: 'src',
      outdir: 'dist',
      // Every output file sits two folders below the package root, as every source file does.
      chunkNames: 'chunks/[name]-[hash]',
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Dependencies load from node_modules at run time, except the menu's: Ink and its helpers are a few hundred
      // small modules (es-toolkit alone costs 300 ms to load), so they are bundled, and tree-shaken, into the
      // menu's chunks. React is built in its production flavour. react-devtools-core is Ink's optional debugger.
      external: [
        ...Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })
          .filter((d) => !BUNDLED.includes(d))
          .flatMap((d) => [d, `${d}/*`]),
        'react-devtools-core',
      ],
      define: { 'process.env.NODE_ENV': '"production"' },
      // CommonJS code in the bundle (React) may require() Node's own modules.
      banner: {
        js: "import { createRequire as __owuiCreateRequire } from 'node:module'; const require = __owuiCreateRequire(import.meta.url);",
      },
      jsx: 'automatic',
      logLevel: 'warning',
    });
  } catch {
    console.error('build: esbuild failed (see above)');
    process.exit(1);
  }
  copyAssets(src, dist);
  fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
}

export async function buildIfStale(log = (s) => console.error(s)) {
  if (!isStale()) return false;
  log('compiling owui-sync (src/ -> dist/)...');
  await build();
  return true;
}

// `node scripts/build.mjs` always rebuilds; `--if-stale` (npm pack's prepack) keeps an up-to-date dist/.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale')) await buildIfStale();
  else await build();
}
