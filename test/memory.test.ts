import { spawn } from 'node:child_process';
import fs from 'node:fs';
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { addChat, rng } from '../src/sqlite/sample.ts';
import { NODE_FLAGS, softHeapLimit, youngRoom } from '../src/util/memory.ts';
import { BIN, ROOT, setupTenant, trackChild } from './helpers.ts';

// A sync's memory stays bounded (issue 13): the executable's V8 options, the soft heap limits of the sync's
// threads, and page buffers that go back to the reader thread. bench/engine.ts measures the peaks on the
// benchmark tenants; this is the guard that fails when one of the three is lost.

/** Peak RSS (VmHWM) of a running process, in MB, read until it exits. */
async function runWatchingPeak(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string; peakMb: number }> {
  const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(c.pid!);
  let stdout = '';
  let stderr = '';
  c.stdout.on('data', (d) => {
    stdout += d;
  });
  c.stderr.on('data', (d) => {
    stderr += d;
  });
  let peakMb = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8'));
      if (m) peakMb = Math.max(peakMb, Number(m[1]) / 1024);
    } catch {
      // exited between two polls
    }
  }, 25);
  const code = await new Promise<number | null>((r) => c.once('close', r));
  clearInterval(poll);
  return { code, stdout, stderr, peakMb };
}

describe('memory', () => {
  it('a soft heap limit collects once the heap grew by its headroom, and not before', () => {
    const check = softHeapLimit(8 * 1024 * 1024);
    expect(check()).toBe(false);
    // Garbage in the old generation: kept alive across allocations, then dropped.
    let keep: string[] | null = [];
    for (let i = 0; i < 40_000; i++) keep.push(`${i}:${'x'.repeat(400)}`.slice(1));
    const held = v8.getHeapStatistics().used_heap_size;
    keep = null;
    expect(check()).toBe(true);
    // It did collect: most of the 16 MB of strings is gone.
    expect(v8.getHeapStatistics().used_heap_size).toBeLessThan(held - 8 * 1024 * 1024);
    expect(check()).toBe(false);
  });

  it('makes room in the young generation before a read statement: a scavenge when it has less than asked, else none', () => {
    const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!;
    const ask = Math.floor(young().space_size / 8);
    // Garbage in the young generation until less than `ask` is left.
    let junk = '';
    while (young().space_available_size >= ask) junk = `${junk.length}:${'y'.repeat(2000)}`.slice(1);
    const full = young().space_used_size;
    youngRoom(ask);
    expect(young().space_available_size).toBeGreaterThanOrEqual(ask);
    expect(young().space_used_size).toBeLessThan(full);
    // With the room there, nothing is collected.
    const used = young().space_used_size;
    youngRoom(1024);
    expect(young().space_used_size).toBeGreaterThanOrEqual(used);
    expect(junk.length).toBeGreaterThan(0);
  });

  it('the executable starts Node with its V8 options, run as a program or from the container image', () => {
    const line = fs.readFileSync(BIN, 'utf8').split('\n')[1]!;
    expect(line).toBe(`":" //; exec node ${NODE_FLAGS.join(' ')} "$0" "$@"`);
    const docker = fs.readFileSync(`${ROOT}/templates/Dockerfile`, 'utf8');
    expect(docker).toContain(`ENTRYPOINT ["node", ${NODE_FLAGS.map((f) => `"${f}"`).join(', ')}, "/opt/owui-sync/bin/`);
  });

  it("a full sync's peak RSS stays under 150 MB, and verify's under 115 MB (the executable run as a program, 20,000 rows)", async () => {
    const t = await setupTenant({ name: 'mem', seed: { users: 20, chatsPerUser: 1 } });
    const r = rng(7);
    t.db.pragma('synchronous = OFF');
    t.db.transaction(() => {
      for (let i = 0; i < 2000; i++)
        addChat(t.db, r, {
          userId: t.userIds[i % t.userIds.length]!,
          messages: 9,
          padBytes: 3000,
          at: 1_700_000_000 + i,
        });
    })();
    const res = await runWatchingPeak(BIN, ['sync', 'mem', '--full', '--json'], { ...process.env, ...t.hostEnv });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout).totals.rows_read).toBeGreaterThan(20_000);
    expect(res.peakMb).toBeGreaterThan(40); // it was measured
    expect(res.peakMb).toBeLessThan(150);
    // verify reads values on both sides, page by page, under the same soft heap limit.
    const v = await runWatchingPeak(BIN, ['verify', 'mem', '--json'], { ...process.env, ...t.hostEnv });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ identical: true, rows_checked: expect.any(Number) });
    console.log(`peak RSS: full sync ${Math.round(res.peakMb)} MB, verify ${Math.round(v.peakMb)} MB`);
    expect(v.peakMb).toBeGreaterThan(40);
    // Measured 91 to 92 MB; 129 to 136 MB without the limit (pages of 8 MB, no collection between pages).
    expect(v.peakMb).toBeLessThan(115);
  }, 120_000);
});
