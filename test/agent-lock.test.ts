import { describe, expect, it } from 'vitest';
import { AgentProc, api, apiSecret } from './agents.ts';
import { setupTenant, tmpDir } from './helpers.ts';

// The agent's event loop never waits on SQLite: a sync's reads run in a reader thread, so /health and /metrics
// answer at once while the sync waits for a tenant whose write lock Open WebUI holds.

describe('the agent while Open WebUI holds its write lock', () => {
  it('answers /health and /metrics within 100 ms all along a 3 s lock, then syncs', async () => {
    // Open WebUI's default journal: a writer's EXCLUSIVE lock keeps readers out (in WAL mode nothing would wait).
    const t = await setupTenant({ name: 'locked', journal: 'rollback', seed: { users: 2, chatsPerUser: 5 } });
    const s = apiSecret(tmpDir());
    t.db.exec('BEGIN EXCLUSIVE');
    let locked = true;
    try {
      const a = await AgentProc.start(t, { role: 'primary', nodeId: 'lock-a', secretFile: s.file });
      // The first sync is due at once; it starts, and its reader waits for the lock.
      await a.waitFor((l) => l.event === 'sync_started', 20_000);
      // The first request of this test process to the agent opens its connection; it is not timed.
      await a.health();
      const health: number[] = [];
      const metrics: number[] = [];
      const t0 = performance.now();
      while (performance.now() - t0 < 3000) {
        let s0 = performance.now();
        expect((await a.health()).status).toBe(200);
        health.push(performance.now() - s0);
        s0 = performance.now();
        expect((await api(a.url, '/metrics')).status).toBe(200);
        metrics.push(performance.now() - s0);
        await new Promise((r) => setTimeout(r, 20));
      }
      // Nothing got through meanwhile: the sync was waiting on the lock all along.
      const [job] = await t.check`select status from sync_metadata.sync_jobs where client_name = 'locked'`;
      expect(job!.status).toBe('running');
      const [hMax, mMax] = [Math.max(...health), Math.max(...metrics)];
      console.log(
        `during a 3 s write lock: ${health.length} polls; /health max ${hMax.toFixed(1)} ms, /metrics max ${mMax.toFixed(1)} ms`,
      );
      expect(hMax).toBeLessThan(100);
      expect(mMax).toBeLessThan(100);
      // The agent's own view: its event loop never waited more than 100 ms since the last scrape (prom-client's
      // event loop delay histogram, reset at each scrape).
      const lag = Number((await api(a.url, '/metrics')).text.match(/^nodejs_eventloop_lag_max_seconds (\S+)$/m)?.[1]);
      expect(lag).toBeLessThan(0.1);
      t.db.exec('COMMIT');
      locked = false;
      await a.waitFor((l) => l.event === 'sync_finished', 20_000);
      expect((await t.verify()).identical).toBe(true);
      a.signal('SIGTERM');
      expect(await a.exited).toEqual({ code: 0, signal: null });
    } finally {
      if (locked) t.db.exec('ROLLBACK');
    }
  }, 60_000);
});
