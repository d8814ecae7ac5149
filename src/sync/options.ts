import type { Tx } from '../pg/connect.ts';
import type { SyncSettings } from '../util/settings.ts';
import type { Progress } from './result.ts';
import type { WriterHooks } from './writer.ts';

export interface SyncOptions extends SyncSettings {
  /** Full scan of every table (also a reconciliation pass). */
  full?: boolean;
  triggeredBy?: string;
  /** Rows per batch (one transaction). At most 1000. */
  batchRows?: number;
  /** Bytes per batch, roughly (a single larger row is a batch of its own). */
  batchBytes?: number;
  hooks?: WriterHooks;
  /** Conflict detection (default on). Off only to measure its cost in bench/. */
  detectConflicts?: boolean;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /**
   * A job the agent claimed from the queue: the run records itself in that row instead of a new one,
   * and `fence` runs in every transaction that writes (last in each batch, right before COMMIT; first
   * for the job row and the final bookkeeping). When it throws FencedError the run stops and writes
   * nothing more.
   */
  job?: { id: string; fence: (tx: Tx) => Promise<void> };
  /**
   * The longest a batch transaction may stay idle before the server ends it (the agent's renew interval): a
   * paused process must not hold its rows' locks, nor the lease row, for as long as its pause. Set inside each
   * batch's transaction, so it needs no session setting. Unset: the server's own limit.
   */
  idleTransactionMs?: number;
}

export const DEFAULTS = { batchRows: 1000, batchBytes: 16 << 20 };

/** The options of a run with every default filled in. */
export type RunOptions = SyncOptions & typeof DEFAULTS;
