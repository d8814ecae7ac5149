import { messageOf } from '../util/errors.ts';
import { redactText } from '../util/redact.ts';

/**
 * Whether this node reaches PostgreSQL, as every loop of the agent last found it. /health reads it
 * (degraded, then unhealthy after a lease), and so does the owui_sync_database_up gauge.
 */
export class DbHealth {
  reachable = false;
  lastOkAt: Date | null = null;
  failingSince: number | null = null;
  error: string | null = null;

  constructor(private readonly gauge: (up: boolean) => void) {}

  mark(ok: boolean, err?: unknown): void {
    if (ok) {
      this.reachable = true;
      this.lastOkAt = new Date();
      this.failingSince = null;
      this.error = null;
    } else {
      this.reachable = false;
      this.failingSince ??= Date.now();
      this.error = redactText(messageOf(err));
    }
    this.gauge(ok);
  }
}
