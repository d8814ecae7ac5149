import { randomUUID } from 'node:crypto';
import { type Sql, type Tx, within } from '../pg/connect.ts';
import { FencedError } from '../util/errors.ts';
import { channel } from './channels.ts';

export interface LeaseState {
  term: number;
  expiresAt: Date;
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

/** What the cluster status shows of a lease row (the API's and `owui-sync cluster status`). */
export function leaseView(l: LeaseRow | undefined) {
  if (!l) return null;
  const { leader_id, leader_url, term, live, expires_in_seconds, acquired_at } = l;
  return { leader_id, leader_url, term, live, expires_in_seconds, acquired_at };
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
 * One node's view of its cluster's lease row. Every decision uses the database clock (now()), so nodes
 * with skewed clocks agree. Acquire and renew are one statement: it succeeds when the lease is ours or
 * has expired, or when a resigning leader handed it to this node id (no instance yet: the first process of
 * that node to ask claims it, keeping the handover's term); taking it over from another node (or after a gap)
 * grows the term.
 */
export class Lease {
  private state: LeaseState | null = null;
  /** A lease statement that has not answered by then is cancelled (it shares its connection with others). */
  statementMs = 10_000;
  constructor(
    private readonly sql: Sql,
    readonly cluster: string,
    readonly nodeId: string,
    private readonly leaseSeconds: number,
    private readonly hostId: string | null = null,
    /** Where this node's API answers, recorded while it leads so followers can forward to it. */
    private readonly url: string | null = null,
    /**
     * This process. The lease is ours only when node id and instance match: a node restarted after a crash
     * waits for its old lease like anyone else, and two processes given the same node id by mistake cannot
     * both lead.
     */
    readonly instance: string = randomUUID(),
  ) {}

  get current(): LeaseState | null {
    return this.state;
  }

  /** The lease's own connection, for reading the row (its statement timeout keeps reads from hanging). */
  get sqlForReads(): Sql {
    return this.sql;
  }

  /** Acquire or renew. Returns the lease, or null when another node holds a live one. */
  async tryAcquire(): Promise<LeaseState | null> {
    const rows = await within(this.acquireStatement(), this.statementMs);
    this.state = rows[0] ? { term: Number(rows[0].term), expiresAt: rows[0].expires_at } : null;
    return this.state;
  }

  private acquireStatement() {
    return this.sql<{ term: string; expires_at: Date }[]>`
      insert into sync_metadata.leader_election as l (cluster_name, leader_id, leader_instance, leader_host_id, leader_url, acquired_at, expires_at, term, heartbeat_count)
      values (${this.cluster}, ${this.nodeId}, ${this.instance}, ${this.hostId}, ${this.url}, now(), now() + make_interval(secs => ${this.leaseSeconds}), 1, 0)
      on conflict (cluster_name) do update set
        term = case when l.leader_id = excluded.leader_id and (l.leader_instance is null or l.leader_instance = excluded.leader_instance) and l.expires_at > now() then l.term else l.term + 1 end,
        acquired_at = case when l.leader_id = excluded.leader_id and (l.leader_instance is null or l.leader_instance = excluded.leader_instance) and l.expires_at > now() then l.acquired_at else now() end,
        leader_id = excluded.leader_id, leader_instance = excluded.leader_instance, leader_host_id = excluded.leader_host_id, leader_url = excluded.leader_url,
        expires_at = now() + make_interval(secs => ${this.leaseSeconds}),
        heartbeat_count = l.heartbeat_count + 1
      where l.expires_at <= now() or (l.leader_id = excluded.leader_id and (l.leader_instance is null or l.leader_instance = excluded.leader_instance))
      returning term::text, expires_at`;
  }

  /** Forget the lease without touching the row (the leader stepped down: it could not renew in time). */
  drop(): void {
    this.state = null;
  }

  /**
   * Give the lease up at once (SIGTERM), and tell the followers on the lease channel so they act now instead of
   * at their next retry. When a peer of the cluster has sent a heartbeat within `peerFreshSeconds`, the lease is
   * handed to it directly, in the same statement: the row names the peer (any process of that node id may claim
   * it, see tryAcquire) with a new term and a live expiry, so the cluster's lease is never without a holder, and
   * the peer leads as soon as it hears the NOTIFY. With no fresh peer the lease simply expires now. A peer that
   * died since its heartbeat never claims it: the lease then runs out as after a crash.
   */
  async resign(peerFreshSeconds = 0): Promise<{ handedTo: string | null }> {
    if (!this.state) return { handedTo: null };
    const term = this.state.term;
    try {
      return await this.sql.begin(async (tx) => {
        const [peer] =
          peerFreshSeconds > 0
            ? await tx<{ node_id: string; url: string | null; host_id: string }[]>`
              select a.key as node_id, a.value->>'url' as url, h.host_id
              from sync_metadata.hosts h, jsonb_each(coalesce(h.metadata->'agents', '{}'::jsonb)) a
              where h.cluster_name = ${this.cluster} and a.key <> ${this.nodeId}
                and (a.value->>'last_seen')::timestamptz > now() - make_interval(secs => ${peerFreshSeconds})
              order by (a.value->>'last_seen')::timestamptz desc limit 1`
            : [];
        const mine = () =>
          tx`cluster_name = ${this.cluster} and leader_id = ${this.nodeId} and leader_instance = ${this.instance} and term = ${term}`;
        const handed = peer
          ? await tx`
              update sync_metadata.leader_election set leader_id = ${peer.node_id}, leader_instance = null,
                leader_host_id = ${peer.host_id}, leader_url = ${peer.url}, term = term + 1, acquired_at = now(),
                expires_at = now() + make_interval(secs => ${this.leaseSeconds}), heartbeat_count = heartbeat_count + 1
              where ${mine()}`
          : { count: 0 };
        if (handed.count === 0)
          await tx`
            update sync_metadata.leader_election set expires_at = greatest(now(), acquired_at + interval '1 millisecond')
            where ${mine()}`;
        await tx`select pg_notify(${channel('lease', this.cluster)}, ${this.cluster})`;
        return { handedTo: handed.count > 0 ? peer!.node_id : null };
      });
    } finally {
      this.state = null;
    }
  }

  /**
   * The fencing check, last in every batch transaction (right before COMMIT): our term is current and unexpired. FOR SHARE
   * holds the lease row until the batch commits, so a takeover (an UPDATE of that row) waits for the
   * batch, and no batch of an old term can commit after a new term starts.
   */
  async fence(tx: Tx): Promise<void> {
    const term = this.state?.term;
    if (term === undefined) throw new FencedError(`node ${this.nodeId} holds no lease of cluster ${this.cluster}`);
    const ok = await tx`
      select 1 from sync_metadata.leader_election
      where cluster_name = ${this.cluster} and leader_id = ${this.nodeId} and leader_instance = ${this.instance} and term = ${term} and expires_at > now()
      for share`;
    if (ok.length === 0)
      throw new FencedError(`node ${this.nodeId} lost the lease of cluster ${this.cluster} (term ${term} is over)`);
  }
}
