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
    let st: fs.Stats;
    try {
      st = fs.statSync(path, { bigint: false });
    } catch {
      h.update(`${path}:absent;`);
      return;
    }
    // Readers write read marks into -shm, so its mtime moves when we read: only its header counts.
    h.update(withStat ? `${path}:${st.ino}:${st.size}:${st.mtimeMs};` : `${path}:present;`);
    const buf = Buffer.alloc(bytes);
    const fd = fs.openSync(path, 'r');
    try {
      const n = fs.readSync(fd, buf, 0, bytes, 0);
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
