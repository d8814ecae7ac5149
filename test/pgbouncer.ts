import { onCleanup, trackChild } from './helpers.ts';
import { type Bouncer, startPgBouncer as start } from './pgbouncer-process.ts';

export { PGBOUNCER } from './pgbouncer-process.ts';

/** A real PgBouncer for this test file (test/pgbouncer-process.ts), stopped after the file, by PID if need be. */
export async function startPgBouncer(o: Omit<Parameters<typeof start>[0], 'started'>): Promise<Bouncer> {
  const b = await start({ ...o, started: trackChild });
  onCleanup(b.stop);
  return b;
}
