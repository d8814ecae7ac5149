import os from 'node:os';
import {
  type ConflictConfig,
  DEFAULT_CONFIG_FILE,
  parseConflictConfig,
  readConflictConfigFile,
  type Strategy,
  tablePolicy,
} from '../conflicts/config.ts';
import { mergeRow } from '../conflicts/merge.ts';
import { valuesOf } from '../model/values.ts';
import type { Sql, Tx } from '../pg/connect.ts';
import { type Deployment, getDeployment, requireProvisioned } from '../pg/deployments.ts';
import { readTargetSchema, targetTypes } from '../pg/tenant.ts';
import { TableReader } from '../sqlite/reader.ts';
import { keyOfRecordId } from '../sync/conflict-log.ts';
import { loadConflictConfig } from '../sync/conflict-policy.ts';
import { openAndIntrospect } from '../sync/engine.ts';
import {
  keepMirrorRowSql,
  mirrorRowsByKeySql,
  tombstoneMirrorRowSql,
  updateMirrorRowParams,
  updateMirrorRowSql,
} from '../sync/sql.ts';
import { ConfigError, NotFoundError, OwuiError } from '../util/errors.ts';

export interface ConflictRow {
  log_id: string;
  client_name: string;
  table_name: string;
  record_id: string;
  conflict_type: string;
  resolution_strategy: string | null;
  winner: string | null;
  detected_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  resolution_notes: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** "1d", "12h", "30m": how far back --since looks. */
export function parseSince(text: string): number {
  const m = /^(\d+)\s*(m|h|d)$/i.exec(text.trim());
  if (!m) throw new ConfigError(`invalid --since ${JSON.stringify(text)}`, 'use minutes, hours or days: 30m, 12h, 7d');
  return Number(m[1]) * (m[2]!.toLowerCase() === 'm' ? 60 : m[2]!.toLowerCase() === 'h' ? 3600 : 86400);
}

export async function listConflicts(
  sql: Sql,
  opts: { client?: string; pending?: boolean; sinceSeconds?: number; limit?: number },
): Promise<ConflictRow[]> {
  await requireProvisioned(sql);
  if (opts.client) await getDeployment(sql, opts.client);
  const rows = await sql<
    (Omit<ConflictRow, 'detected_at' | 'resolved_at'> & { detected_at: Date; resolved_at: Date | null })[]
  >`
    select log_id, client_name, table_name, record_id, conflict_type, resolution_strategy, winner,
           detected_at at time zone current_setting('TimeZone') as detected_at, resolved_at at time zone current_setting('TimeZone') as resolved_at,
           resolved_by, resolution_notes
    from sync_metadata.conflict_log
    where true
      ${opts.client ? sql`and client_name = ${opts.client}` : sql``}
      ${opts.pending ? sql`and resolved_at is null` : sql``}
      ${opts.sinceSeconds ? sql`and detected_at > now() - make_interval(secs => ${opts.sinceSeconds})` : sql``}
    order by detected_at desc, log_id
    limit ${opts.limit ?? 500}`;
  return rows.map((r) => ({ ...r, detected_at: iso(r.detected_at)!, resolved_at: iso(r.resolved_at) }));
}

export async function showConflict(
  sql: Sql,
  id: string,
): Promise<
  ConflictRow & { source_data: unknown; target_data: unknown; resolved_data: unknown; sync_job_id: string | null }
> {
  await requireProvisioned(sql);
  if (!/^[0-9a-f-]{36}$/i.test(id))
    throw new ConfigError(
      `invalid conflict id ${JSON.stringify(id)}`,
      'use the log_id that owui-sync conflicts list shows',
    );
  const [r] = await sql<Record<string, unknown>[]>`
    select *, detected_at at time zone current_setting('TimeZone') as detected_at, resolved_at at time zone current_setting('TimeZone') as resolved_at
    from sync_metadata.conflict_log where log_id = ${id}`;
  if (!r) throw new NotFoundError(`no conflict ${id}`, 'owui-sync conflicts list shows the conflicts you may see');
  return {
    ...(r as Record<string, unknown>),
    detected_at: iso(r.detected_at as Date),
    resolved_at: iso(r.resolved_at as Date | null),
  } as never;
}

/** Store a deployment's conflict configuration in PostgreSQL (the state authority). */
export async function setConflictConfig(sql: Sql, client: string, file: string): Promise<ConflictConfig> {
  await requireProvisioned(sql);
  const cfg = readConflictConfigFile(file);
  await storeConflictConfig(sql, await getDeployment(sql, client), cfg);
  return cfg;
}

async function storeConflictConfig(sql: Sql, dep: Deployment, cfg: ConflictConfig): Promise<void> {
  await sql`
    update sync_metadata.client_deployments
    set config = coalesce(config, '{}'::jsonb) || jsonb_build_object('conflict_resolution', ${JSON.stringify(cfg.conflict_resolution)}::text::jsonb), updated_at = now()
    where deployment_id = ${dep.deployment_id}`;
}

export interface ConflictConfigChange {
  defaultStrategy?: Strategy;
  /** Per-table strategies: table name -> strategy. */
  tables?: Record<string, Strategy>;
}

/**
 * Change the configuration in force (stored, or the default) strategy by strategy, as the menu's conflict
 * configuration screen does: the default strategy and per-table strategies. A table's compare field and merge
 * rules stay where they still apply. Tables are checked against the client's mirror; the result is validated
 * like a file, then stored.
 */
export async function changeConflictConfig(
  sql: Sql,
  client: string,
  change: ConflictConfigChange,
): Promise<ConflictConfig> {
  const { config } = await showConflictConfig(sql, client);
  const dep = await getDeployment(sql, client);
  const mirror = await readTargetSchema(sql, dep.client_name);
  const r = structuredClone(config.conflict_resolution);
  if (change.defaultStrategy) r.default_strategy = change.defaultStrategy;
  for (const [table, strategy] of Object.entries(change.tables ?? {})) {
    if (!mirror.has(table)) {
      const some = [...mirror.keys()].sort().slice(0, 8).join(', ');
      throw new ConfigError(
        `client "${client}" has no table ${JSON.stringify(table)}`,
        `its tables include: ${some}, ...`,
      );
    }
    const before = r.table_strategies[table];
    r.table_strategies[table] = { ...before, strategy };
    // Merge rules belong to the merge strategy only (the file format refuses them elsewhere).
    if (strategy !== 'merge') delete r.table_strategies[table]!.merge_rules;
  }
  const cfg = parseConflictConfig({ ...config, conflict_resolution: r }, `the configuration of client "${client}"`);
  await storeConflictConfig(sql, dep, cfg);
  return cfg;
}

export async function showConflictConfig(
  sql: Sql,
  client: string,
): Promise<{ client: string; source: 'stored' | 'default'; config: ConflictConfig }> {
  await requireProvisioned(sql);
  const dep = await getDeployment(sql, client);
  const [row] = await sql<
    { c: unknown }[]
  >`select config->'conflict_resolution' as c from sync_metadata.client_deployments where deployment_id = ${dep.deployment_id}`;
  return {
    client,
    source: row?.c ? 'stored' : 'default',
    config: row?.c ? await loadConflictConfig(sql, dep) : readConflictConfigFile(DEFAULT_CONFIG_FILE),
  };
}

export type Choice = 'source' | 'target' | 'merged';

/**
 * Manual override: apply the chosen version to the mirror and record who and when, in one transaction.
 * The source version is read from SQLite now (whatever the log's snapshots), so it is the current one.
 *  - source: the mirror row becomes the source row (a row deleted in SQLite becomes a tombstone);
 *  - target: the mirror keeps its version; the current source version counts as seen;
 *  - merged: both, by the table's merge rules (the chat column merges its message tree).
 * target and merged keep the row's marker: a later change in SQLite is a conflict again.
 */
export async function resolveConflict(sql: Sql, id: string, choice: Choice, by?: string): Promise<ConflictRow> {
  const c = await showConflict(sql, id);
  if (c.resolved_at)
    throw new ConfigError(
      `conflict ${id} was already resolved (${c.winner ?? 'no winner'}) by ${c.resolved_by} at ${c.resolved_at}`,
      'owui-sync conflicts list --pending shows what is left',
    );
  const dep = await getDeployment(sql, c.client_name);
  const who = by ?? safeUser();
  const { db, plan } = await openAndIntrospect(dep.sqlite_path);
  try {
    const t = plan.tables.find((x) => x.name === c.table_name);
    if (!t)
      throw new OwuiError(`table ${c.table_name} is no longer in the SQLite database of ${c.client_name}`, {
        hint: 'resolve with --use target',
      });
    const types = targetTypes(await readTargetSchema(sql, dep.client_name), t.name);
    for (const col of t.columns) col.pgType = types.get(col.name) ?? col.pgType;
    const key = keyOfRecordId(t.key.length, c.record_id);
    const { page } = new TableReader(db, t).readKeys([key]);
    const src = page.rows[0];
    const cfg = await loadConflictConfig(sql, dep);
    let resolved: unknown = null;
    await sql.begin(async (txRaw) => {
      const tx = txRaw as Tx;
      await tx`select set_config('owui_sync.writer', 'sync', true)`;
      const [cur] = await tx.unsafe(mirrorRowsByKeySql(dep.client_name, t, 1, true), key as never[]).values();
      const tv = cur as unknown as (string | null)[] | undefined;
      const write = async (values: (string | null)[], hash: string, clearMarker: boolean) => {
        await tx.unsafe(
          updateMirrorRowSql(dep.client_name, t, { undelete: true, clearMarker }),
          updateMirrorRowParams(t, values, hash, key, src?.light ?? null) as never[],
        );
      };
      if (choice === 'source') {
        if (!src) {
          await tx.unsafe(tombstoneMirrorRowSql(dep.client_name, t), key as never[]);
        } else if (tv) {
          const values = valuesOf(src);
          await write(values, src.hash, true);
          resolved = Object.fromEntries(t.columns.map((col, i) => [col.name, values[i]]));
        }
      } else if (choice === 'target') {
        if (src) await tx.unsafe(keepMirrorRowSql(dep.client_name, t), [src.hash, ...key, src.light] as never[]);
        resolved = tv ? Object.fromEntries(t.columns.map((col, i) => [col.name, tv[i]])) : null;
      } else {
        if (!src || !tv)
          throw new ConfigError(
            'a merge needs the row on both sides',
            src
              ? 'the mirror row is gone: use --use source'
              : 'the row is gone from SQLite: use --use source (tombstone) or --use target',
          );
        const merged = mergeRow(t, tablePolicy(cfg, t.name), tv, valuesOf(src));
        await write(merged, src.hash, false);
        resolved = Object.fromEntries(t.columns.map((col, i) => [col.name, merged[i]]));
      }
      await tx`
        update sync_metadata.conflict_log set resolved_at = now(), resolved_by = ${who}, winner = ${choice},
          resolved_data = ${cfg.conflict_resolution.resolution_log.include_data_snapshot && resolved ? JSON.stringify(resolved) : null}::text::jsonb,
          resolution_notes = coalesce(resolution_notes || '; ', '') || ${`resolved by hand: ${choice}`}
        where log_id = ${id}`;
    });
  } finally {
    db.close();
  }
  const [row] = await listConflicts(sql, { client: c.client_name, limit: 100000 }).then((rs) =>
    rs.filter((r) => r.log_id === id),
  );
  return row!;
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'operator';
  }
}
