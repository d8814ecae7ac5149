import { randomUUID } from 'node:crypto';
import type { Sql, Tx } from '../pg/connect.ts';
import { FencedError } from '../util/errors.ts';
import { acquireLease, holdsLease, type LeaseHolder, type LeaseRow, resignLease } from './lease-sql.ts';

export { type LeaseRow, readLeases } from './lease-sql.ts';

export interface LeaseState {
  term: number;
  expiresAt: Date;
}

/** What the cluster status shows of a lease row (the API's and `owui-sync cluster status`). */
export function leaseView(l: LeaseRow | undefined) {
  if (!l) return null;
  const { leader_id, leader_url, term, live, expires_in_seconds, acquired_at } = l;
  return { leader_id, leader_url, term, live, expires_in_seconds, acquired_at };
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

  private get holder(): LeaseHolder {
    return { cluster: this.cluster, nodeId: this.nodeId, instance: this.instance };
  }

  /** Acquire or renew. Returns the lease, or null when another node holds a live one. */
  async tryAcquire(): Promise<LeaseState | null> {
    this.state = await acquireLease(
      this.sql,
      { ...this.holder, hostId: this.hostId, url: this.url, seconds: this.leaseSeconds },
      this.statementMs,
    );
    return this.state;
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
      const handedTo = await resignLease(
        this.sql,
        { ...this.holder, seconds: this.leaseSeconds },
        term,
        peerFreshSeconds,
      );
      return { handedTo };
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
    const ok = await holdsLease(tx, this.holder, term);
    if (!ok)
      throw new FencedError(`node ${this.nodeId} lost the lease of cluster ${this.cluster} (term ${term} is over)`);
  }
}
