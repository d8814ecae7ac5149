import crypto from 'node:crypto';
import fs from 'node:fs';

/**
 * A cheap summary of everything that changes when any transaction commits to the database:
 * the database header (its change counter moves on every commit in rollback-journal mode),
 * the WAL header (salts change on every WAL reset) and the wal-index header in -shm (mxFrame
 * and iChange move on every WAL commit). Bytes that readers write (the read marks after the
 * first 48 bytes of -shm) are left out, so our own reads never change it.
 *
 * Equal fingerprints before two runs mean no commit happened in between, so an incremental run
 * can skip reading altogether (how a no-change sync of a large tenant stays well under a second).
 * A change we cannot see here is still caught by the reconciliation pass.
 */
export function fingerprint(dbPath: string): string {
  const h = crypto.createHash('sha256');
  const add = (path: string, bytes: number, withStat = true) => {
    // Open, then fstat the open file: Open WebUI's writer creates and deletes -journal (and SQLite -wal)
    // at any moment, so a stat followed by an open of the path could find it gone in between.
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch {
      h.update(`${path}:absent;`);
      return;
    }
    try {
      const st = fs.fstatSync(fd);
      // Readers write read marks into -shm, so its mtime moves when we read: only its header counts.
      h.update(withStat ? `${path}:${st.ino}:${st.size}:${st.mtimeMs};` : `${path}:present;`);
      const buf = Buffer.alloc(bytes);
      const n = bytes > 0 ? fs.readSync(fd, buf, 0, bytes, 0) : 0;
      h.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  };
  add(dbPath, 100);
  add(`${dbPath}-wal`, 32);
  add(`${dbPath}-shm`, 48, false);
  add(`${dbPath}-journal`, 0);
  return h.digest('hex');
}
