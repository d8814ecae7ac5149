/** A wake-up that can be awaited with a timeout: a notification cuts an idle wait short. */
export class Wakeup {
  private waiters: (() => void)[] = [];

  fire(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
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
