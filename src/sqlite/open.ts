import fs from 'node:fs';
import Database from 'better-sqlite3';
import { ConfigError, messageOf, OwuiError } from '../util/errors.ts';

export type TenantDb = Database.Database;

/**
 * How long a read waits for Open WebUI's write lock before SQLITE_BUSY. Open WebUI itself waits 5 s
 * (its busy_timeout); waiting longer would only hide a stuck writer, shorter would fail reads
 * during ordinary commits of large chats.
 */
const BUSY_TIMEOUT_MS = 5000;
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Open an Open WebUI database for reading without ever slowing Open WebUI down: read-only
 * (so no checkpoint, no journal_mode change, no write lock is possible), 64-bit integers as BigInt.
 * Fails with an operator-readable error on a missing, non-SQLite or non-Open-WebUI file.
 */
export function openTenant(path: string, opts: { requireOpenWebUI?: boolean } = {}): TenantDb {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    throw new ConfigError(
      `SQLite file not found: ${path}`,
      'check --sqlite (on the host it is usually /opt/openwebui/<CLIENT_ID>/data/webui.db)',
    );
  }
  if (!st.isFile()) throw new ConfigError(`not a file: ${path}`, 'point --sqlite at the webui.db file, not its folder');
  const head = Buffer.alloc(16);
  const fd = fs.openSync(path, 'r');
  try {
    fs.readSync(fd, head, 0, 16, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (st.size > 0 && !head.equals(SQLITE_MAGIC)) {
    throw new ConfigError(
      `${path} is not a SQLite database (bad header)`,
      'check the path; an Open WebUI database is data/webui.db',
    );
  }
  let db: TenantDb | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    db.defaultSafeIntegers(true);
    // better-sqlite3 builds SQLite with a 16 MB page cache. owui-sync reads each page of a tenant once, in key
    // order, so SQLite's own default of 2 MB serves it as well, and a sync of a large tenant no longer fills
    // 14 MB more of it (measured: peak RSS 135 MB against 149 MB on a 400 MB tenant, same time).
    db.pragma('cache_size = -2000');
    // Touch the schema now so a corrupt file fails here, not half-way through a sync.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (err) {
    // Locked by Open WebUI (a long migration, say): the caller retries; nothing else to say.
    if (isSqliteBusy(err)) {
      try {
        db!.close();
      } catch {
        /* not open */
      }
      throw err;
    }
    throw new OwuiError(`cannot read ${path} as SQLite: ${messageOf(err)}`, {
      hint: 'the file may be corrupt or not a database; restore it from a backup or check the path',
      exitCode: 2,
      cause: err,
    });
  }
  if (!db) throw new OwuiError(`cannot open ${path}`);
  if (opts.requireOpenWebUI !== false) {
    const names = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((r) => r.name),
    );
    if (!(names.has('chat') && names.has('user'))) {
      db.close();
      throw new ConfigError(
        `${path} does not look like an Open WebUI database (no "chat" and "user" tables)`,
        'check the path; an Open WebUI tenant keeps its data in data/webui.db',
      );
    }
  }
  return db;
}

/** SQLite could not get its lock within the busy timeout: worth another try a little later. */
export function isSqliteBusy(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return (
    code === 'SQLITE_BUSY' ||
    code === 'SQLITE_LOCKED' ||
    code === 'SQLITE_BUSY_RECOVERY' ||
    code === 'SQLITE_BUSY_SNAPSHOT'
  );
}
