import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { OwuiError } from '../util/errors.ts';
import { packagePath } from '../util/paths.ts';

/** What scripts/patch-postgres.mjs writes into postgres.js: one mark for each of its edits of a file. */
export const PATCH_MARK = 'owui-sync patch: connection loss';
/** The files it patches in each build (ESM, CommonJS) and how many edits each gets. */
const PATCHED: Record<string, number> = { 'connection.js': 5, 'index.js': 3 };

/** The folder of the postgres.js package this process loads (wherever npm put it: nested or hoisted). */
export function driverRoot(): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve('postgres'));
  while (
    !fs.existsSync(path.join(dir, 'package.json')) ||
    JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== 'postgres'
  ) {
    const up = path.dirname(dir);
    if (up === dir)
      throw new OwuiError('cannot find the postgres.js package folder', { hint: 'reinstall owui-sync', exitCode: 2 });
    dir = up;
  }
  return dir;
}

/** The patch script that belongs to this install (repairs the driver in place). */
const PATCH_SCRIPT = packagePath('scripts', 'patch-postgres.mjs');

let checked = false;

/**
 * Refuse to run on a postgres.js without our connection-loss fixes: unpatched, a lost connection can hang a
 * sync forever or kill the agent (docs/layout.md "The postgres.js patch"). An install that skipped install scripts
 * (`npm install --ignore-scripts`, some package managers, a Dockerfile that copies package.json before
 * scripts/) leaves it unpatched; this says so and how to repair it. Checks the ESM and CommonJS builds, the
 * files that are really loaded; once per process (for the driver this process loads).
 */
export function requirePatchedDriver(root?: string): void {
  if (root === undefined && checked) return;
  const dir = root ?? driverRoot();
  const files = ['src', 'cjs/src']
    .flatMap((b) => Object.keys(PATCHED).map((f) => path.join(dir, b, f)))
    .filter((f) => fs.existsSync(f));
  const unpatched = files.filter(
    (f) => fs.readFileSync(f, 'utf8').split(PATCH_MARK).length - 1 !== PATCHED[path.basename(f)],
  );
  if (files.length === 0 || unpatched.length > 0) {
    throw new OwuiError(
      `the PostgreSQL driver at ${dir} lacks owui-sync's fixes for lost connections (its install scripts did not run)`,
      {
        hint: `repair it with: node ${PATCH_SCRIPT}   (or reinstall without --ignore-scripts); owui-sync refuses to run on the unpatched driver, which can hang or crash when a connection drops`,
        exitCode: 2,
      },
    );
  }
  if (root === undefined) checked = true;
}
