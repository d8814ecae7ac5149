import { readLeases } from '../cluster/lease.ts';
import { enqueue } from '../cluster/queue.ts';
import type { Sql } from '../pg/connect.ts';
import { getDeployment, requireProvisioned } from '../pg/deployments.ts';
import { runSync } from '../sync/engine.ts';
import type { Progress, SyncResult } from '../sync/result.ts';
import { OwuiError } from '../util/errors.ts';
import type { SyncSettings } from '../util/settings.ts';
import { type ClientStatus, status } from './clients.ts';

// What the menu's Deployments and Deployment screens read, and its "sync now": operations, not components.

export interface DeploymentRow extends ClientStatus {
  /** Seconds since the last successful sync, or null before the first. */
  lag_seconds: number | null;
  /** Scheduled, and the last sync is older than twice its interval (a client never synced is not late yet). */
  late: boolean;
  conflicts_pending: number;
}

/** Every registered client this login may see, with its lag and what waits for review. */
export async function deploymentsOverview(sql: Sql): Promise<DeploymentRow[]> {
  const rows = await status(sql);
  const pending = await sql<{ client_name: string; n: number }[]>`
    select client_name, count(*)::int as n from sync_metadata.conflict_log where resolved_at is null group by client_name`;
  const byClient = new Map(pending.map((p) => [p.client_name, p.n]));
  const now = Date.now();
  return rows.map((r) => {
    const lag = r.last_sync_at ? Math.max(0, Math.round((now - Date.parse(r.last_sync_at)) / 1000)) : null;
    return {
      ...r,
      lag_seconds: lag,
      late: r.sync_enabled && r.status === 'active' && lag !== null && lag > 2 * r.sync_interval,
      conflicts_pending: byClient.get(r.client) ?? 0,
    };
  });
}

export interface JobRow {
  job_id: string;
  kind: string;
  status: string;
  triggered_by: string | null;
  started_at: string | null;
  duration_seconds: number | null;
  rows_synced: number;
  conflicts_detected: number;
  error_message: string | null;
}

/** A client's last jobs, newest first. */
export async function recentJobs(sql: Sql, client: string, limit = 20): Promise<JobRow[]> {
  await requireProvisioned(sql);
  const dep = await getDeployment(sql, client);
  const rows = await sql<(Omit<JobRow, 'started_at' | 'duration_seconds' | 'rows_synced'> & Record<string, unknown>)[]>`
    select job_id, coalesce(sync_type, '?') as kind, status, triggered_by,
           started_at at time zone current_setting('TimeZone') as started_at, duration_seconds, rows_synced,
           coalesce(conflicts_detected, 0)::int as conflicts_detected, error_message
    from sync_metadata.sync_jobs where deployment_id = ${dep.deployment_id}
    order by sync_jobs.started_at desc limit ${limit}`;
  return rows.map((r) => ({
    ...r,
    started_at: r.started_at ? (r.started_at as Date).toISOString() : null,
    duration_seconds: r.duration_seconds === null ? null : Number(r.duration_seconds),
    rows_synced: Number(r.rows_synced ?? 0),
  }));
}

export interface SyncNowProgress {
  /** Where the run happens: queued for the agents, or in this process. */
  via: 'agents' | 'here';
  job_id: string | null;
  state: string;
  table: string | null;
  tables_done: number;
  tables_total: number | null;
  rows: number;
}

export interface SyncNowResult {
  via: 'agents' | 'here';
  job_id: string | null;
  status: string;
  rows_synced: number;
  duration_seconds: number | null;
  error: string | null;
  result?: SyncResult;
}

/**
 * Sync a client now. With a live leader in its cluster the job is queued for the agents and followed from
 * sync_jobs and sync_progress (the menu never races the agents for the same tenant); with none it runs here.
 */
export async function syncNow(
  sql: Sql,
  client: string,
  o: SyncSettings & {
    full: boolean;
    triggeredBy: string;
    onProgress?: (p: SyncNowProgress) => void;
    signal?: AbortSignal;
    timeoutMs?: number;
  },
): Promise<SyncNowResult> {
  const dep = await getDeployment(sql, client);
  const [host] = dep.host_id
    ? await sql<{ cluster_name: string }[]>`select cluster_name from sync_metadata.hosts where host_id = ${dep.host_id}`
    : [];
  const [lease] = host ? await readLeases(sql, host.cluster_name) : [];
  if (host && lease?.live) {
    const q = await enqueue(sql, host.cluster_name, client, { full: o.full, triggeredBy: o.triggeredBy });
    const t0 = Date.now();
    for (;;) {
      const [job] = await sql<
        {
          status: string;
          rows_synced: string | null;
          tables_total: number | null;
          duration_seconds: string | null;
          error_message: string | null;
        }[]
      >`select status, rows_synced, tables_total, duration_seconds, error_message from sync_metadata.sync_jobs where job_id = ${q.job_id}`;
      const prog = await sql<{ table_name: string; rows_processed: string; status: string }[]>`
        select table_name, rows_processed, status from sync_metadata.sync_progress where job_id = ${q.job_id} order by updated_at desc`;
      const rows = prog.reduce((s, p) => s + Number(p.rows_processed), 0);
      const st = job?.status ?? 'gone';
      o.onProgress?.({
        via: 'agents',
        job_id: q.job_id,
        state: st,
        table: prog[0]?.table_name ?? null,
        tables_done: prog.filter((p) => p.status !== 'running').length,
        tables_total: job?.tables_total || null,
        rows,
      });
      if (st !== 'waiting' && st !== 'pending' && st !== 'running')
        return {
          via: 'agents',
          job_id: q.job_id,
          status: st,
          rows_synced: Number(job?.rows_synced ?? rows),
          duration_seconds: job?.duration_seconds == null ? null : Number(job.duration_seconds),
          error: job?.error_message ?? null,
        };
      if (o.signal?.aborted)
        return {
          via: 'agents',
          job_id: q.job_id,
          status: st,
          rows_synced: rows,
          duration_seconds: null,
          error: 'stopped following (the agents carry on with the job)',
        };
      if (Date.now() - t0 > (o.timeoutMs ?? 30 * 60_000))
        throw new OwuiError(`job ${q.job_id} is still ${st} after ${Math.round((Date.now() - t0) / 1000)} s`, {
          hint: 'owui-sync cluster status shows whether an agent works on it',
        });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  let tables = 0;
  const result = await runSync(sql, dep, {
    readStatementMs: o.readStatementMs,
    full: o.full,
    triggeredBy: o.triggeredBy,
    signal: o.signal,
    onProgress: (p: Progress) => {
      tables = p.tableCount;
      o.onProgress?.({
        via: 'here',
        job_id: null,
        state: 'running',
        table: p.table,
        tables_done: p.tableIndex,
        tables_total: p.tableCount,
        rows: p.rowsWritten,
      });
    },
  });
  o.onProgress?.({
    via: 'here',
    job_id: result.job_id,
    state: result.status,
    table: null,
    tables_done: tables,
    tables_total: tables,
    rows: result.totals.inserted + result.totals.updated + result.totals.tombstoned,
  });
  return {
    via: 'here',
    job_id: result.job_id,
    status: result.status,
    rows_synced: result.totals.inserted + result.totals.updated + result.totals.tombstoned,
    duration_seconds: result.duration_ms / 1000,
    error: result.error ?? null,
    result,
  };
}
