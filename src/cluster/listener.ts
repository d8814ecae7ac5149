import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Sql } from '../pg/connect.ts';
import { messageOf } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { LEASE_CHANNEL } from './lease.ts';
import { JOBS_CHANNEL } from './queue.ts';
import { STATE_CHANNEL, type StateCache } from './state.ts';
import { jitter } from './wakeup.ts';

/**
 * The notification listener: one session-mode connection LISTENs on the lease, job and state channels. When
 * it drops, the state cache stops counting as fresh, and the connection is re-established at the retry
 * interval; on every (re)connect the cache_events written meanwhile are applied.
 */
export class Listener {
  private sql?: Sql;

  constructor(
    private readonly databaseUrl: string,
    private readonly nodeId: string,
    private readonly state: StateCache,
    private readonly retrySeconds: number,
    private readonly log: Logger,
    private readonly on: { lease: () => void; jobs: () => void },
    private readonly signal: AbortSignal,
  ) {}

  async open(): Promise<void> {
    this.sql = connect(this.databaseUrl, {
      what: 'the notification connection',
      max: 1,
      applicationName: `owui-sync listen ${this.nodeId}`,
      options: {
        idle_timeout: null,
        max_lifetime: null,
        onnotify: (channel: string, payload: string) => this.onNotify(channel, payload),
        onclose: () => {
          if (this.signal.aborted || !this.state.listening) return;
          this.state.listening = false;
          this.log.warn('notification connection lost; state is read from PostgreSQL until it is back');
          void this.relisten();
        },
      },
    });
    await this.listenNow();
  }

  async close(): Promise<void> {
    await this.sql?.end({ timeout: 1 }).catch(() => {});
  }

  private async listenNow(): Promise<void> {
    await this.sql!.unsafe(`LISTEN ${LEASE_CHANNEL}; LISTEN ${JOBS_CHANNEL}; LISTEN ${STATE_CHANNEL}`);
    // Notifications sent while we were not listening are lost: nothing cached before now may count as fresh
    // once `listening` is true again, not even until catchUp() below has read the missed events.
    this.state.invalidate();
    this.state.listening = true;
    const n = await this.state.catchUp();
    if (n > 0) this.log.info({ events: n }, 'applied cache events written while not listening');
  }

  private async relisten(): Promise<void> {
    while (!this.signal.aborted && !this.state.listening) {
      await sleep(jitter(this.retrySeconds), undefined, { signal: this.signal }).catch(() => {});
      if (this.signal.aborted) return;
      try {
        await this.listenNow();
        this.log.info('notification connection back');
      } catch (err) {
        this.state.listening = false;
        this.log.debug({ err: messageOf(err) }, 'notification connection still down');
      }
    }
  }

  private onNotify(channel: string, payload: string): void {
    if (channel === LEASE_CHANNEL) this.on.lease();
    else if (channel === JOBS_CHANNEL) this.on.jobs();
    else if (channel === STATE_CHANNEL) {
      this.state.invalidate();
      void this.state
        .catchUp()
        .catch((err) =>
          this.log.warn(
            { err: messageOf(err) },
            'could not mark cache events processed; they are applied again on reconnect',
          ),
        );
      this.log.debug({ payload }, 'state invalidated by notification');
    }
  }
}
