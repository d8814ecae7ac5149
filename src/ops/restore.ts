import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { PgType } from '../model/plan.ts';
import { type RawEntry, restoreValue } from '../model/values.ts';
import type { Sql, Tx } from '../pg/connect.ts';
import { type Deployment, findDeployment } from '../pg/deployments.ts';
import { currentSchema, type RecordedSchema } from '../pg/source-schema.ts';
import { readTargetSchema, targetTypes } from '../pg/tenant.ts';
import { openTenant } from '../sqlite/open.ts';
import { readSnapshot, type SchemaObject } from '../sqlite/snapshot.ts';
import { pendingCounts } from '../sync/jobs.ts';
import { mirrorRowsEstimateSql, restoreKeySql, restorePageSql } from '../sync/sql.ts';
import { ConfigError, messageOf, OwuiError } from '../util/errors.ts';
import { SYNC_HEAP_HEADROOM, softHeapLimit } from '../util/memory.ts';

// Restore (docs/restore.md): the mirror of one client written back into a new SQLite file that Open WebUI opens
// as its webui.db. The file is rebuilt from the schema the last reading run recorded (sqlite_master DDL, in file
// order), filled with every live mirror row from one consistent PostgreSQL snapshot, checked, and only then given
// its name: a restore that dies half way leaves a hidden `.NAME.restoring-PID` file, never one that looks done.

export interface RestoreOptions {
  client: string;
  to: string;
  /** Replace an existing file; the old one (and its -wal / -shm / -journal) is kept beside it. */
  force?: boolean;
  /** Point in time: refused, the mirror keeps no history (exit 2). */
  at?: string;
  /** A running tenant's webui.db: refuse when the copy's schema is newer than that tenant's. */
  checkAgainst?: string;
  onProgress?: (p: RestoreProgress) => void;
  /** Rows per PostgreSQL fetch are chosen so a fetch holds about this many bytes (memory stays bounded). */
  fetchBytes?: number;
}

export interface RestoreProgress {
  table: string;
  index: number;
  count: number;
  rows: number;
  /** Rows of the whole restore so far, and the estimate of all of them (PostgreSQL's statistics). */
  rowsDone: number;
  rowsEstimate: number;
}

export interface SchemaCheck {
  against: string;
  copy_revision: string | null;
  tenant_revision: string | null;
  /** 'same', 'older' (Open WebUI migrates the copy forward when it starts), 'newer' (refused). */
  verdict: 'same' | 'older' | 'newer';
  detail: string;
}

export interface RestoreResult {
  client: string;
  path: string;
  /** Where the file that was at `path` went (with --force). */
  replaced: string | null;
  alembic_version: string | null;
  user_version: number;
  journal_mode: string;
  schema_recorded_at: string;
  last_sync_at: string | null;
  tables: { table: string; rows: number }[];
  rows: number;
  bytes: number;
  /** Tables in the file that have no mirror (the sync cannot key them): created empty. */
  empty_tables: { table: string; reason: string }[];
  /** Rows the sync set aside (they are not in the mirror, so not in the file). */
  rows_set_aside: number;
  /** Mirror rows changed in PostgreSQL after their sync: restored as PostgreSQL has them. */
  rows_changed_in_postgres: number;
  check: SchemaCheck | null;
  integrity: string;
  duration_ms: number;
}

/** Exit 2 for --at: the mirror cannot answer it honestly. */
export function pointInTimeRefused(at: string): ConfigError {
  return new ConfigError(
    `cannot restore ${JSON.stringify(at)}: the mirror keeps only each row's latest state, no history`,
    'restore without --at to get the state of the last sync; docs/restore.md ("Point in time") says what history would cost',
  );
}

/**
 * Is this command line Open WebUI's? Its program or an argument is `open-webui` / `open_webui...` (the `serve`
 * script, the `open_webui.main:app` module) or `uvicorn`, by name: a path that merely contains "openwebui" (a
 * tenant's data folder, passed to another program) is not.
 */
const isOpenWebUI = (argv: string[]) =>
  argv.some((a) => /^(open[-_]webui|uvicorn)([-_.:\s]|$)/i.test(path.basename(a)) || /^open_webui[.:]/.test(a));

/** Processes of Open WebUI with a file open in the folder `dir` itself. Linux /proc; processes we may not read are skipped. */
export function openWebUIHolders(dir: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return found;
  }
  const folder = path.resolve(dir);
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    if (!isOpenWebUI(argv)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target.startsWith('/') && path.dirname(target) === folder) {
        found.push({ pid, command: argv.join(' ').slice(0, 120) });
        break;
      }
    }
  }
  return found;
}

/** The tables and columns a schema's DDL makes, read back from an in-memory database built from it. */
function columnsOf(objects: SchemaObject[]): Map<string, Set<string>> {
  const db = new Database(':memory:');
  try {
    createTables(db, objects);
    const out = new Map<string, Set<string>>();
    for (const { name } of db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as { name: string }[]) {
      const cols = db.prepare('SELECT name FROM pragma_table_info(?)').all(name) as { name: string }[];
      out.set(name, new Set(cols.map((c) => c.name)));
    }
    return out;
  } finally {
    db.close();
  }
}

/**
 * Compare the copy's schema with a running tenant's: the same revision; an older one (every table and column of
 * the copy is in the tenant, so the tenant's Open WebUI migrates the copy forward when it starts); or a newer one
 * (the copy has tables or columns the tenant lacks: the tenant's Open WebUI is older than the data).
 */
export function checkSchema(copy: RecordedSchema, against: string): SchemaCheck {
  const db = openTenant(against);
  let tenant: ReturnType<typeof readSnapshot>;
  try {
    tenant = readSnapshot(db);
  } finally {
    db.close();
  }
  const base = { against, copy_revision: copy.alembic_version, tenant_revision: tenant.alembic_version };
  const mine = columnsOf(copy.objects);
  const theirs = columnsOf(tenant.objects);
  const missing: string[] = [];
  for (const [t, cols] of mine) {
    const other = theirs.get(t);
    if (!other) missing.push(t);
    else for (const c of cols) if (!other.has(c)) missing.push(`${t}.${c}`);
  }
  if (missing.length) {
    return {
      ...base,
      verdict: 'newer',
      detail: `the copy has ${missing.length} tables or columns the tenant lacks (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''})`,
    };
  }
  if (copy.alembic_version === tenant.alembic_version && mine.size === theirs.size)
    return { ...base, verdict: 'same', detail: 'the same schema revision' };
  return {
    ...base,
    verdict: 'older',
    detail:
      'every table and column of the copy is in the tenant: its Open WebUI migrates the copy forward when it starts',
  };
}

/** The tables of a recorded schema, created in file order (a virtual table's shadow tables come with it). */
function createTables(db: Database.Database, objects: SchemaObject[]) {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  for (const o of objects) {
    if (o.type !== 'table' || !o.sql || o.name.startsWith('sqlite_')) continue;
    if (exists.get(o.name)) continue;
    db.exec(o.sql);
  }
}

const partialName = (target: string) =>
  path.join(path.dirname(target), `.${path.basename(target)}.restoring-${process.pid}`);
const SIDE_FILES = ['-wal', '-shm', '-journal'];

/** Remove the leftovers of restores into this folder that were killed (their process is gone). */
function removeStalePartials(target: string) {
  const prefix = `.${path.basename(target)}.restoring-`;
  for (const f of fs.readdirSync(path.dirname(target))) {
    if (!f.startsWith(prefix)) continue;
    const pid = Number(f.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      fs.rmSync(path.join(path.dirname(target), f), { force: true });
    }
  }
}

function checkTarget(target: string, force: boolean) {
  const dir = path.dirname(target);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new ConfigError(`folder ${dir} does not exist`, 'create it, or give --to a path in an existing folder');
  if (fs.existsSync(target) && fs.statSync(target).isDirectory())
    throw new ConfigError(
      `${target} is a folder`,
      'give --to the path of the file, e.g. /opt/openwebui/CLIENT/data/webui.db',
    );
  if (fs.existsSync(target) && !force)
    throw new ConfigError(
      `${target} exists: restore never overwrites a file`,
      'restore to another path, or add --force (the old file is kept beside it as NAME.before-restore-TIME)',
    );
  const holders = openWebUIHolders(dir);
  if (holders.length)
    throw new ConfigError(
      `Open WebUI has files open in ${dir} (pid ${holders.map((h) => h.pid).join(', ')}: ${holders[0]!.command})`,
      "stop the tenant's container first (docker stop openwebui-CLIENT), restore, then start it",
    );
}

/** Move the file at `target` (and its side files) aside; returns where it went. */
function moveAside(target: string): string {
  const stamp = new Date()
    .toISOString()
    .replaceAll(':', '')
    .replace(/\.\d+Z$/, 'Z');
  const aside = `${target}.before-restore-${stamp}`;
  fs.renameSync(target, aside);
  for (const s of SIDE_FILES) if (fs.existsSync(target + s)) fs.renameSync(target + s, aside + s);
  return aside;
}

function fsyncPath(p: string) {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The next page's row count: about `bytes` of values, judged by the page before (at least 1, at most 1,000). */
function nextPageRows(rows: Record<string, unknown>[], cols: number, bytes: number): number {
  let size = 0;
  for (const r of rows) {
    for (let j = 0; j < cols; j++) {
      const v = r[`c${j}`];
      if (typeof v === 'string') size += v.length;
    }
    if (r._sync_raw) size += JSON.stringify(r._sync_raw).length;
  }
  const avg = Math.max(64, size / Math.max(1, rows.length));
  return Math.max(1, Math.min(1000, Math.floor(bytes / avg)));
}

interface TableCopy {
  db: Database.Database;
  tx: Tx;
  schema: string;
  client: string;
  name: string;
  /** The mirror table's columns and their types. */
  types: Map<string, PgType>;
}

type MirrorRow = Record<string, unknown>;

/**
 * Copy one mirror table's live rows into the file's table of the same name, in pages in key order, each sized by
 * the one before to about `pageBytes` of values (the first has 10 rows). `onPage` is told each page and the rows
 * so far. Returns the rows copied.
 */
async function copyTable(
  t: TableCopy,
  pageBytes: number,
  onPage: (page: MirrorRow[], rows: number) => void,
): Promise<number> {
  const fileCols = (
    t.db.prepare('SELECT name FROM pragma_table_info(?) ORDER BY cid').all(t.name) as { name: string }[]
  ).map((c) => c.name);
  const cols = fileCols.filter((c) => t.types.has(c));
  const lacking = fileCols.filter((c) => !t.types.has(c));
  if (lacking.length)
    throw new OwuiError(
      `the mirror of table "${t.name}" has no column ${lacking.map((c) => `"${c}"`).join(', ')} of the recorded schema`,
      { hint: `run owui-sync sync ${t.client} (it adds the columns and records the schema), then restore` },
    );
  const key = (await t.tx.unsafe<{ k: string }[]>(restoreKeySql(), [t.schema, t.name])).map((r) => r.k);
  const keyAt = key.map((k) => cols.indexOf(k));
  if (!key.length || keyAt.includes(-1))
    throw new OwuiError(`the mirror of table "${t.name}" has no primary key among the recorded schema's columns`, {
      hint: `run owui-sync schema apply ${t.client} (with the admin connection), then restore`,
    });
  const colTypes = cols.map((c) => t.types.get(c)!);
  const keyCols = key.map((k) => ({ name: k, type: t.types.get(k)! }));
  const insert = t.db.prepare(
    `INSERT INTO ${qi(t.name)} (${cols.map(qi).join(', ')}) VALUES (${cols.map(() => 'coalesce(CAST(? AS TEXT), ?)').join(', ')})`,
  );
  const insertPage = t.db.transaction((page: MirrorRow[]) => {
    for (const r of page) {
      const raw = (r._sync_raw as Record<string, RawEntry> | null) ?? null;
      const params: unknown[] = [];
      for (let j = 0; j < cols.length; j++) {
        const v = restoreValue(r[`c${j}`] as string | null, raw?.[cols[j]!], colTypes[j]!);
        params.push(v.textBytes ?? null, v.value);
      }
      insert.run(...params);
    }
  });
  const firstSql = restorePageSql(t.schema, t.name, cols, keyCols, true);
  const nextSql = restorePageSql(t.schema, t.name, cols, keyCols, false);
  let rows = 0;
  let per = 10;
  let last: string[] | null = null;
  for (;;) {
    const asked = per;
    const page = (await t.tx.unsafe(
      last ? nextSql : firstSql,
      last ? [...last, asked] : [asked],
    )) as unknown as MirrorRow[];
    if (page.length === 0) break;
    insertPage(page);
    rows += page.length;
    const end = page[page.length - 1]!;
    last = keyAt.map((j) => end[`c${j}`] as string);
    per = nextPageRows(page, cols.length, pageBytes);
    onPage(page, rows);
    if (page.length < asked) break;
  }
  return rows;
}

/** Write the mirror of `o.client` into a new SQLite file at `o.to`. */
export async function restore(sql: Sql, o: RestoreOptions): Promise<RestoreResult> {
  if (o.at) throw pointInTimeRefused(o.at);
  const started = Date.now();
  const dep: Deployment | undefined = await findDeployment(sql, o.client);
  if (!dep)
    throw new ConfigError(
      `client "${o.client}" is not registered`,
      'owui-sync client list shows the registered clients',
    );
  const schema = await currentSchema(sql, dep.deployment_id);
  if (!schema)
    throw new ConfigError(
      `no schema of client "${o.client}" is recorded yet (it is recorded by each sync that reads the tenant)`,
      `run a sync first: owui-sync sync ${o.client}; then restore`,
    );
  const check = o.checkAgainst ? checkSchema(schema, o.checkAgainst) : null;
  if (check?.verdict === 'newer')
    throw new ConfigError(
      `the copy holds schema revision ${schema.alembic_version ?? '(none)'}, newer than the tenant's ${check.tenant_revision ?? '(none)'}: ${check.detail}`,
      "upgrade the tenant's Open WebUI to the version the copy was synced from first, then restore",
    );
  const target = path.resolve(o.to);
  checkTarget(target, !!o.force);
  removeStalePartials(target);

  const partial = partialName(target);
  for (const f of [partial, ...SIDE_FILES.map((s) => partial + s)]) fs.rmSync(f, { force: true });
  const db = new Database(partial);
  let closed = false;
  const result: RestoreResult = {
    client: dep.client_name,
    path: target,
    replaced: null,
    alembic_version: schema.alembic_version,
    user_version: schema.user_version,
    journal_mode: schema.journal_mode,
    schema_recorded_at: new Date(schema.last_seen_at).toISOString(),
    last_sync_at: dep.last_sync_at ? new Date(dep.last_sync_at).toISOString() : null,
    tables: [],
    rows: 0,
    bytes: 0,
    empty_tables: [],
    rows_set_aside: 0,
    rows_changed_in_postgres: 0,
    check,
    integrity: '',
    duration_ms: 0,
  };
  try {
    // A new file nobody else sees yet: no journal, no sync, until it is complete and checked.
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    createTables(db, schema.objects);
    // A fetch's rows die in V8's old generation, which would grow to several times what is live (util/memory.ts).
    const collectIfGrown = softHeapLimit(SYNC_HEAP_HEADROOM);
    // One snapshot of the mirror for every table (a sync running meanwhile is not half in the file).
    await sql.begin('isolation level repeatable read read only', async (tx) => {
      const target = await readTargetSchema(tx, dep.client_name);
      const tables = (
        db
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")
          .all() as { name: string }[]
      ).map((r) => r.name);
      const [est] = await tx.unsafe<{ n: string }[]>(mirrorRowsEstimateSql(), [dep.client_name]);
      const estimate = Number(est?.n ?? 0);
      result.rows_set_aside = (await pendingCounts(tx, dep.deployment_id)).rejected;
      for (let i = 0; i < tables.length; i++) {
        const name = tables[i]!;
        if (!target.has(name)) {
          result.empty_tables.push({ table: name, reason: 'no mirror table (the sync cannot key it, or skips it)' });
          continue;
        }
        const table: TableCopy = {
          db,
          tx,
          schema: dep.client_name,
          client: o.client,
          name,
          types: targetTypes(target, name),
        };
        const rows = await copyTable(table, o.fetchBytes ?? 8 * 1024 * 1024, (page, rows) => {
          for (const r of page) if (r._changed) result.rows_changed_in_postgres++;
          result.rows += page.length;
          o.onProgress?.({
            table: name,
            index: i,
            count: tables.length,
            rows,
            rowsDone: result.rows,
            rowsEstimate: estimate,
          });
          collectIfGrown();
        });
        result.tables.push({ table: name, rows });
      }
    });
    // Indexes, views and triggers after the rows (faster, and no trigger fires on restored rows), in file order.
    for (const kind of ['index', 'view', 'trigger'] as const)
      for (const ob of schema.objects)
        if (ob.type === kind && ob.sql && !ob.name.startsWith('sqlite_')) db.exec(ob.sql);
    db.pragma(`user_version = ${Math.trunc(schema.user_version)}`);
    const integrity = db.pragma('integrity_check') as { integrity_check: string }[];
    result.integrity = integrity.map((r) => r.integrity_check).join('; ');
    if (result.integrity !== 'ok')
      throw new OwuiError(`the restored file failed its integrity check: ${result.integrity.slice(0, 300)}`, {
        hint: 'nothing was put in place; report this with the client name',
      });
    db.pragma(`journal_mode = ${schema.journal_mode === 'wal' ? 'WAL' : 'DELETE'}`);
    db.close();
    closed = true;
    fsyncPath(partial);
    if (fs.existsSync(target)) result.replaced = moveAside(target);
    fs.renameSync(partial, target);
    fsyncPath(path.dirname(target));
    result.bytes = fs.statSync(target).size;
    result.duration_ms = Date.now() - started;
    return result;
  } catch (err) {
    if (!closed) db.close();
    for (const f of [partial, ...SIDE_FILES.map((s) => partial + s)]) fs.rmSync(f, { force: true });
    throw err instanceof OwuiError
      ? err
      : new OwuiError(`restore of client "${o.client}" failed: ${messageOf(err)}`, { cause: err });
  }
}

/** A SQLite identifier, quoted. */
const qi = (name: string) => `"${name.replaceAll('"', '""')}"`;
