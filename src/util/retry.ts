import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  isTransient: (err: unknown) => boolean;
  /**
   * Attempts in all. With the defaults the last try comes about a minute after the first:
   * long enough to ride out a PostgreSQL restart or a pooler failover, short enough that a
   * scheduled run reports a real outage before the next one is due.
   */
  attempts?: number;
  baseMs?: number;
  capMs?: number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/**
 * Run fn, retrying transient failures with exponential backoff and full jitter. An abort (Ctrl-C, a node
 * shutting down) ends the wait at once and throws the last error, so the caller reports what was failing.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const attempts = o.attempts ?? 8;
  const base = o.baseMs ?? 250;
  const cap = o.capMs ?? 15_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !o.isTransient(err) || o.signal?.aborted) throw err;
      const delay = Math.round(Math.random() * Math.min(cap, base * 2 ** (attempt - 1)));
      o.onRetry?.(err, attempt, delay);
      const aborted = await sleep(delay, false, { signal: o.signal }).catch(() => true);
      if (aborted) throw err;
    }
  }
}
