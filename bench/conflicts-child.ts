// One sync in its own process for bench/conflicts.ts: prints { ms, totals }.
import { openPg } from '../src/pg/connect.ts';
import { getDeployment } from '../src/pg/deployments.ts';
import { runSync } from '../src/sync/engine.ts';

const [url, name, full, detect] = process.argv.slice(2);
const sql = await openPg(url!, 'bench', 1);
try {
  const t0 = performance.now();
  const r = await runSync(sql, await getDeployment(sql, name!), {
    full: full === 'full',
    detectConflicts: detect !== 'off',
    triggeredBy: 'bench',
  });
  if (r.status !== 'success') throw new Error(r.error);
  process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, totals: r.totals })}\n`);
} finally {
  await sql.end({ timeout: 5 });
}
