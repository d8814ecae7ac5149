/** A wake-up that can be awaited with a timeout: a notification cuts an idle wait short. */
export class Wakeup {
  private waiters: (() => void)[] = [];

  fire(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Wake the longest waiter only: one queued job needs one worker of this node (the peer node's is woken too, and
   * one of the two gets it). Waking every idle worker for it only made each run a claim that found nothing.
   */
  fireOne(): void {
    this.waiters.shift()?.();
  }

  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        // Gone from the waiters whichever way it ended (a timeout, the signal, a fire), so fireOne wakes a live one.
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }
}

/** A delay of about `seconds` (±20%), so two nodes started together do not keep colliding. */
export function jitter(seconds: number): number {
  return Math.round(seconds * 1000 * (0.8 + Math.random() * 0.4));
}
