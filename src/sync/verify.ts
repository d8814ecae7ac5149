import type { TablePlan } from '../model/plan.ts';
import { canonicalTargetText, type RawEntry, rawJson, rowHash, valuesOf } from '../model/values.ts';
import type { Sql } from '../pg/connect.ts';
import type { Deployment } from '../pg/deployments.ts';
import { readTargetSchema, targetTypes } from '../pg/tenant.ts';
import { introspect } from '../sqlite/introspect.ts';
import { openTenant } from '../sqlite/open.ts';
import { TableReader } from '../sqlite/reader.ts';
import { journalOf } from '../sqlite/source.ts';
import { SYNC_HEAP_HEADROOM, softHeapLimit } from '../util/memory.ts';
import type { SyncSettings } from '../util/settings.ts';
import { readLimitsFor } from './scan.ts';
import { targetRangeSql } from './sql.ts';

export type DifferenceKind = 'missing' | 'different' | 'tombstoned' | 'extra' | 'unkeyable' | 'table_missing';

export interface Difference {
  table: string;
  kind: DifferenceKind;
  key?: string[];
  columns?: string[];
  detail?: string;
}

export interface VerifyResult {
  client: string;
  identical: boolean;
  tables_checked: number;
  rows_checked: number;
  tombstones_checked: number;
  differences_total: number;
  /** At most `limit` differences are listed; differences_total counts them all. */
  differences: Difference[];
  skipped_tables: { table: string; reason: string }[];
  duration_ms: number;
}

/**
 * Compare every live source row with its mirror row, value by value (through the same canonical
 * form the sync hashes), and every mirror row with the source: a live mirror row must exist in
 * SQLite, and a tombstone must not. Read-only on both sides.
 */
export async function verify(
  sql: Sql,
  dep: Deployment,
  opts: SyncSettings & {
    limit?: number;
    onTable?: (t: string, i: number, n: number) => void;
    /** Another SQLite file to compare with the mirror (a restored one) instead of the deployment's own. */
    against?: string;
  } = {},
): Promise<VerifyResult> {
  const limit = opts.limit ?? 1000;
  const started = Date.now();
  const db = openTenant(opts.against ?? dep.sqlite_path);
  const res: VerifyResult = {
    client: dep.client_name,
    identical: true,
    tables_checked: 0,
    rows_checked: 0,
    tombstones_checked: 0,
    differences_total: 0,
    differences: [],
    skipped_tables: [],
    duration_ms: 0,
  };
  const note = (d: Difference) => {
    res.differences_total++;
    if (res.differences.length < limit) res.differences.push(d);
  };
  try {
    const plan = introspect(db);
    res.skipped_tables = plan.skipped;
    const target = await readTargetSchema(sql, dep.client_name);
    for (let i = 0; i < plan.tables.length; i++) {
      const t = plan.tables[i]!;
      opts.onTable?.(t.name, i, plan.tables.length);
      if (!target.has(t.name)) {
        note({ table: t.name, kind: 'table_missing', detail: 'no mirror table: run owui-sync schema apply' });
        continue;
      }
      const types = targetTypes(target, t.name);
      const missingCols = t.columns.filter((c) => !types.has(c.name));
      if (missingCols.length) {
        note({
          table: t.name,
          kind: 'table_missing',
          detail: `mirror lacks columns ${missingCols.map((c) => c.name).join(', ')}`,
        });
        continue;
      }
      for (const c of t.columns) c.pgType = types.get(c.name)!;
      await verifyTable(
        sql,
        dep,
        new TableReader(db, t),
        t,
        res,
        note,
        readLimitsFor(journalOf(db), opts.readStatementMs),
      );
      res.tables_checked++;
    }
  } finally {
    db.close();
  }
  res.identical = res.differences_total === 0;
  res.duration_ms = Date.now() - started;
  return res;
}

/**
 * A page of each side at a time: one range query on the mirror per page. The statement bound (rollback-journal
 * mode), not the page's size, limits how long a read holds the tenant's lock, so verify keeps 4 MB pages in both
 * modes (a 315 MB rollback-journal tenant: 3.6 to 3.8 s, against 4.0 to 4.4 s with the sync's 1 MB pages); with
 * the soft heap limit below, 4 MB pages peak at about 91 MB (8 MB pages without it: 174 to 189 MB).
 */
const PAGE_BYTES = 4 << 20;

async function verifyTable(
  sql: Sql,
  dep: Deployment,
  reader: TableReader,
  t: TablePlan,
  res: VerifyResult,
  note: (d: Difference) => void,
  limits: { statementMs?: number },
) {
  // Pages of values from both sides die young but outlive a round trip: bounded like a sync's (util/memory.ts).
  const collect = softHeapLimit(SYNC_HEAP_HEADROOM);
  for (const u of reader.readUnkeyable()) note({ table: t.name, kind: 'unkeyable', detail: u.reason });
  const nk = t.key.length;
  let after: unknown[] | null = null;
  let afterText: string[] | null = null;
  for (;;) {
    // Verify reads a live tenant too: in rollback-journal mode, as briefly per statement as the sync.
    const page = reader.read(
      { kind: 'key', after },
      { rows: 1000, bytes: PAGE_BYTES, statementMs: limits.statementMs },
    );
    const hiText = page.done ? null : page.rows[page.rows.length - 1]!.key;
    const params = [...(afterText ?? []), ...(hiText ?? [])];
    const rows = await sql
      .unsafe(targetRangeSql(dep.client_name, t, afterText !== null, hiText !== null, true), params, { prepare: false })
      .values();
    const byKey = new Map<string, { values: (string | null)[]; hash: string; dead: boolean }>();
    for (const r of rows as unknown as (string | null | boolean)[][]) {
      const key = r.slice(0, nk) as string[];
      const values = t.columns.map((c, i) => canonicalTargetText(r[nk + i] as string | null, c.pgType));
      const rawText = r[nk + t.columns.length] as string | null;
      const raw = rawText ? (JSON.parse(rawText) as Record<string, RawEntry>) : null;
      const dead = r[r.length - 1] as boolean;
      if (dead) res.tombstones_checked++;
      byKey.set(JSON.stringify(key), { values, hash: rowHash(t, values, raw && rawJson(raw) ? raw : null), dead });
    }
    for (const row of page.rows) {
      res.rows_checked++;
      const k = JSON.stringify(row.key);
      const tr = byKey.get(k);
      byKey.delete(k);
      if (!tr) note({ table: t.name, kind: 'missing', key: row.key });
      else if (tr.dead)
        note({ table: t.name, kind: 'tombstoned', key: row.key, detail: 'live in SQLite, tombstoned in the mirror' });
      else if (tr.hash !== row.hash) {
        const values = valuesOf(row);
        const cols = t.columns.filter((_, i) => tr.values[i] !== values[i]).map((c) => c.name);
        note({ table: t.name, kind: 'different', key: row.key, columns: cols.length ? cols : ['_sync_raw'] });
      }
    }
    for (const [k, v] of byKey)
      if (!v.dead)
        note({
          table: t.name,
          kind: 'extra',
          key: JSON.parse(k) as string[],
          detail: 'live in the mirror, gone from SQLite',
        });
    collect();
    if (page.done) return;
    after = page.lastKey;
    afterText = hiText;
  }
}
