// Runs one sync (or the COPY baseline) in its own process and prints one JSON line with the result and
// the process's peak RSS, so the benchmark measures the sync alone.
import { openPg } from '../src/pg/connect.ts';
import { getDeployment } from '../src/pg/deployments.ts';
import { runSync } from '../src/sync/engine.ts';
import { syncSettings } from '../src/util/settings.ts';
import { cliCopyBaseline, copyBaseline } from './copy-baseline.ts';
import { cursorRead } from './cursor-baseline.ts';

const [mode, url, name, sqlitePath] = process.argv.slice(2);
const sql = await openPg(url!, 'bench', 1);
const t0 = performance.now();
const peak = { heapTotal: 0, external: 0, arrayBuffers: 0, rss: 0 };
const sampler = process.env.OWUI_BENCH_MEM
  ? setInterval(() => {
      const m = process.memoryUsage();
      if (m.rss > peak.rss)
        Object.assign(peak, { heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss });
    }, 20)
  : null;
try {
  if (mode === 'copy' || mode === 'copy-cli') {
    const r = mode === 'copy' ? await copyBaseline(sql, sqlitePath!) : await cliCopyBaseline(url!, sqlitePath!);
    process.stdout.write(
      `${JSON.stringify({ ms: performance.now() - t0, ...r, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
    );
  } else if (mode === 'cursor-read') {
    const r = await cursorRead(sql, await getDeployment(sql, name!), sqlitePath!);
    process.stdout.write(
      `${JSON.stringify({ ms: performance.now() - t0, ...r, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
    );
  } else {
    const r = await runSync(sql, await getDeployment(sql, name!), {
      ...syncSettings(),
      full: mode === 'full',
      triggeredBy: 'bench',
    });
    if (r.status !== 'success') throw new Error(r.error);
    process.stdout.write(
      `${JSON.stringify({
        ms: performance.now() - t0,
        kind: r.kind,
        totals: r.totals,
        light_rows: r.tables.reduce((n, x) => n + (x.light_rows ?? 0), 0),
        light_changed: r.tables.reduce((n, x) => n + (x.light_changed ?? 0), 0),
        maxRssMb: process.resourceUsage().maxRSS / 1024,
      })}\n`,
    );
  }
} finally {
  if (sampler) {
    clearInterval(sampler);
    const f = (n: number) => Math.round(n / 1048576);
    process.stderr.write(
      `at peak rss ${f(peak.rss)} MB: heapTotal ${f(peak.heapTotal)}, external ${f(peak.external)}, arrayBuffers ${f(peak.arrayBuffers)}\n`,
    );
  }
  await sql.end({ timeout: 5 });
}
