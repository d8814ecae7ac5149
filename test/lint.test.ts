import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT, tmpDir } from './helpers.ts';

const run = promisify(execFile);
const bin = (name: string) => path.join(ROOT, 'node_modules', '.bin', name);
const exitOf = (p: Promise<{ stdout: string }>) =>
  p.then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );

/** A small tree with the project's lint settings, where a test puts one file that breaks a rule. */
function tree(files: Record<string, string>): string {
  const dir = tmpDir();
  fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  fs.copyFileSync(path.join(ROOT, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
  const biome = JSON.parse(fs.readFileSync(path.join(ROOT, 'biome.json'), 'utf8')) as Record<string, unknown>;
  delete biome.vcs;
  delete biome.$schema;
  biome.files = { includes: ['src/**'] };
  fs.writeFileSync(path.join(dir, 'biome.json'), JSON.stringify(biome));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe('the CI gates (npm run lint)', () => {
  it('fail on an import against the direction of the layers', async () => {
    const dir = tree({
      'src/cluster/lease.ts': 'export const lease = 1;\n',
      'src/sync/engine.ts': "import { lease } from '../cluster/lease.ts';\n\nexport const x = lease;\n",
    });
    const r = await exitOf(run(bin('depcruise'), ['src', '--config', '.dependency-cruiser.cjs'], { cwd: dir }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('sync-imports-upward: src/sync/engine.ts → src/cluster/lease.ts');
    const ok = tree({
      'src/util/a.ts': 'export const a = 1;\n',
      'src/sync/b.ts': "import { a } from '../util/a.ts';\n\nexport const b = a;\n",
    });
    expect(
      (await exitOf(run(bin('depcruise'), ['src', '--config', '.dependency-cruiser.cjs'], { cwd: ok }))).code,
    ).toBe(0);
  });

  it('fail on a formatting or a lint error', async () => {
    const badFormat = tree({ 'src/a.ts': 'export const  a=1\n' });
    expect((await exitOf(run(bin('biome'), ['check', 'src'], { cwd: badFormat }))).code).not.toBe(0);
    const badLint = tree({ 'src/a.ts': 'export function f(x: number): boolean {\n  return x == 1;\n}\n' });
    const r = await exitOf(run(bin('biome'), ['check', 'src'], { cwd: badLint }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('noDoubleEquals');
    const good = tree({ 'src/a.ts': 'export const a = 1;\n' });
    expect((await exitOf(run(bin('biome'), ['check', 'src'], { cwd: good }))).code).toBe(0);
  });

  it('keep the libraries out of the start of the CLI: the bundle loads them only with the verb that needs them', () => {
    const dist = path.join(ROOT, 'dist');
    const seen = new Set<string>();
    const packages = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/^import\s[^'"]*["']([^"']+)["']/gm)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) walk(path.resolve(path.dirname(file), spec));
        else if (!spec.startsWith('node:')) packages.add(spec);
      }
    };
    walk(path.join(dist, 'cli', 'main.js'));
    expect(seen.size).toBeGreaterThan(1);
    // commander is required through its CommonJS build (src/cli/commander.ts), not imported.
    expect([...packages]).toEqual([]);
    const text = [...seen].map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    for (const heavy of ['postgres', 'better-sqlite3', 'zod', 'pino', 'prom-client', 'jose', 'dockerode', 'undici'])
      expect(text, heavy).not.toMatch(new RegExp(`from ["']${heavy}["']`));
  });
});
