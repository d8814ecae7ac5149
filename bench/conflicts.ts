// npm run bench:conflicts [-- --chats 3000 --rounds 3]
// The cost of conflict detection on a tenant without conflicts (with against without the marker trigger
// and the detection in the merge), and how fast a batch full of conflicts is resolved. Not a test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import postgres from 'postgres';
import { clientAdd } from '../src/ops/clients.ts';
import { setConflictConfig } from '../src/ops/conflicts.ts';
import { provision } from '../src/ops/provision.ts';
import { openPg } from '../src/pg/connect.ts';
import { startEmbedded } from '../src/pg/embedded.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { spawnModule, waitForLine } from '../src/util/child.ts';

const { values: args } = parseArgs({
  options: { chats: { type: 'string', default: '3000' }, rounds: { type: 'string', default: '3' } },
});
const CHATS = Number(args.chats);
const ROUNDS = Number(args.rounds);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-bench-c-'));
fs.chmodSync(dir, 0o755);
const CHILD = new URL('./conflicts-child.ts', import.meta.url);
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function run(url: string, name: string, full: boolean, detect: boolean) {
  const c = spawnModule(CHILD, [url, name, full ? 'full' : 'inc', detect ? 'on' : 'off']);
  const line = await waitForLine(c, (l) => l.startsWith('{'), 20 * 60_000);
  await new Promise((r) => c.once('exit', r));
  return JSON.parse(line) as {
    ms: number;
    totals: { conflicts: number; updated: number; inserted: number; rows_read: number };
  };
}

const pg = await startEmbedded({ dataDir: path.join(dir, 'pg') });
const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
try {
  await provision({ adminUrl: pg.url });
  const file = path.join(dir, 'webui.db');
  const db = createTenantDb(file);
  db.pragma('synchronous = OFF');
  seedTenant(db, { users: 30, chatsPerUser: Math.ceil(CHATS / 30), messagesPerChat: 6 });
  db.close();
  await clientAdd({ name: 'b', sqlitePath: file, adminUrl: pg.url });
  const rows = (await run(pg.url, 'b', true, true)).totals.rows_read;
  console.log(
    `owui-sync conflict benchmarks, ${new Date().toISOString()}; ${os.cpus().length} cores, Node ${process.version}, PostgreSQL 17 (embedded)`,
  );
  console.log(
    `tenant: ${CHATS} chats with 6 messages each, ${rows} rows in 43 tables; each figure is the median of ${ROUNDS} runs, each run in its own process`,
  );

  // Every row changed in SQLite (updated_at = now), none in PostgreSQL: the merge path for all rows.
  const touch = (round: number) => {
    const w = new Database(file);
    const at = Math.floor(Date.now() / 1000) + round;
    w.prepare('UPDATE chat SET title = title || ?, updated_at = ?').run('.', at);
    w.prepare('UPDATE chat_message SET updated_at = ?').run(at);
    w.close();
  };
  const setTrigger = async (on: boolean) => {
    const tables = await admin<
      { t: string }[]
    >`select table_name as t from information_schema.tables where table_schema = 'b'`;
    for (const { t } of tables) {
      await admin.unsafe(
        `CREATE OR REPLACE TRIGGER owui_sync_mark_change BEFORE INSERT OR UPDATE ON b."${t}" FOR EACH ROW WHEN (${on ? "current_setting('owui_sync.writer', true) IS DISTINCT FROM 'sync'" : 'false'}) EXECUTE FUNCTION sync_metadata.mark_target_change()`,
      );
    }
  };
  const times: Record<string, number[]> = { with: [], without: [] };
  let updated = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of ['with', 'without'] as const) {
      await setTrigger(mode === 'with');
      touch(r * 2 + (mode === 'with' ? 0 : 1) + 10);
      const res = await run(pg.url, 'b', false, mode === 'with');
      times[mode]!.push(res.ms);
      updated = res.totals.updated;
      if (res.totals.conflicts !== 0) throw new Error('unexpected conflicts');
    }
  }
  await setTrigger(true);
  const w = median(times.with!);
  const wo = median(times.without!);
  console.log(`incremental sync updating ${updated} rows, no conflicts:`);
  console.log(`  without the marker trigger and detection: ${(wo / 1000).toFixed(2)} s`);
  console.log(`  with conflict detection:                  ${(w / 1000).toFixed(2)} s`);
  console.log(`  overhead: ${(((w - wo) / wo) * 100).toFixed(1)}% (target < 10%)`);

  // A batch full of conflicts: every chat changed on both sides.
  for (const strategy of ['source_wins', 'newest_wins', 'merge'] as const) {
    const cfgFile = path.join(dir, `${strategy}.json`);
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        conflict_resolution: {
          default_strategy: 'newest_wins',
          table_strategies: {
            chat: strategy === 'merge' ? { strategy: 'merge', merge_rules: { chat: 'union' } } : { strategy },
          },
          resolution_log: { enabled: true, retention_days: 30, include_data_snapshot: true },
        },
      }),
    );
    const sql = await openPg(pg.url, 'bench');
    await setConflictConfig(sql, 'b', cfgFile);
    await sql.end();
    await admin`update b.chat set pinned = not coalesce(pinned, false)`; // someone else edits every chat
    touch(100 + ['source_wins', 'newest_wins', 'merge'].indexOf(strategy));
    const res = await run(pg.url, 'b', false, true);
    console.log(
      `batch full of conflicts, ${strategy.padEnd(11)}: ${res.totals.conflicts} conflicts resolved in ${(res.ms / 1000).toFixed(2)} s of sync = ${(res.totals.conflicts / (res.ms / 1000)).toFixed(0)} conflicts/s (the run also syncs ${res.totals.updated} other rows)`,
    );
  }
} finally {
  await admin.end();
  await pg.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
