// The lease's statements, as plain functions: the Lease class (lease.ts) keeps the state and decides when to
// call them. Every decision inside them uses the database clock (now()), so nodes with skewed clocks agree.
import { type Sql, type Tx, within } from '../pg/connect.ts';
import { channel } from './channels.ts';

/** Who asks for the lease: one process (instance) of one node of one cluster. */
export interface LeaseHolder {
  cluster: string;
  nodeId: string;
  instance: string;
}

/** A cluster's lease row as anyone may read it (the followers, the cluster status, `owui-sync status`). */
export interface LeaseRow {
  cluster_name: string;
  leader_id: string;
  leader_url: string | null;
  term: number;
  expires_at: Date;
  acquired_at: Date;
  live: boolean;
  expires_in_seconds: number;
}

/** The lease rows of every cluster this login may see, or of one. */
export async function readLeases(sql: Sql, cluster?: string, timeoutMs = 0): Promise<LeaseRow[]> {
  const q = sql<(Omit<LeaseRow, 'term'> & { term: string })[]>`
    select cluster_name, leader_id, leader_url, term::text, expires_at, acquired_at at time zone current_setting('TimeZone') as acquired_at,
           expires_at > now() as live, round(extract(epoch from (expires_at - now()))::numeric, 1)::float as expires_in_seconds
    from sync_metadata.leader_election ${cluster === undefined ? sql`` : sql`where cluster_name = ${cluster}`}
    order by cluster_name`;
  const rows = timeoutMs > 0 ? await within(q, timeoutMs) : await q;
  return rows.map((r) => ({ ...r, term: Number(r.term) }));
}

/**
 * Acquire or renew, in one statement. It succeeds when the lease is ours or has expired, or when a resigning
 * leader handed it to this node id (no instance yet: the first process of that node to ask claims it, keeping
 * the handover's term); taking it over from another node (or after a gap) grows the term. No row: another node
 * holds a live lease.
 */
export async function acquireLease(
  sql: Sql,
  who: LeaseHolder & { hostId: string | null; url: string | null; seconds: number },
  timeoutMs: number,
): Promise<{ term: number; expiresAt: Date } | null> {
  const [row] = await within(
    sql<{ term: string; expires_at: Date }[]>`
      insert into sync_metadata.leader_election as l (cluster_name, leader_id, leader_instance, leader_host_id, leader_url, acquired_at, expires_at, term, heartbeat_count)
      values (${who.cluster}, ${who.nodeId}, ${who.instance}, ${who.hostId}, ${who.url}, now(), now() + make_interval(secs => ${who.seconds}), 1, 0)
      on conflict (cluster_name) do update set
        term = case when l.leader_id = excluded.leader_id and (l.leader_instance is null or l.leader_instance = excluded.leader_instance) and l.expires_at > now() then l.term else l.term + 1 end,
        acquired_at = case when l.leader_id = excluded.leader_id and (l.leader_instance is null or l.leader_instance = excluded.leader_instance) and l.expires_at > now() then l.acquired_at else now() end,
        leader_id = excluded.leader_id, leader_instance = excluded.leader_instance, leader_host_id = excluded.leader_host_id, leader_url = excluded.leader_url,
        expires_at = now() + make_interval(secs => ${who.seconds}),
        heartbeat_count = l.heartbeat_count + 1
      where l.expires_at <= now() or (l.leader_id = excluded.leader_id and (l.leader_instance is null or l.leader_instance = excluded.leader_instance))
      returning term::text, expires_at`,
    timeoutMs,
  );
  return row ? { term: Number(row.term), expiresAt: row.expires_at } : null;
}

/** The row is still ours at this term (the WHERE of every statement that gives the lease up). */
function heldAt(tx: Tx, who: LeaseHolder, term: number) {
  return tx`cluster_name = ${who.cluster} and leader_id = ${who.nodeId} and leader_instance = ${who.instance} and term = ${term}`;
}

/**
 * Give the lease up in one transaction: hand it to the freshest peer of the cluster (heartbeat within
 * `peerFreshSeconds`, 0 for none) with a new term and a live expiry, or else let it expire now; then tell the
 * followers on the lease channel. Returns the node id it was handed to.
 */
export function resignLease(
  sql: Sql,
  who: LeaseHolder & { seconds: number },
  term: number,
  peerFreshSeconds: number,
): Promise<string | null> {
  return sql.begin(async (tx) => {
    const [peer] =
      peerFreshSeconds > 0
        ? await tx<{ node_id: string; url: string | null; host_id: string }[]>`
          select a.key as node_id, a.value->>'url' as url, h.host_id
          from sync_metadata.hosts h, jsonb_each(coalesce(h.metadata->'agents', '{}'::jsonb)) a
          where h.cluster_name = ${who.cluster} and a.key <> ${who.nodeId}
            and (a.value->>'last_seen')::timestamptz > now() - make_interval(secs => ${peerFreshSeconds})
          order by (a.value->>'last_seen')::timestamptz desc limit 1`
        : [];
    const handed = peer
      ? await tx`
          update sync_metadata.leader_election set leader_id = ${peer.node_id}, leader_instance = null,
            leader_host_id = ${peer.host_id}, leader_url = ${peer.url}, term = term + 1, acquired_at = now(),
            expires_at = now() + make_interval(secs => ${who.seconds}), heartbeat_count = heartbeat_count + 1
          where ${heldAt(tx, who, term)}`
      : { count: 0 };
    if (handed.count === 0)
      await tx`
        update sync_metadata.leader_election set expires_at = greatest(now(), acquired_at + interval '1 millisecond')
        where ${heldAt(tx, who, term)}`;
    await tx`select pg_notify(${channel('lease', who.cluster)}, ${who.cluster})`;
    return handed.count > 0 ? peer!.node_id : null;
  });
}

/**
 * The fencing check: our term is current and unexpired. FOR SHARE holds the lease row until the transaction
 * commits, so a takeover (an UPDATE of that row) waits for it. True while the lease is ours.
 */
export async function holdsLease(tx: Tx, who: LeaseHolder, term: number): Promise<boolean> {
  const ok = await tx`
    select 1 from sync_metadata.leader_election
    where ${heldAt(tx, who, term)} and expires_at > now()
    for share`;
  return ok.length > 0;
}
