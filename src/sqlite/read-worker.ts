// The SQLite reader thread of a sync run (source.ts openWorkerSource): opens the tenant read-only, reads pages,
// normalises and hashes their rows, and answers each request with a message. All the waiting on SQLite (a page's
// statements, the busy timeout while Open WebUI holds its write lock) happens here, never on the agent's event loop.
import { parentPort } from 'node:worker_threads';
import type { SourcePlan, TablePlan } from '../model/plan.ts';
import { SYNC_HEAP_HEADROOM, softHeapLimit } from '../util/memory.ts';
import { introspect } from './introspect.ts';
import { openTenant, type TenantDb } from './open.ts';
import { type Page, type PageQuery, TableReader } from './reader.ts';
import { readSnapshot } from './snapshot.ts';
import { asBuffer, journalOf, type ReadForm, type Reply, type Request, toWire } from './source.ts';

if (!parentPort) throw new Error('read-worker runs as a worker thread only');
const port = parentPort;

let db: TenantDb | null = null;
let plan: SourcePlan | null = null;
const readers = new Map<string, TableReader>();

/**
 * Page buffers the main thread gave back once their batch was written (op 'recycle'): the next pages are encoded
 * into them. Without them every page is a fresh allocation that the main thread frees only when its garbage
 * collector gets to it, and the freed buffers stay resident in this thread's allocator arena (about 50 MB of a
 * 75,000-row full sync's peak before).
 */
const spare: ArrayBuffer[] = [];
const SPARE_MAX = 3;
/** A buffer this large (a huge row) is not kept: it would stay resident for the rest of the run. */
const SPARE_LARGEST = 16 * 1024 * 1024;

function takeBuffer(size: number): Buffer {
  let best = -1;
  for (let i = 0; i < spare.length; i++)
    if (spare[i]!.byteLength >= size && (best < 0 || spare[i]!.byteLength < spare[best]!.byteLength)) best = i;
  if (best >= 0) return Buffer.from(spare.splice(best, 1)[0]!, 0, size);
  // Powers of two from 64 KB, so that a buffer given back fits the next pages of its table.
  let cap = 64 * 1024;
  while (cap < size) cap *= 2;
  return Buffer.from(Buffer.allocUnsafeSlow(cap).buffer, 0, size);
}

function keepBuffer(buf: ArrayBuffer): void {
  if (buf.byteLength > SPARE_LARGEST) return;
  spare.push(buf);
  spare.sort((a, b) => b.byteLength - a.byteLength);
  spare.length = Math.min(spare.length, SPARE_MAX);
}

/** A query's key values as SQLite binds them (asBuffer). */
function fixQuery(q: PageQuery): PageQuery {
  if (q.kind === 'key') return { ...q, after: q.after?.map(asBuffer) ?? null };
  if (q.kind === 'cursor') return { ...q, after: q.after ? { ...q.after, key: q.after.key.map(asBuffer) } : null };
  return q;
}

function reader(table: string, form: ReadForm): TableReader {
  const id = `${table}\u0000${form}`;
  let r = readers.get(id);
  if (!r) {
    const t: TablePlan | undefined = plan?.tables.find((x) => x.name === table);
    if (!db || !t) throw new Error(`table ${table} is not in the open tenant`);
    r = new TableReader(db, t, form === 'light', form === 'copy' && takeBuffer);
    readers.set(id, r);
  }
  return r;
}

/** A page's COPY buffer is handed over, not copied: its memory moves to the main thread. */
function transferOf(value: unknown): ArrayBuffer[] {
  const page = (value as { page?: Page } | null)?.page ?? (value as Page | null);
  if (!page || !(page as Page).copy) return [];
  return [(page as Page).copy!.buffer as ArrayBuffer];
}

function handle(req: Request): unknown {
  switch (req.op) {
    case 'open': {
      db = openTenant(req.path);
      try {
        plan = introspect(db);
        return { plan, journal: journalOf(db), snapshot: readSnapshot(db) };
      } catch (err) {
        db.close();
        db = null;
        throw err;
      }
    }
    case 'plan':
      plan = req.plan;
      readers.clear();
      return null;
    case 'read':
      return reader(req.table, req.form).read(fixQuery(req.q), req.limits);
    case 'readKeys':
      return reader(req.table, req.form).readKeys(req.keys, req.maxBytes);
    case 'readUnkeyable':
      return reader(req.table, req.form).readUnkeyable();
    case 'maxRowid':
      return reader(req.table, req.form).maxRowid();
    case 'count':
      return reader(req.table, req.form).count();
    case 'close':
      db?.close();
      db = null;
      // An idle thread holds no buffers.
      spare.length = 0;
      return null;
    case 'recycle':
      keepBuffer(req.buf);
      return null;
  }
}

port.on('message', (m: Request & { id: number }) => {
  // A buffer given back is not answered.
  if (m.op === 'recycle') return void handle(m);
  let reply: Reply;
  let transfer: ArrayBuffer[] = [];
  try {
    const value = handle(m);
    transfer = transferOf(value);
    reply = { id: m.id, ok: true, value };
  } catch (err) {
    reply = { id: m.id, ok: false, error: toWire(err) };
  }
  port.postMessage(reply, transfer);
  collectIfGrown();
});

/** This thread's soft heap limit (util/memory.ts), checked after each answer, while the main thread works on it. */
const collectIfGrown = softHeapLimit(SYNC_HEAP_HEADROOM);
