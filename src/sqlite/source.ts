import fs from 'node:fs';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { SourcePlan, TablePlan } from '../model/plan.ts';
import { ConfigError, NotFoundError, OwuiError } from '../util/errors.ts';
import { SYNC_HEAP_HEADROOM, softHeapLimit } from '../util/memory.ts';
import { codeModule, packagePath } from '../util/paths.ts';
import type { TenantDb } from './open.ts';
import { type Page, type PageLimits, type PageQuery, unpack } from './reader.ts';
import type { SchemaSnapshot } from './snapshot.ts';

// Where a sync reads its tenant: in this thread (the command line's short reads), or in a worker thread of its
// own (the sync engine), so that the event loop never waits on SQLite: neither while a page is read, normalised
// and hashed, nor while Open WebUI holds its write lock and SQLite waits out its busy timeout. Same operations,
// same results; the worker's are asynchronous messages.

export type JournalMode = 'wal' | 'rollback';
export type ReadForm = 'copy' | 'light' | 'values';

/** One table of an open tenant, read in its full or its light form (TableReader). */
export interface TableSource {
  read(q: PageQuery, limits: PageLimits): Promise<Page>;
  /** Rows with these keys; with `maxBytes`, it stops once that many bytes are read (`consumed` says how far). */
  readKeys(keys: string[][], maxBytes?: number): Promise<{ page: Page; missing: string[][]; consumed: number }>;
  readUnkeyable(): Promise<Page['unkeyable']>;
  maxRowid(): Promise<bigint | null>;
  count(): Promise<number>;
}

export interface TenantSource {
  readonly plan: SourcePlan;
  readonly journal: JournalMode;
  /** The tenant's schema as it was opened (what a restore rebuilds, sql/011_source_schema.sql). */
  readonly snapshot: SchemaSnapshot;
  /**
   * Tell the reader the plan as the run shapes it (each column's type as the mirror really has it): values are
   * normalised for those types.
   */
  setPlan(plan: SourcePlan): Promise<void>;
  /**
   * One table, read in one of three forms: 'copy' (rows as COPY data, no values: what a sync writes), 'light' (the
   * light pass's rows: light hash, no large columns), 'values' (rows with their values: a merge, a refused row).
   */
  table(t: TablePlan, form?: ReadForm): TableSource;
  /**
   * The page's batch is written (committed): its COPY buffer goes back to the reader for the next pages, and its
   * rows lose their COPY data (a row used after this must have its values read again, as merges do).
   */
  recycle(page: Page): void;
  close(): Promise<void>;
}

/** The tenant's journal mode (reading journal_mode only reports it; it never changes it). */
export const journalOf = (db: TenantDb): JournalMode =>
  String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal' ? 'wal' : 'rollback';

/** What crosses the thread boundary for an error: enough to rebuild it with its class, hint and exit code. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  hint?: string;
  exitCode?: number;
}

export function toWire(err: unknown): WireError {
  const e = err as Partial<OwuiError> & { code?: string };
  return {
    name: err instanceof Error ? err.name : 'Error',
    message: err instanceof Error ? err.message : String(err),
    code: typeof e?.code === 'string' ? e.code : undefined,
    hint: e?.hint,
    exitCode: e?.exitCode,
  };
}

function fromWire(w: WireError): Error {
  if (w.name === 'ConfigError') return new ConfigError(w.message, w.hint);
  if (w.name === 'NotFoundError') return new NotFoundError(w.message, w.hint);
  if (w.name === 'OwuiError')
    return new OwuiError(w.message, { hint: w.hint, exitCode: w.exitCode as OwuiError['exitCode'] });
  // SQLite's own errors keep their code (SQLITE_BUSY is retried by the caller).
  return Object.assign(new Error(w.message), { code: w.code });
}

/** Messages to the worker (read-worker.ts) and its answers. */
export type Request =
  | { op: 'open'; path: string }
  | { op: 'plan'; plan: SourcePlan }
  | { op: 'read'; table: string; form: ReadForm; q: PageQuery; limits: PageLimits }
  | { op: 'readKeys'; table: string; form: ReadForm; keys: string[][]; maxBytes?: number }
  | { op: 'readUnkeyable' | 'maxRowid' | 'count'; table: string; form: ReadForm }
  | { op: 'recycle'; buf: ArrayBuffer }
  | { op: 'close' };
export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

/**
 * The worker's file. From the compiled package it sits beside this module's bundle; from the TypeScript sources
 * (the tests) it is the compiled one too, which the tests build first: a worker thread cannot load TypeScript.
 */
function workerFile(): string {
  const own = codeModule('sqlite/read-worker');
  if (own.endsWith('.js')) return own;
  const built = packagePath('dist/sqlite/read-worker.js');
  if (!fs.existsSync(built))
    throw new ConfigError('the SQLite reader thread is not built (dist/sqlite/read-worker.js)', 'run: npm run build');
  return built;
}

/**
 * Structured cloning turns Buffers into plain Uint8Arrays: a value that crossed the thread boundary is made a
 * Buffer again (SQLite binds Buffers; key text of blob columns is read from Buffers). Both sides use it.
 */
export const asBuffer = (v: unknown): unknown =>
  v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.length) : v;
const asBuffers = (vals: unknown[] | null) => vals?.map(asBuffer) ?? null;

/**
 * Reader threads are kept between runs (an agent runs many): starting one costs about 80 ms (a fresh V8 isolate
 * loading the reader's code and SQLite). An idle one holds no tenant open and does not keep the process alive.
 */
const idle: Worker[] = [];
const MAX_IDLE = 4;

/** The main thread's soft heap limit (util/memory.ts), checked as each page arrives. */
const collectIfGrown = softHeapLimit(SYNC_HEAP_HEADROOM);

/** The reader thread's young generation (below). */
const READER_YOUNG_MB = 16;
let youngSet = false;

function takeWorker(): Worker {
  const w = idle.pop();
  if (w) {
    w.ref();
    return w;
  }
  // The thread's own young generation, 16 MB: a statement's worth of rows (at most 1 MB of values, sqlite/reader.ts)
  // dies in it without being promoted. The executable's 1 MB semi-spaces (NODE_FLAGS, for the main thread) would
  // apply here too and override this limit: the flag set to 0 first lets resourceLimits decide for the isolates made
  // from now on (the main thread's is made already). Measured on the 75,000-row tenant with --trace-gc (one run
  // each, rows then still made after a whole page): 1 MB semi-spaces 9.0 s, 1,964 scavenges; 8 MB 6.7 s, 617;
  // 16 MB 6.2 s, 390, at the same peak RSS (123 to 125 MB); 32 MB 5.3 s at 145 MB, too near the 150 MB bound.
  if (!youngSet) {
    v8.setFlagsFromString('--max-semi-space-size=0');
    youngSet = true;
  }
  const fresh = new Worker(workerFile(), { resourceLimits: { maxYoungGenerationSizeMb: READER_YOUNG_MB } });
  fresh.on('exit', () => {
    const i = idle.indexOf(fresh);
    if (i >= 0) idle.splice(i, 1);
  });
  fresh.on('error', () => {}); // reported to the run that uses it (below); an idle one just leaves the pool
  return fresh;
}

/**
 * Start a reader thread ahead of the run that will take it (the command line's sync, while it loads its code and
 * connects): a fresh thread loads the reader's code and SQLite on the other core meanwhile. Nothing is opened.
 */
export function prewarmReader(): void {
  if (idle.length === 0) giveBack(takeWorker());
}

function giveBack(w: Worker): void {
  if (idle.length >= MAX_IDLE) {
    void w.terminate();
    return;
  }
  w.unref();
  idle.push(w);
}

/**
 * The tenant read in a reader thread (one run at a time per thread; close() gives it back). Requests are
 * answered in order; several may be in flight (the next page is read while PostgreSQL works on this one).
 */
export async function openWorkerSource(path: string): Promise<TenantSource> {
  const worker = takeWorker();
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 1;
  let dead: Error | null = null;
  const failAll = (err: Error) => {
    dead ??= err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  const onMessage = (m: Reply) => {
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.ok) w.resolve(m.value);
    else w.reject(fromWire(m.error));
  };
  const onError = (err: Error) =>
    failAll(new OwuiError(`the SQLite reader thread failed: ${err.message}`, { cause: err }));
  const onExit = (code: number) => failAll(new OwuiError(`the SQLite reader thread exited (code ${code})`));
  worker.on('message', onMessage);
  worker.on('error', onError);
  worker.on('exit', onExit);
  const detach = () => {
    worker.off('message', onMessage);
    worker.off('error', onError);
    worker.off('exit', onExit);
  };
  const call = <T>(req: Request): Promise<T> => {
    if (dead) return Promise.reject(dead);
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, ...req });
    });
  };
  /** Give the thread back when it is idle and sound; otherwise end it. */
  const release = async () => {
    const clean =
      !dead &&
      waiting.size === 0 &&
      (await call({ op: 'close' }).then(
        () => true,
        () => false,
      ));
    detach();
    if (clean) giveBack(worker);
    else await worker.terminate();
  };
  let opened: { plan: SourcePlan; journal: JournalMode; snapshot: SchemaSnapshot };
  try {
    opened = await call({ op: 'open', path });
  } catch (err) {
    await release();
    throw err;
  }
  let plan = opened.plan;
  const fixPage = (p: Page, t: TablePlan): Page => {
    collectIfGrown();
    p.lastKey = asBuffers(p.lastKey);
    if (!p.copy) return p;
    // The page's COPY buffer came over without a copy (transferred); its rows are made from it if asked for.
    p.copy = Buffer.from(p.copy.buffer, p.copy.byteOffset, p.copy.byteLength);
    return unpack(p, t);
  };
  return {
    get plan() {
      return plan;
    },
    journal: opened.journal,
    snapshot: opened.snapshot,
    async setPlan(p) {
      plan = p;
      await call({ op: 'plan', plan: p });
    },
    recycle(page) {
      const buf = page.copy;
      if (!buf) return;
      // Its rows lose their COPY data (unpack).
      page.copy = undefined;
      if (!dead) worker.postMessage({ op: 'recycle', buf: buf.buffer }, [buf.buffer as ArrayBuffer]);
    },
    table(t, form = 'values') {
      const table = t.name;
      return {
        read: async (q, limits) => fixPage(await call<Page>({ op: 'read', table, form, q, limits }), t),
        readKeys: async (keys, maxBytes) => {
          const r = await call<{ page: Page; missing: string[][]; consumed: number }>({
            op: 'readKeys',
            table,
            form,
            keys,
            maxBytes,
          });
          return { ...r, page: fixPage(r.page, t) };
        },
        readUnkeyable: () => call({ op: 'readUnkeyable', table, form }),
        maxRowid: () => call({ op: 'maxRowid', table, form }),
        count: () => call({ op: 'count', table, form }),
      };
    },
    async close() {
      // A run that stops with reads still in flight (cancelled, failed) ends its thread rather than wait for them.
      if (waiting.size > 0) {
        detach();
        failAll(new OwuiError('the reader was closed'));
        await worker.terminate();
        return;
      }
      await release();
    },
  };
}
