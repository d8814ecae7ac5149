import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openPg } from '../pg/connect.ts';
import { getDeployment } from '../pg/deployments.ts';
import { startEmbedded } from '../pg/embedded.ts';
import { createTenantDb, seedTenant } from '../sqlite/sample.ts';
import { runSync } from '../sync/engine.ts';
import type { SyncResult } from '../sync/result.ts';
import { type VerifyResult, verify } from '../sync/verify.ts';
import { spawnModule, waitForLine } from '../util/child.ts';
import { codeModule } from '../util/paths.ts';
import { clientAdd } from './clients.ts';
import { type ConflictRow, listConflicts } from './conflicts.ts';
import { provision } from './provision.ts';

export interface DemoStep {
  step: string;
  detail: string;
}

export interface DemoResult {
  data_dir: string;
  admin_url_file: string;
  tenant: string;
  sqlite_path: string;
  steps: DemoStep[];
  first_sync: SyncResult;
  live_sync: SyncResult;
  final_sync: SyncResult;
  verify: VerifyResult;
  writer: { writes: number; p99_ms: number; max_ms: number; errors: number };
  conflict: ConflictRow | null;
}

/**
 * The newcomer's first run: an embedded PostgreSQL, a generated Open WebUI tenant, provision,
 * register, sync, a live writer adding chats while it syncs again, a final sync and a verify.
 * Everything lives under dataDir; PostgreSQL is stopped at the end.
 */
export async function runDemo(opts: {
  dataDir: string;
  log: (s: string) => void;
  writerMs?: number;
}): Promise<DemoResult> {
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  const steps: DemoStep[] = [];
  const say = (step: string, detail: string) => {
    steps.push({ step, detail });
    opts.log(`${step.padEnd(10)} ${detail}`);
  };
  const pg = await startEmbedded({ dataDir: path.join(dataDir, 'postgres') });
  const adminUrlFile = path.join(dataDir, 'admin-url');
  fs.writeFileSync(adminUrlFile, `${pg.url}\n`, { mode: 0o600 });
  let writer: ReturnType<typeof spawnModule> | undefined;
  try {
    say('postgres', `PostgreSQL 17 (embedded) on 127.0.0.1:${pg.port}, pid ${pg.pid}, data in ${pg.dataDir}`);
    const tenant = 'demo-tenant';
    const sqlitePath = path.join(dataDir, 'openwebui', tenant, 'data', 'webui.db');
    fs.mkdirSync(path.dirname(sqlitePath), { recursive: true });
    const db = createTenantDb(sqlitePath, { journal: 'wal' });
    const seeded = seedTenant(db, {
      users: 5,
      chatsPerUser: 40,
      messagesPerChat: 6,
      adversarial: true,
      bigChatBytes: 2_000_000,
    });
    db.close();
    say(
      'tenant',
      `generated Open WebUI v0.11 tenant ${sqlitePath} (${seeded.userIds.length} users, ${seeded.chatIds.length} chats, NUL bytes, emoji, a 2 MB chat)`,
    );
    const secretFile = path.join(dataDir, 'db_sync_password');
    fs.rmSync(secretFile, { force: true });
    const p = await provision({ adminUrl: pg.url, host: 'demo-host', secretFile });
    say(
      'provision',
      `sync_metadata at version ${p.schema_version}; host demo-host with role ${p.host!.role} (password in ${secretFile}, mode 0600)`,
    );
    const add = await clientAdd({ name: tenant, sqlitePath, adminUrl: pg.url, host: 'demo-host' });
    say(
      'client',
      `registered "${tenant}": schema with ${add.tables_created} mirror tables, granted to ${add.role} only`,
    );
    // The syncs run as the host role, as the agents do: no DELETE, no DDL, only this host's rows.
    const hostUrl = new URL(pg.url);
    hostUrl.username = p.host!.role;
    hostUrl.password = encodeURIComponent(fs.readFileSync(secretFile, 'utf8').trim());
    const sql = await openPg(hostUrl.toString(), 'the demo host role');
    try {
      const dep = () => getDeployment(sql, tenant);
      const first = await runSync(sql, await dep(), { triggeredBy: 'demo' });
      say(
        'sync',
        `${first.kind}: ${first.totals.inserted} rows inserted in ${first.tables.length} tables, ${first.totals.raw_values} values kept in raw form, ${first.duration_ms} ms`,
      );
      writer = spawnModule(codeModule('sqlite/writer-process'), [sqlitePath, '20', '0', '7']);
      await waitForLine(writer, (l) => l === 'ready');
      await new Promise((r) => setTimeout(r, opts.writerMs ?? 1500));
      const live = await runSync(sql, await dep(), { triggeredBy: 'demo' });
      say(
        'sync',
        `${live.kind} while a writer adds chats: ${live.totals.inserted} inserted, ${live.totals.updated} updated, ${live.duration_ms} ms`,
      );
      const w = writer;
      const report = waitForLine(w, (l) => l.startsWith('{'));
      w.kill('SIGTERM');
      const writerStats = JSON.parse(await report) as DemoResult['writer'];
      writer = undefined;
      say(
        'writer',
        `stopped after ${writerStats.writes} chats (write p99 ${writerStats.p99_ms.toFixed(1)} ms, max ${writerStats.max_ms.toFixed(1)} ms, ${writerStats.errors} errors)`,
      );
      const final = await runSync(sql, await dep(), { triggeredBy: 'demo' });
      say(
        'sync',
        `${final.kind}: ${final.totals.inserted} inserted, ${final.totals.updated} updated, ${final.duration_ms} ms`,
      );
      const v = await verify(sql, await dep());
      say(
        'verify',
        `${v.identical ? 'identical' : `${v.differences_total} differences`}: ${v.rows_checked} rows in ${v.tables_checked} tables compared value by value`,
      );
      // A conflict: the same chat retitled in PostgreSQL (by someone else) and in Open WebUI.
      const chatId = seeded.chatIds[0]!;
      const admin = await openPg(pg.url, 'the demo database');
      try {
        await admin.unsafe(`UPDATE ${JSON.stringify(tenant)}.chat SET title = 'Retitled in PostgreSQL' WHERE id = $1`, [
          chatId,
        ]);
      } finally {
        await admin.end({ timeout: 5 });
      }
      const w2 = new Database(sqlitePath);
      w2.prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?').run(
        'Retitled in Open WebUI',
        Math.floor(Date.now() / 1000),
        chatId,
      );
      w2.close();
      const conflictRun = await runSync(sql, await dep(), { triggeredBy: 'demo' });
      const [c] = await listConflicts(sql, { client: tenant, limit: 1 });
      say(
        'conflict',
        `chat ${chatId} changed on both sides: ${conflictRun.totals.conflicts} conflict, strategy ${c?.resolution_strategy}, winner ${c?.winner} (owui-sync conflicts list ${tenant})`,
      );
      return {
        data_dir: dataDir,
        admin_url_file: adminUrlFile,
        tenant,
        sqlite_path: sqlitePath,
        steps,
        first_sync: first,
        live_sync: live,
        final_sync: final,
        verify: v,
        writer: writerStats,
        conflict: c ?? null,
      };
    } finally {
      await sql.end({ timeout: 5 });
    }
  } finally {
    if (writer && writer.exitCode === null) writer.kill('SIGKILL');
    await pg.stop();
  }
}
