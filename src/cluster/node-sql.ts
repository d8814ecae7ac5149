// The agent's own statements (its host, heartbeat, the figures /metrics and the cluster status show), as
// small functions. The job queue's are in queue.ts, the lease's in lease-sql.ts.
import type { Sql } from '../pg/connect.ts';
import { inCluster } from './queue.ts';

/** The newest migration applied to sync_metadata. */
export async function schemaVersion(sql: Sql): Promise<number> {
  const [v] = await sql<
    { v: number }[]
  >`select coalesce(max(version), 0)::int as v from sync_metadata.schema_migrations`;
  return v!.v;
}

/** The registered hosts this login may see, narrowed by name and cluster when given. */
export function findHosts(sql: Sql, host: string | null, cluster: string | null) {
  return sql<{ host_id: string; hostname: string; cluster_name: string }[]>`
    select host_id, hostname, cluster_name from sync_metadata.hosts
    where (${host}::text is null or hostname = ${host}) and (${cluster}::text is null or cluster_name = ${cluster})
    order by hostname`;
}

/** The one host this login sees (deploy works out its pair for it), or null when it sees none or several. */
export async function thisHost(sql: Sql, name?: string): Promise<{ hostname: string; cluster_name: string } | null> {
  const hosts = await findHosts(sql, name ?? null, null);
  return hosts.length === 1 ? hosts[0]! : null;
}

/** The host's heartbeat, with this node's entry under metadata.agents (role, url, leader, term, ...). */
export function recordHeartbeat(sql: Sql, hostId: string | null, nodeId: string, info: Record<string, unknown>) {
  return sql`
    update sync_metadata.hosts set last_heartbeat = now(), updated_at = now(),
      metadata = jsonb_set(coalesce(metadata, '{}'::jsonb), '{agents}',
        coalesce(metadata->'agents', '{}'::jsonb) || jsonb_build_object(${nodeId}::text, ${JSON.stringify(info)}::text::jsonb || jsonb_build_object('last_seen', now())))
    where host_id = ${hostId}`;
}

/** The last successful sync of each deployment of a cluster (the lag gauge). */
export function lastSyncs(sql: Sql, cluster: string) {
  return sql<{ client: string; last: Date | null; interval: number; enabled: boolean; pending: number }[]>`
    select d.client_name as client, d.last_sync_at at time zone current_setting('TimeZone') as last,
           coalesce(d.sync_interval, 300) as interval,
           coalesce(d.sync_enabled, false) and coalesce(d.status, 'active') = 'active' as enabled,
           (select count(*)::int from sync_metadata.conflict_log c where c.deployment_id = d.deployment_id and c.resolved_at is null) as pending
    from sync_metadata.client_deployments d where d.deployment_id in (${inCluster(sql, cluster)})`;
}

/** A job's conflicts by table, type and strategy (the conflict counters). */
export function jobConflictCounts(sql: Sql, jobId: string) {
  return sql<{ table_name: string; conflict_type: string; strategy: string | null; resolved: boolean; n: number }[]>`
    select table_name, conflict_type, resolution_strategy as strategy, resolved_at is not null as resolved, count(*)::int as n
    from sync_metadata.conflict_log where sync_job_id = ${jobId}
    group by 1, 2, 3, 4`;
}

/** What the nodes of a host last reported of themselves, and the host's last heartbeat. */
export async function hostAgents(sql: Sql, hostId: string | null) {
  const [host] = await sql<{ agents: Record<string, Record<string, unknown>> | null; last_heartbeat: Date | null }[]>`
    select metadata->'agents' as agents, last_heartbeat at time zone current_setting('TimeZone') as last_heartbeat
    from sync_metadata.hosts where host_id = ${hostId}`;
  return host;
}

/** Jobs of a cluster: waiting, running, and finished within the last hour. */
export async function clusterJobCounts(sql: Sql, cluster: string) {
  const [jobs] = await sql<Record<string, number>[]>`
    select count(*) filter (where status in ('pending', 'waiting'))::int as pending, count(*) filter (where status = 'running')::int as running,
           count(*) filter (where status = 'failed' and completed_at > localtimestamp - interval '1 hour')::int as failed_last_hour,
           count(*) filter (where status = 'success' and completed_at > localtimestamp - interval '1 hour')::int as succeeded_last_hour
    from (
      -- Index reads instead of one scan of the whole history: the active jobs, the waiting ones (each a request
      -- made while a run was in progress), and those finished lately.
      select status, completed_at from sync_metadata.sync_jobs
      where status in ('pending', 'running') and deployment_id in (${inCluster(sql, cluster)})
      union all
      select status, completed_at from sync_metadata.sync_jobs
      where status = 'waiting' and deployment_id in (${inCluster(sql, cluster)})
      union all
      select status, completed_at from sync_metadata.sync_jobs
      where completed_at > localtimestamp - interval '1 hour' and status not in ('waiting', 'pending', 'running')
        and deployment_id in (${inCluster(sql, cluster)})
    ) j`;
  return jobs!;
}
