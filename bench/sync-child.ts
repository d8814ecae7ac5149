// Runs one sync (or the COPY baseline) in its own process and prints one JSON line with the result and
// the process's peak RSS, so the benchmark measures the sync alone.
import { openPg } from '../src/pg/connect.ts';
import { getDeployment } from '../src/pg/deployments.ts';
import { runSync } from '../src/sync/engine.ts';
import { copyBaseline } from './copy-baseline.ts';

const [mode, url, name, sqlitePath] = process.argv.slice(2);
const sql = await openPg(url!, 'bench', 1);
const t0 = performance.now();
try {
  if (mode === 'copy') {
    const r = await copyBaseline(sql, sqlitePath!);
    process.stdout.write(
      `${JSON.stringify({ ms: performance.now() - t0, ...r, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
    );
  } else {
    const r = await runSync(sql, await getDeployment(sql, name!), { full: mode === 'full', triggeredBy: 'bench' });
    if (r.status !== 'success') throw new Error(r.error);
    process.stdout.write(
      `${JSON.stringify({
        ms: performance.now() - t0,
        kind: r.kind,
        totals: r.totals,
        maxRssMb: process.resourceUsage().maxRSS / 1024,
      })}\n`,
    );
  }
} finally {
  await sql.end({ timeout: 5 });
}
