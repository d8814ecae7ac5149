import type { Metrics } from '../metrics/registry.ts';
import { messageOf } from '../util/errors.ts';
import { redactText } from '../util/redact.ts';
import type { DbHealth } from './db-health.ts';
import type { AgentEvents } from './events.ts';
import { type Lease, readLeases } from './lease.ts';
import type { AgentSettings } from './settings.ts';
import { jitter, Wakeup } from './wakeup.ts';

export interface LeaderView {
  leader_id: string | null;
  leader_url: string | null;
  term: number | null;
  expires_at: Date | null;
  live: boolean;
}

type Timing = Pick<
  AgentSettings,
  'role' | 'renewSeconds' | 'renewDeadlineSeconds' | 'retrySeconds' | 'heartbeatSeconds'
>;

/**
 * The leader elector, a unit of its own: tries for the lease (or renews it) at the settings' pace, steps down
 * by itself when it cannot renew within the deadline, and knows who leads. It owns the lease; it announces
 * `elected`, `stepped_down`, `resigned` and, at debug, each `round` (events.ts); the agent asks `isLeader`.
 */
export class Elector {
  leader: LeaderView = { leader_id: null, leader_url: null, term: null, expires_at: null, live: false };
  /** A resigning leader's NOTIFY (and shutdown) cuts a follower's wait short. */
  readonly wake = new Wakeup();
  /** Local monotonic time of the last renewal we sent that succeeded: the step-down deadline counts from it. */
  private renewedAt = 0;

  constructor(
    readonly lease: Lease,
    private readonly s: Timing,
    private readonly url: () => string,
    private readonly db: DbHealth,
    private readonly metrics: Metrics,
    private readonly events: AgentEvents,
  ) {}

  private get log() {
    return this.events.log;
  }

  get isLeader(): boolean {
    return !!this.lease.current;
  }

  private get nodeId(): string {
    return this.lease.nodeId;
  }

  private overDeadline(): boolean {
    return this.isLeader && performance.now() - this.renewedAt > this.s.renewDeadlineSeconds * 1000;
  }

  /** Until `signal` aborts: acquire or renew, then wait (renew interval as leader, retry ±20% as follower). */
  async run(signal: AbortSignal): Promise<void> {
    const s = this.s;
    // The secondary lets the primary go first, so a fresh pair starts with the primary leading.
    if (s.role === 'secondary') await this.wake.wait(s.retrySeconds * 1000, signal);
    while (!signal.aborted) {
      const wasLeader = this.isLeader;
      const sent = performance.now();
      try {
        const got = await this.lease.tryAcquire();
        this.db.mark(true);
        if (signal.aborted) {
          // The shutdown resigns; a renewal that raced it must not leave us holding the lease.
          if (got) await this.lease.resign(2 * s.heartbeatSeconds + 5).catch(() => {});
          return;
        }
        if (got) {
          this.renewedAt = sent;
          this.leader = {
            leader_id: this.nodeId,
            leader_url: this.url(),
            term: got.term,
            expires_at: got.expiresAt,
            live: true,
          };
          this.metrics.term.set(got.term);
          if (!wasLeader) {
            this.metrics.leaderElections.inc({ result: 'won' });
            this.metrics.isLeader.set({ node_id: this.nodeId }, 1);
            this.events.announce('elected', 'info', 'became leader', { term: got.term });
          }
        } else {
          if (wasLeader) this.stepDown('another node holds the lease');
          await this.readLeader();
        }
      } catch (err) {
        this.db.mark(false, err);
        if (this.overDeadline()) {
          this.stepDown(`could not renew the lease within ${s.renewDeadlineSeconds} s: ${redactText(messageOf(err))}`);
        } else {
          this.log.warn(
            { err: redactText(messageOf(err)) },
            this.isLeader ? 'lease renewal failed; retrying' : 'lease attempt failed; retrying',
          );
        }
      }
      if (signal.aborted) return;
      this.events.announce('round', 'debug', 'lease round', { leader: this.isLeader, term: this.leader.term });
      // A leader that misses its deadline steps down even while its renewal hangs.
      const delay = this.isLeader && this.db.reachable ? s.renewSeconds * 1000 : jitter(s.retrySeconds);
      await this.wake.wait(delay, signal);
      if (this.overDeadline()) this.stepDown(`the lease was not renewed within ${s.renewDeadlineSeconds} s`);
    }
  }

  private stepDown(why: string): void {
    if (!this.isLeader) return;
    this.lease.drop();
    this.metrics.leaderElections.inc({ result: 'lost' });
    this.metrics.isLeader.set({ node_id: this.nodeId }, 0);
    this.leader = { ...this.leader, live: false };
    this.events.announce('stepped_down', 'warn', `stepped down: ${why}`, { term: this.leader.term });
  }

  private async readLeader(): Promise<void> {
    const [r] = await readLeases(this.lease.sqlForReads, this.lease.cluster, this.lease.statementMs);
    this.leader = r
      ? { leader_id: r.leader_id, leader_url: r.leader_url, term: r.term, expires_at: r.expires_at, live: r.live }
      : { leader_id: null, leader_url: null, term: null, expires_at: null, live: false };
    if (r) this.metrics.term.set(r.term);
  }

  /**
   * Give the lease up at once (shutdown): handed straight to a peer whose heartbeat is fresh (within two heartbeat
   * intervals), so the cluster's lease always has a holder and the peer leads in milliseconds; else it expires now.
   */
  async resign(): Promise<void> {
    const term = this.lease.current?.term;
    if (term === undefined) return;
    await this.lease.resign(2 * this.s.heartbeatSeconds + 5).then(
      ({ handedTo }) => {
        this.metrics.leaderElections.inc({ result: 'resigned' });
        this.metrics.isLeader.set({ node_id: this.nodeId }, 0);
        this.events.announce('resigned', 'info', handedTo ? `handed the lease to ${handedTo}` : 'resigned the lease', {
          term,
          handed_to: handedTo,
        });
      },
      (err) =>
        this.log.warn(
          { err: redactText(messageOf(err)) },
          'could not resign the lease; the peer takes over when it expires',
        ),
    );
  }
}
