import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { type EmbeddedPg, startEmbedded } from '../../src/pg/embedded.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

let pg: EmbeddedPg | undefined;
let dir: string | undefined;

/**
 * One real PostgreSQL for the whole run: OWUI_SYNC_TEST_DATABASE_URL (a superuser URL) if set,
 * otherwise an embedded PostgreSQL 17 started here and always stopped in teardown.
 */
export async function setup(project: TestProject) {
  // Tests that start the real binary run the compiled code: compile it first when a source is newer.
  // @ts-expect-error: a plain JavaScript module without type declarations
  const { buildIfStale } = (await import('../../scripts/build.mjs')) as { buildIfStale: () => Promise<boolean> };
  await buildIfStale();
  const external = process.env.OWUI_SYNC_TEST_DATABASE_URL;
  if (external) {
    project.provide('pgUrl', external);
    return;
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-sync-test-'));
  fs.chmodSync(dir, 0o755);
  pg = await startEmbedded({ dataDir: path.join(dir, 'pg'), durable: false });
  project.provide('pgUrl', pg.url);
}

export async function teardown() {
  try {
    await pg?.stop();
  } finally {
    if (pg?.pid) {
      try {
        process.kill(pg.pid, 0);
        process.kill(pg.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}
