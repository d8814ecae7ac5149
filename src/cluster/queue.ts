import { idleLimit, type Sql, type Tx } from '../pg/connect.ts';
import { FencedError, NotFoundError, OwuiError } from '../util/errors.ts';
import { channel } from './channels.ts';

/**
 * The work queue is sync_jobs itself: a queued job is a row with queued_at, 'pending' until a node
 * claims it, 'running' while a node holds it (locked_by, locked_until), then an end state. Rows are
 * never deleted here; the retention function purges old history.
 */

export interface ClaimedJob {
  job_id: string;
  deployment_id: string;
  client_name: string;
  /** The claim number: this node's fencing token for the job. */
  claims: number;
  /** The leader term the job was claimed under. */
  term: number;
  full_sync: boolean;
  triggered_by: string | null;
  /** When the job was due (the schedule's time, or when it was triggered). */
  due_at: Date;
  /** The job was running on another node whose visibility timeout ran out (that node died or hung). */
  reclaimed_from: string | null;
}

/** Deployments of a cluster (a subquery): through their host. A host role sees only its own host's rows anyway (RLS). */
export const inCluster = (sql: Sql | Tx, cluster: string) => sql`
  select d.deployment_id from sync_metadata.client_deployments d
  join sync_metadata.hosts h on h.host_id = d.host_id where h.cluster_name = ${cluster}`;

/**
 * Queue a job for every deployment of the cluster whose time has come, and move its next time on by its
 * interval, from the time it was due, so the schedule does not drift. A deployment that still has an
 * active job is not queued twice. Returns how many were queued.
 */
export async function enqueueDue(sql: Sql, cluster: string): Promise<number> {
  const rows = await sql.begin(async (tx) => {
    const queued = await tx<{ n: number }[]>`
      with due as (
        select d.deployment_id, d.client_name, coalesce(d.next_sync_at, localtimestamp) as due_at,
               make_interval(secs => greatest(coalesce(d.sync_interval, 300), 1)) as every
        from sync_metadata.client_deployments d
        where d.deployment_id in (${inCluster(tx, cluster)})
          and coalesce(d.sync_enabled, false) and coalesce(d.status, 'active') = 'active'
          and coalesce(d.config->>'sqlite_path', '') <> ''
          and (d.next_sync_at is null or d.next_sync_at <= localtimestamp)
        for update of d skip locked
      ), queued as (
        insert into sync_metadata.sync_jobs (deployment_id, client_name, status, queued_at, available_at, triggered_by, sync_type)
        select deployment_id, client_name, 'pending', now(), due_at, 'schedule', 'incremental' from due
        on conflict (deployment_id) where queued_at is not null and status in ('pending', 'running') do nothing
        returning 1
      ), moved as (
        update sync_metadata.client_deployments d
        set next_sync_at = case
          -- First schedule (the first run is now): the next one comes after half to all of the interval, by
          -- a hash of the deployment, so deployments registered together do not stay due in the same second.
          when d.next_sync_at is null then localtimestamp + due.every * (0.5 + 0.5 * ((hashtext(d.deployment_id::text) & 65535)::float8 / 65536))
          -- Otherwise the next slot of the deployment's own phase (slots missed while behind are skipped).
          else due.due_at + due.every * greatest(1, ceil(extract(epoch from (localtimestamp - due.due_at)) / extract(epoch from due.every)))
        end
        from due where d.deployment_id = due.deployment_id
        returning 1
      )
      select (select count(*) from queued)::int as n, (select count(*) from moved)::int as m`;
    if (queued[0]!.n > 0) await tx`select pg_notify(${channel('jobs', cluster)}, ${cluster})`;
    return queued;
  });
  return rows[0]!.n;
}

/** Milliseconds until the cluster's next deployment is due (null when none is scheduled). */
export async function nextDueInMs(sql: Sql, cluster: string): Promise<number | null> {
  const [r] = await sql<{ ms: number | null }[]>`
    select extract(epoch from (min(d.next_sync_at) - localtimestamp))::float * 1000 as ms
    from sync_metadata.client_deployments d
    where d.deployment_id in (${inCluster(sql, cluster)})
      and coalesce(d.sync_enabled, false) and coalesce(d.status, 'active') = 'active' and d.next_sync_at is not null`;
  return r?.ms ?? null;
}

export interface Enqueued {
  job_id: string;
  /** False when the request joined a job already queued (made full if asked). */
  created: boolean;
  /** 'pending', or 'waiting' for the run in progress (`after_job_id`) to end: that run read the tenant before. */
  status: 'pending' | 'waiting';
  after_job_id?: string;
}

/**
 * Queue a sync of one client now (the API's trigger, the menu's Sync now). Unknown clients are an error an
 * operator can act on. A pending job covers the request (it has read nothing yet); a running one does not, so the
 * request waits as a job of its own that starts when the running one ends (sql/012_waiting_job.sql).
 */
export async function enqueue(
  sql: Sql,
  cluster: string,
  client: string,
  o: { full: boolean; triggeredBy: string },
): Promise<Enqueued> {
  return sql.begin(async (tx) => {
    const [dep] = await tx<{ deployment_id: string }[]>`
      select deployment_id from sync_metadata.client_deployments
      where client_name = ${client} and deployment_id in (${inCluster(tx, cluster)})`;
    if (!dep)
      throw new NotFoundError(
        `client "${client}" is not registered in cluster ${cluster}`,
        'list clients with: owui-sync status',
      );
    // The active job can end between the insert and the lock: then the insert is tried again.
    for (let attempt = 0; ; attempt++) {
      const [made] = await tx<{ job_id: string }[]>`
        insert into sync_metadata.sync_jobs (deployment_id, client_name, status, queued_at, available_at, triggered_by, sync_type, full_sync)
        values (${dep.deployment_id}, ${client}, 'pending', now(), now(), ${o.triggeredBy}, ${o.full ? 'full' : 'manual'}, ${o.full})
        on conflict (deployment_id) where queued_at is not null and status in ('pending', 'running') do nothing
        returning job_id`;
      if (made) {
        await tx`select pg_notify(${channel('jobs', cluster)}, ${cluster})`;
        return { job_id: made.job_id, created: true, status: 'pending' };
      }
      // Locked, so the running job cannot end before the waiting one below is committed (its end starts it).
      const [active] = await tx<{ job_id: string; status: 'pending' | 'running' }[]>`
        select job_id, status from sync_metadata.sync_jobs
        where deployment_id = ${dep.deployment_id} and queued_at is not null and status in ('pending', 'running')
        for update`;
      if (!active) {
        if (attempt < 3) continue;
        throw new OwuiError(`the queue of client "${client}" kept changing while a sync was being queued`, {
          hint: 'ask again: the runs in progress will have ended',
        });
      }
      if (active.status === 'pending') {
        if (o.full) await tx`update sync_metadata.sync_jobs set full_sync = true where job_id = ${active.job_id}`;
        return { job_id: active.job_id, created: false, status: 'pending' };
      }
      const [waiting] = await tx<{ job_id: string; created: boolean }[]>`
        insert into sync_metadata.sync_jobs (deployment_id, client_name, status, queued_at, available_at, triggered_by, sync_type, full_sync)
        values (${dep.deployment_id}, ${client}, 'waiting', now(), now(), ${o.triggeredBy}, ${o.full ? 'full' : 'manual'}, ${o.full})
        on conflict (deployment_id) where status = 'waiting'
          do update set full_sync = sync_metadata.sync_jobs.full_sync or excluded.full_sync
        returning job_id, (xmax = 0) as created`;
      return { job_id: waiting!.job_id, created: waiting!.created, status: 'waiting', after_job_id: active.job_id };
    }
  });
}

/**
 * Claim the oldest job that is available: pending and due, or running on a node whose visibility
 * timeout ran out. SKIP LOCKED lets both nodes claim at once without waiting on each other. The claim
 * is stamped with the current leader term; no job is claimed before there is a lease row.
 */
export async function claim(
  sql: Sql,
  cluster: string,
  node: string,
  visibilitySeconds: number,
): Promise<ClaimedJob | null> {
  const rows = await sql<(Omit<ClaimedJob, 'term'> & { term: string })[]>`
    with lease as (
      select term from sync_metadata.leader_election where cluster_name = ${cluster}
    ), c as (
      select j.job_id, j.status as prev_status, j.locked_by as prev_owner from sync_metadata.sync_jobs j
      where j.queued_at is not null
        and ((j.status = 'pending' and j.available_at <= now()) or (j.status = 'running' and j.locked_until < now()))
        and j.deployment_id in (${inCluster(sql, cluster)})
      order by j.available_at, j.queued_at
      limit 1
      for update of j skip locked
    )
    update sync_metadata.sync_jobs j
    set status = 'running', locked_by = ${node}, locked_until = now() + make_interval(secs => ${visibilitySeconds}),
        claims = j.claims + 1, term = (select term from lease), started_at = now()
    from c where j.job_id = c.job_id and exists (select 1 from lease)
    returning j.job_id, j.deployment_id, j.client_name, j.claims, j.term::text as term, j.full_sync, j.triggered_by,
              j.available_at as due_at, case when c.prev_status = 'running' then c.prev_owner end as reclaimed_from`;
  const r = rows[0];
  return r ? { ...r, term: Number(r.term) } : null;
}

const owned = (tx: Sql | Tx, job: ClaimedJob, node: string) =>
  tx`j.job_id = ${job.job_id} and j.locked_by = ${node} and j.claims = ${job.claims} and j.status = 'running'`;

/** Push the visibility timeout on while the job runs. False when the job is no longer ours. */
export async function renewJob(sql: Sql, job: ClaimedJob, node: string, visibilitySeconds: number): Promise<boolean> {
  const r = await sql`
    update sync_metadata.sync_jobs j set locked_until = now() + make_interval(secs => ${visibilitySeconds})
    where ${owned(sql, job, node)} returning 1`;
  return r.length > 0;
}

/** Hand a job back to the queue (its deployment was busy, or its term ended): it runs again after `delaySeconds`. */
export async function releaseJob(
  sql: Sql,
  cluster: string,
  job: ClaimedJob,
  node: string,
  delaySeconds: number,
  note: string,
): Promise<boolean> {
  return sql.begin(async (tx) => {
    const r = await tx`
      update sync_metadata.sync_jobs j set status = 'pending', locked_by = null, locked_until = null, completed_at = null,
        duration_seconds = null, available_at = now() + make_interval(secs => ${delaySeconds}),
        metadata = coalesce(j.metadata, '{}'::jsonb) || jsonb_build_object('last_release', ${note}::text)
      where ${owned(tx, job, node)} returning 1`;
    if (r.length > 0) await tx`select pg_notify(${channel('jobs', cluster)}, ${cluster})`;
    return r.length > 0;
  });
}

/** A job that could not start (bad file, drift ...): recorded as failed with the reason, on the job and its deployment. */
export async function failJob(sql: Sql, job: ClaimedJob, node: string, message: string): Promise<void> {
  await sql.begin(async (tx) => {
    const r = await tx`
      update sync_metadata.sync_jobs j set status = 'failed', error_message = ${message}, locked_until = null
      where ${owned(tx, job, node)} returning 1`;
    if (r.length > 0) {
      await tx`update sync_metadata.client_deployments set last_sync_status = 'failed', updated_at = now() where deployment_id = ${job.deployment_id}`;
    }
  });
}

/**
 * The fencing check that runs first in every transaction a job's run writes in: the job is still this
 * node's claim, and the leader term it was claimed under is still the cluster's term (or this node leads
 * now: a follower that took over keeps its own runs). FOR SHARE holds
 * both rows until the transaction commits, so neither a reclaim nor a takeover can slip in between the
 * check and the commit: no batch of an old claim or an old term lands after a new one starts.
 */
export function jobFence(
  cluster: string,
  node: string,
  job: ClaimedJob,
  instance: string | null = null,
  idleTransactionMs: number | null = null,
): (tx: Tx) => Promise<void> {
  return async (tx) => {
    // The rows it locks are the lease's and the job's: the transaction may not stay idle holding them for
    // longer than the renew interval (a paused node), set here for this transaction (no session setting).
    const [r] = await tx<{ n: number }[]>`
      with f as (
        select 1 from sync_metadata.sync_jobs j, sync_metadata.leader_election l
        where ${owned(tx, job, node)} and l.cluster_name = ${cluster}
          and (l.term = ${job.term} or (l.leader_id = ${node} and l.leader_instance = ${instance} and l.expires_at > now()))
        for share of j, l)
      select (select count(*) from f)::int as n, ${idleLimit(tx, idleTransactionMs)}`;
    if (r!.n === 0) {
      throw new FencedError(
        `job ${job.job_id} of "${job.client_name}" is no longer this node's (claim ${job.claims}, term ${job.term}): its batch was refused`,
      );
    }
  };
}

/** Job history: finished queued jobs are kept, then purged by the retention function (the host role has no DELETE). */
export async function purgeHistory(sql: Sql, retentionDays: number): Promise<number> {
  const [r] = await sql<{ n: string }[]>`select sync_metadata.purge_job_history(${retentionDays})::text as n`;
  return Number(r!.n);
}
