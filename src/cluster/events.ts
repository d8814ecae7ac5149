import { EventEmitter } from 'node:events';
import type { Logger } from '../util/log.ts';

/**
 * What an agent announces: the moments an operator's log search, a script and a test wait for. The `event` field
 * of the log line is the stable name; the message beside it is for people and may change.
 */
export type AgentEventName =
  /** Connected, host and cluster found, loops running (`cluster`, `host`, `connection_mode`). */
  | 'started'
  /** The API answers (`address`). */
  | 'listening'
  /** This node took the lease (`term`). */
  | 'elected'
  /** This node gave the lease up without a shutdown: another node holds it, or it could not renew in time. */
  | 'stepped_down'
  /** A shutdown handed the lease to a peer (`handed_to`) or let it expire. */
  | 'resigned'
  /** One pass of the elector (`leader`, `term`), logged at debug: the steady state, for tests and tracing. */
  | 'round'
  /** A worker reclaimed a job whose node stopped renewing it (`from`). */
  | 'job_reclaimed'
  | 'sync_started'
  | 'sync_finished'
  | 'sync_failed'
  /** A run stopped because its claim or term is over: nothing more of it landed. */
  | 'fenced'
  /** The notification connection was lost (`up: false`) or is back (`up: true`). */
  | 'listen'
  /** Back from a gap: the cache events written meanwhile were applied (`events`). */
  | 'cache_replayed'
  /** A conflict notification's webhook did not take it (`webhook` origin, `error`, `log_id`): it is tried again. */
  | 'notification_failed'
  /** A round of conflict notifications failed before posting (the database, say): retried next round. */
  | 'notification_round_failed'
  | 'stopped';

export type EventFields = Record<string, unknown>;
type Level = 'debug' | 'info' | 'warn' | 'error';

/** The agent's events: each one a log line with an `event` field, and an in-process event with the same fields. */
export class AgentEvents extends EventEmitter<Record<AgentEventName, [EventFields]>> {
  constructor(readonly log: Logger) {
    super();
  }

  /** Log `event` at `level` (on `log`, a child logger with the job's fields, when given) and emit it. */
  announce(event: AgentEventName, level: Level, msg: string, fields: EventFields = {}, log: Logger = this.log): void {
    log[level]({ event, ...fields }, msg);
    this.emit(event, fields);
  }
}
