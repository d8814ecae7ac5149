// The SQLite reader thread of a sync run (source.ts openWorkerSource): opens the tenant read-only, reads pages,
// normalises and hashes their rows, and answers each request with a message. All the waiting on SQLite (a page's
// statements, the busy timeout while Open WebUI holds its write lock) happens here, never on the agent's event loop.
import { parentPort } from 'node:worker_threads';
import type { SourcePlan, TablePlan } from '../model/plan.ts';
import { introspect } from './introspect.ts';
import { openTenant, type TenantDb } from './open.ts';
import { type Page, type PageQuery, TableReader } from './reader.ts';
import { asBuffer, journalOf, type ReadForm, type Reply, type Request, toWire } from './source.ts';

if (!parentPort) throw new Error('read-worker runs as a worker thread only');
const port = parentPort;

let db: TenantDb | null = null;
let plan: SourcePlan | null = null;
const readers = new Map<string, TableReader>();

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
    r = new TableReader(db, t, form === 'light', form === 'copy');
    readers.set(id, r);
  }
  return r;
}

/**
 * A page's COPY buffer is handed over, not copied (its memory moves to the main thread); its rows lose their
 * reference to it on the way (the main thread puts it back), so it is not written out once per row.
 */
function transferOf(value: unknown): ArrayBuffer[] {
  const page = (value as { page?: Page } | null)?.page ?? (value as Page | null);
  if (!page || !(page as Page).copy) return [];
  for (const r of (page as Page).rows) if (r.copy) (r.copy as { buf?: Buffer }).buf = undefined;
  return [(page as Page).copy!.buffer as ArrayBuffer];
}

function handle(req: Request): unknown {
  switch (req.op) {
    case 'open': {
      db = openTenant(req.path);
      try {
        plan = introspect(db);
        return { plan, journal: journalOf(db) };
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
      return null;
  }
}

port.on('message', (m: Request & { id: number }) => {
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
});
