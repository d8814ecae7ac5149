import { setTimeout as sleep } from 'node:timers/promises';
import { ident, poolMode, type Sql } from '../pg/connect.ts';
import { messageOf } from '../util/errors.ts';
import { type ChannelKind, channel } from './channels.ts';
import type { AgentEvents } from './events.ts';
import type { StateCache } from './state.ts';
import { jitter } from './wakeup.ts';

export interface ListenerEvents {
  /** A resigning leader of this cluster gave up the lease. */
  lease: () => void;
  /** A job of this cluster was queued or handed back. */
  jobs: () => void;
  /** A deployment of this cluster changed (its interval, pause, resume): the scheduler looks again. */
  state: () => void;
}

/**
 * How an agent hears of its cluster's changes, on the agent's one control connection.
 *
 * Session mode: the connection LISTENs on its cluster's channels (channels.ts). When it drops, the state cache
 * stops counting as fresh and the LISTEN is issued again at the retry interval; on every (re)connect the
 * cache_events written meanwhile are applied.
 *
 * Transaction mode (a transaction pooler: no session, so no LISTEN): every `pollSeconds` it reads the
 * cache_events written since the last one seen (an indexed range read of the host's own rows). Workers claim at
 * the same pace and followers try for the lease at theirs; nothing else is lost without notifications.
 */
export class Listener {
  private readonly kinds = new Map<string, ChannelKind>();

  constructor(
    private readonly sql: Sql,
    cluster: string,
    private readonly state: StateCache,
    private readonly o: { retrySeconds: number; pollSeconds: number },
    private readonly events: AgentEvents,
    private readonly on: ListenerEvents,
    private readonly signal: AbortSignal,
  ) {
    for (const k of ['lease', 'jobs', 'state'] as const) this.kinds.set(channel(k, cluster), k);
  }

  get polling(): boolean {
    return poolMode(this.sql) === 'transaction';
  }

  /** Start listening (or polling); resolves once the first LISTEN (or read of events) is done. */
  async open(): Promise<void> {
    if (this.polling) {
      await this.pollOnce();
      void this.pollLoop();
      return;
    }
    await this.listenNow();
  }

  /** The control connection closed (the pool's onclose): listen again once it is back. */
  onClose(): void {
    if (this.polling || this.signal.aborted || !this.state.listening) return;
    this.state.listening = false;
    this.events.announce(
      'listen',
      'warn',
      'notification connection lost; state is read from PostgreSQL until it is back',
      {
        up: false,
      },
    );
    void this.relisten();
  }

  /** A notification on the control connection (the pool's onnotify). Another cluster's never arrives. */
  onNotify(ch: string, payload: string): void {
    const kind = this.kinds.get(ch);
    if (kind === 'lease') this.on.lease();
    else if (kind === 'jobs') this.on.jobs();
    else if (kind === 'state') {
      this.state.invalidate();
      this.on.state();
      void this.state
        .catchUp()
        .catch((err) =>
          this.events.log.warn(
            { err: messageOf(err) },
            'could not mark cache events processed; they are applied again on reconnect',
          ),
        );
      this.events.log.debug({ payload }, 'state invalidated by notification');
    }
  }

  private async listenNow(): Promise<void> {
    await this.sql.unsafe([...this.kinds.keys()].map((c) => `LISTEN ${ident(c)}`).join('; '));
    // Notifications sent while we were not listening are lost: nothing cached before now may count as fresh
    // once `listening` is true again, not even until catchUp() below has read the missed events.
    this.state.invalidate();
    this.state.listening = true;
    const n = await this.state.catchUp();
    if (n > 0) {
      this.on.state();
      this.events.announce('cache_replayed', 'info', 'applied cache events written while not listening', { events: n });
    }
  }

  private async relisten(): Promise<void> {
    while (!this.signal.aborted && !this.state.listening) {
      await sleep(jitter(this.o.retrySeconds), undefined, { signal: this.signal }).catch(() => {});
      if (this.signal.aborted) return;
      try {
        await this.listenNow();
        this.events.announce('listen', 'info', 'notification connection back', { up: true });
      } catch (err) {
        this.state.listening = false;
        this.events.log.debug({ err: messageOf(err) }, 'notification connection still down');
      }
    }
  }

  private async pollOnce(): Promise<void> {
    const n = await this.state.catchUp();
    this.state.listening = true;
    if (n > 0) this.on.state();
  }

  private async pollLoop(): Promise<void> {
    while (!this.signal.aborted) {
      await sleep(jitter(this.o.pollSeconds), undefined, { signal: this.signal }).catch(() => {});
      if (this.signal.aborted) return;
      try {
        await this.pollOnce();
      } catch (err) {
        // Until a read succeeds again, the cache does not count as fresh: reads go to PostgreSQL.
        this.state.listening = false;
        this.events.log.debug({ err: messageOf(err) }, 'could not read cache events; retrying');
      }
    }
  }
}
