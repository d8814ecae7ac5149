import crypto from 'node:crypto';
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
import { NODE_FLAGS } from '../util/memory.ts';
import { freePort } from '../util/net.ts';
import { codeModule, packagePath } from '../util/paths.ts';
import { clientAdd } from './clients.ts';
import { type ConflictRow, changeConflictConfig, listConflicts } from './conflicts.ts';
import { readNodeHealth } from './node-health.ts';
import { LocalNodes } from './nodes.ts';
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
  /** The other tenants, the agents and the writers that ran while `whileRunning` did. */
  clients: string[];
  nodes_file: string;
  agents: { node_id: string; role: string; url: string; log: string }[];
  leader: string | null;
}

/** What runs while the demo's `whileRunning` does: the menu on a terminal, a printout otherwise. */
export interface DemoServices {
  /** The host role's connection URL (with its password: for this process only, never printed). */
  hostUrl: string;
  adminUrl: string;
  host: string;
  nodes: LocalNodes;
  nodesFile: string;
}

/** The demo's agents: a lease of 10 s instead of 30, so a failover test takes seconds. */
const DEMO_TIMINGS = {
  LEASE_DURATION: '10',
  LEASE_RENEW_INTERVAL: '3',
  LEASE_RENEW_DEADLINE: '7',
  LEASE_RETRY_INTERVAL: '2',
  HEARTBEAT_INTERVAL: '5',
};

/**
 * The newcomer's first run: an embedded PostgreSQL, a generated Open WebUI tenant, provision,
 * register, sync, a live writer adding chats while it syncs again, a final sync and a verify.
 * Everything lives under dataDir; PostgreSQL is stopped at the end.
 */
export async function runDemo(opts: {
  dataDir: string;
  log: (s: string) => void;
  writerMs?: number;
  /** The agents' API ports: the legacy 9443 and 9444 by default when free; 0 picks a free one. */
  apiPorts?: [number, number];
  /** Runs while the three tenants' writers and both agents run; everything stops when it returns. */
  whileRunning?: (s: DemoServices, r: DemoResult) => Promise<void>;
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
  const writers: ReturnType<typeof spawnModule>[] = [];
  let nodes: LocalNodes | undefined;
  // Ctrl-C while the demo sets up: stop what it started (the finally below), then leave.
  const interrupted = new AbortController();
  const onSigint = () => interrupted.abort();
  process.once('SIGINT', onSigint);
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
      // Two more tenants, smaller, one with chats set to wait for review (and notify).
      const clients = [tenant];
      for (const [i, other] of ['chat-acme-com', 'chat-globex-com'].entries()) {
        const p2 = path.join(dataDir, 'openwebui', other, 'data', 'webui.db');
        fs.mkdirSync(path.dirname(p2), { recursive: true });
        const d2 = createTenantDb(p2, { journal: i === 0 ? 'wal' : 'rollback' });
        seedTenant(d2, { users: 3, chatsPerUser: 15, messagesPerChat: 4, seed: 11 + i });
        d2.close();
        await clientAdd({
          name: other,
          sqlitePath: p2,
          adminUrl: pg.url,
          host: 'demo-host',
          intervalSeconds: i ? 3600 : 60,
        });
        await runSync(sql, await getDeployment(sql, other), { triggeredBy: 'demo' });
        clients.push(other);
      }
      say(
        'clients',
        `registered ${clients.slice(1).join(' and ')} too (one in WAL mode, one with the rollback journal)`,
      );
      const reviewed = clients[1]!;
      await changeConflictConfig(sql, reviewed, { tables: { chat: 'manual' } });
      const rsql = await openPg(pg.url, 'the demo database');
      let pendingChat: string;
      try {
        const [row] = await rsql.unsafe(`SELECT id FROM ${JSON.stringify(reviewed)}.chat ORDER BY id LIMIT 1`);
        pendingChat = String(row!.id);
        await rsql.unsafe(`UPDATE ${JSON.stringify(reviewed)}.chat SET title = 'Edited in PostgreSQL' WHERE id = $1`, [
          pendingChat,
        ]);
      } finally {
        await rsql.end({ timeout: 5 });
      }
      const w3 = new Database(path.join(dataDir, 'openwebui', reviewed, 'data', 'webui.db'));
      w3.prepare('UPDATE chat SET title = ?, updated_at = ? WHERE id = ?').run(
        'Edited in Open WebUI',
        Math.floor(Date.now() / 1000) + 1,
        pendingChat,
      );
      w3.close();
      await runSync(sql, await getDeployment(sql, reviewed), { triggeredBy: 'demo' });
      say('conflict', `${reviewed}: chats wait for review (strategy manual); one does, chat ${pendingChat}`);
      const result: DemoResult = {
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
        clients,
        nodes_file: path.join(dataDir, 'nodes.json'),
        agents: [],
        leader: null,
      };
      if (!opts.whileRunning || interrupted.signal.aborted) return result;
      // The whole picture: a live writer per tenant (a chat every 2 s) and the HA pair, as local processes.
      for (const cl of clients) {
        const wp = spawnModule(codeModule('sqlite/writer-process'), [
          path.join(dataDir, 'openwebui', cl, 'data', 'webui.db'),
          '2000',
          '0',
          String(cl.length),
        ]);
        writers.push(wp);
        await waitForLine(wp, (l) => l === 'ready');
      }
      const jwtFile = path.join(dataDir, 'api_jwt_secret');
      fs.writeFileSync(jwtFile, `${crypto.randomBytes(48).toString('base64')}\n`, { mode: 0o600 });
      const bare = new URL(hostUrl.toString());
      bare.password = '';
      const specs = [];
      for (const [role, preferred] of [
        ['primary', opts.apiPorts?.[0] ?? 9443],
        ['secondary', opts.apiPorts?.[1] ?? 9444],
      ] as const) {
        const port = await freePort(preferred);
        specs.push({
          node_id: `demo-host-${role}`,
          role,
          argv: [
            process.execPath,
            ...NODE_FLAGS,
            packagePath('bin/owui-sync.js'),
            'agent',
            '--role',
            role,
            '--node-id',
            `demo-host-${role}`,
            '--port',
            String(port),
            '--host',
            'demo-host',
          ],
          env: {
            OWUI_SYNC_CONFIG: '',
            OWUI_SYNC_DATABASE_URL: bare.toString(),
            OWUI_SYNC_DATABASE_PASSWORD_FILE: secretFile,
            OWUI_SYNC_JWT_SECRET_FILE: jwtFile,
            LOG_FORMAT: 'json',
            NO_COLOR: '1',
            ...DEMO_TIMINGS,
          },
          log: path.join(dataDir, 'logs', `${role}.log`),
          url: `http://127.0.0.1:${port}`,
        });
      }
      nodes = LocalNodes.create(result.nodes_file, specs);
      for (const sp of specs) await nodes.start(sp.node_id);
      result.agents = specs.map((sp) => ({ node_id: sp.node_id, role: sp.role, url: sp.url, log: sp.log }));
      const t0 = Date.now();
      while (!result.leader && Date.now() - t0 < 30_000 && !interrupted.signal.aborted) {
        for (const sp of specs) {
          const a = await readNodeHealth(sp.url);
          if (a.up && a.health.is_leader) result.leader = sp.node_id;
        }
        if (!result.leader) await new Promise((r) => setTimeout(r, 200));
      }
      say(
        'agents',
        `${specs.map((sp) => `${sp.node_id} on ${sp.url}`).join(', ')}; leader ${result.leader ?? 'none yet'} (logs in ${path.join(dataDir, 'logs')})`,
      );
      say('writers', `a live writer per tenant adds a chat every 2 s`);
      if (!interrupted.signal.aborted)
        await opts.whileRunning(
          { hostUrl: hostUrl.toString(), adminUrl: pg.url, host: 'demo-host', nodes, nodesFile: result.nodes_file },
          result,
        );
      return result;
    } finally {
      await sql.end({ timeout: 5 });
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (writer && writer.exitCode === null) writer.kill('SIGKILL');
    for (const wp of writers) if (wp.exitCode === null) wp.kill('SIGTERM');
    await nodes?.stopAll().catch(() => {});
    await pg.stop();
  }
}
