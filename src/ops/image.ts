import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../docker/engine.ts';
import { OwuiError } from '../util/errors.ts';
import { PACKAGE_ROOT } from '../util/paths.ts';
import { DEFAULT_IMAGE } from './deploy.ts';

// `owui-sync image build`: the agent image from templates/Dockerfile. The context is staged from this package as
// it runs (compiled code, migrations, templates) and its production dependencies: the postgres.js fixes are
// already applied and better-sqlite3 is already compiled, so the build downloads and compiles nothing.

const PARTS = ['package.json', 'bin', 'dist', 'sql', 'templates', 'scripts/patch-postgres.mjs'];

/** Write the build context into `dir`: the package's parts, node_modules without development dependencies. */
export function stageContext(dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(PACKAGE_ROOT, 'dist', 'cli', 'main.js')))
    throw new OwuiError('owui-sync is not built: dist/ is missing', { hint: 'run npm run build first' });
  for (const p of PARTS) fs.cpSync(path.join(PACKAGE_ROOT, p), path.join(dir, p), { recursive: true });
  fs.cpSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(dir, 'node_modules'), {
    recursive: true,
    filter: (src) => !src.includes(`${path.sep}.cache${path.sep}`),
  });
  const lock = path.join(PACKAGE_ROOT, 'package-lock.json');
  if (fs.existsSync(lock)) {
    // A clone: its node_modules has the development dependencies too; npm removes them (offline).
    fs.copyFileSync(lock, path.join(dir, 'package-lock.json'));
    const r = spawnSync('npm', ['prune', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: dir,
      encoding: 'utf8',
    });
    if (r.status !== 0)
      throw new OwuiError(`npm prune failed in the image context: ${r.stderr.trim().split('\n').pop()}`, {
        hint: 'check that npm runs here',
      });
    fs.rmSync(path.join(dir, 'package-lock.json'));
  }
  fs.copyFileSync(path.join(PACKAGE_ROOT, 'templates', 'Dockerfile'), path.join(dir, 'Dockerfile'));
  return ['Dockerfile', ...PARTS, 'node_modules'];
}

export interface ImageBuildResult {
  tag: string;
  base_image: string;
  id: string;
  size_bytes: number;
}

export async function buildImage(o: {
  tag?: string;
  baseImage?: string;
  engine?: Engine;
  onStep?: (s: string) => void;
}): Promise<ImageBuildResult> {
  const engine = o.engine ?? new Engine();
  await engine.require();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-sync-image-'));
  try {
    o.onStep?.(`staging the context in ${dir}`);
    const files = stageContext(dir);
    const tag = o.tag ?? DEFAULT_IMAGE;
    const base = o.baseImage ?? 'node:20-bookworm-slim';
    o.onStep?.(`building ${tag} on ${base}`);
    const r = await engine.build(dir, files, { tag, dockerfile: 'Dockerfile', buildargs: { BASE_IMAGE: base } });
    return { tag, base_image: base, id: r.id, size_bytes: r.size };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
