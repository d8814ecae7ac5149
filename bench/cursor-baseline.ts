// The light pass's baseline: what reading by cursor alone costs. For every table with an integer updated_at,
// the rows at or after the mirror's newest updated_at (where a cursor-only run would have left its cursor)
// minus an overlap window (Open WebUI takes its timestamp before it
// commits), and the rows after the saved rowid. It writes nothing and compares nothing, so it is a lower bound
// of a cursor-only run; such a run is not exact (it misses un-bumped edits and deletes), which is why the
// engine has none.
import { ident, type Sql } from '../src/pg/connect.ts';
import type { Deployment } from '../src/pg/deployments.ts';
import { introspect } from '../src/sqlite/introspect.ts';
import { openTenant } from '../src/sqlite/open.ts';
import { loadCheckpoints } from '../src/sync/jobs.ts';

/** The overlap in the table's own unit: Open WebUI stores seconds, milliseconds or nanoseconds. */
function overlapFor(cursor: bigint, seconds: number): bigint {
  const s = BigInt(seconds);
  if (cursor >= 10n ** 17n) return s * 1_000_000_000n;
  if (cursor >= 10n ** 14n) return s * 1_000_000n;
  if (cursor >= 10n ** 11n) return s * 1000n;
  return s;
}

export async function cursorRead(sql: Sql, dep: Deployment, sqlitePath: string): Promise<{ rows: number }> {
  const cps = new Map((await loadCheckpoints(sql, dep.deployment_id)).map((c) => [c.table_name, c]));
  const db = openTenant(sqlitePath);
  let rows = 0;
  try {
    for (const t of introspect(db).tables) {
      const cp = cps.get(t.name);
      const upd = t.columns.find((c) => c.name === 'updated_at');
      if (!cp || upd?.pgType !== 'bigint') continue;
      const [m] = await sql<
        { c: string | null }[]
      >`select max(updated_at)::text as c from ${sql(dep.client_name)}.${sql(t.name)}`;
      if (!m?.c) continue;
      const cursor = BigInt(m.c);
      const stmt = db.prepare(`SELECT * FROM ${ident(t.name)} WHERE updated_at >= ? OR rowid > ?`).raw(true);
      for (const _ of stmt.iterate(cursor - overlapFor(cursor, 60), BigInt(cp.cursor_rowid ?? '0'))) rows++;
    }
  } finally {
    db.close();
  }
  return { rows };
}
