// npm run bench:agent [-- --trials 10] [-- --deployments 200] [-- --rounds 3] [-- --lease 30]
// The HA agent's figures, each with its conditions and a baseline measured in the same run:
//  - takeover after kill -9 and after SIGTERM of the leader (median and max over N trials each);
//  - scheduler precision: how late jobs start, with 200 deployments at a 1-minute interval on one host.
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Lease } from '../src/cluster/lease.ts';
import { clientAdd } from '../src/ops/clients.ts';
import { provision } from '../src/ops/provision.ts';
import { openPg } from '../src/pg/connect.ts';
import { startEmbedded } from '../src/pg/embedded.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    deployments: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    lease: { type: 'string', default: '30' },
    dir: { type: 'string' },
  },
});
const TRIALS = Number(args.trials);
const DEPLOYMENTS = Number(args.deployments);
const ROUNDS = Number(args.rounds);
const LEASE = Number(args.lease);
const dir = args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'owui-bench-agent-'));
fs.mkdirSync(dir, { recursive: true });
fs.chmodSync(dir, 0o755);
const BIN = new URL('../bin/owui-sync.js', import.meta.url).pathname;

const lines: string[] = [];
function report(s: string) {
  lines.push(s);
  console.log(s);
}
const fmt = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

const pg = await startEmbedded({ dataDir: path.join(dir, 'pg') });
const children = new Set<ChildProcess>();
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
};
process.on('exit', cleanup);
try {
  await provision({ adminUrl: pg.url });
  const host = 'bench-host';
  const secretFile = path.join(dir, 'db_sync_password');
  const prov = await provision({ adminUrl: pg.url, host, secretFile });
  const u = new URL(pg.url);
  u.username = prov.host!.role;
  u.password = '';
  const jwtFile = path.join(dir, 'api_jwt_secret');
  fs.writeFileSync(jwtFile, crypto.randomBytes(48).toString('base64'), { mode: 0o600 });
  const admin = await openPg(pg.url, 'bench admin');
  const timing = {
    LEASE_DURATION: String(LEASE),
    LEASE_RENEW_INTERVAL: String(LEASE / 3),
    LEASE_RENEW_DEADLINE: String((LEASE * 2) / 3),
    LEASE_RETRY_INTERVAL: String(LEASE / 6),
  };
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'warn',
    OWUI_SYNC_DATABASE_URL: u.toString(),
    OWUI_SYNC_DATABASE_PASSWORD_FILE: secretFile,
    OWUI_SYNC_JWT_SECRET_FILE: jwtFile,
    ...timing,
  };

  // One template tenant, copied: small, so the figures are about the agent, not the sync.
  const template = path.join(dir, 'template.db');
  const tdb = createTenantDb(template);
  seedTenant(tdb, { users: 1, chatsPerUser: 3 });
  tdb.close();
  const tenant = (name: string) => {
    const p = path.join(dir, name, 'webui.db');
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.copyFileSync(template, p);
    return p;
  };

  interface Node {
    id: string;
    role: 'primary' | 'secondary';
    port: number;
    child?: ChildProcess;
  }
  const nodes: Node[] = [
    { id: 'bench-a', role: 'primary', port: 19443 },
    { id: 'bench-b', role: 'secondary', port: 19444 },
  ];
  const start = async (n: Node) => {
    const c = spawn(
      process.execPath,
      [BIN, 'agent', '--role', n.role, '--node-id', n.id, '--port', String(n.port), '--host', host],
      { env, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.add(c);
    c.on('exit', () => children.delete(c));
    n.child = c;
    await until(n, (h) => h.node_id === n.id, 30_000);
  };
  const health = async (n: Node) => {
    const r = await fetch(`http://127.0.0.1:${n.port}/health`, { signal: AbortSignal.timeout(1000) });
    return (await r.json()) as Record<string, unknown>;
  };
  async function until(n: Node, pred: (h: Record<string, unknown>) => boolean, timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      try {
        if (pred(await health(n))) return performance.now() - t0;
      } catch {
        /* not up yet */
      }
      await sleep(10);
    }
    throw new Error(`${n.id}: condition not met within ${timeoutMs} ms`);
  }

  report(`# owui-sync agent benchmark, ${new Date().toISOString()}`);
  report(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, embedded PostgreSQL 17 over loopback`,
  );
  report(
    `lease ${LEASE} s, renew every ${fmt(LEASE / 3)} s, renew deadline ${fmt((LEASE * 2) / 3)} s, follower retry ${fmt(LEASE / 6)} s with +-20% jitter; two agent processes on this machine`,
  );

  // ---- baseline: one lease statement's round trip (the floor of any handover)
  const base = new Lease(admin as never, 'baseline-cluster', 'baseline-node', LEASE);
  const rtts: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await base.tryAcquire();
    rtts.push(performance.now() - t0);
  }
  report(
    `\nbaseline: one lease acquire/renew statement, 200 calls: median ${fmt(pct(rtts, 50), 2)} ms, p99 ${fmt(pct(rtts, 99), 2)} ms`,
  );

  // ---- takeover
  await start(nodes[0]!);
  await until(nodes[0]!, (h) => h.is_leader === true, 30_000);
  await start(nodes[1]!);
  await until(nodes[1]!, (h) => h.leader_id === 'bench-a', 30_000);
  let leader = nodes[0]!;
  let follower = nodes[1]!;
  for (const kind of TRIALS > 0 ? (['crash', 'graceful'] as const) : []) {
    const times: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      // Kill at a random point of the renew cycle, as a real crash would.
      await sleep(Math.random() * (LEASE / 3) * 1000);
      const exited = new Promise((r) => leader.child!.once('exit', r));
      const t0 = performance.now();
      leader.child!.kill(kind === 'crash' ? 'SIGKILL' : 'SIGTERM');
      await until(follower, (h) => h.is_leader === true, (LEASE * 2 + 10) * 1000);
      times.push(performance.now() - t0);
      await exited;
      process.stdout.write(`  ${kind} trial ${i + 1}/${TRIALS}: ${fmt(times.at(-1)! / 1000, 2)} s\n`);
      await start(leader);
      await until(leader, (h) => h.leader_id === follower.id && h.is_leader === false, 30_000);
      [leader, follower] = [follower, leader];
    }
    report(
      `takeover after ${kind === 'crash' ? 'kill -9' : 'SIGTERM'} of the leader (${TRIALS} trials, follower polled every 10 ms): median ${fmt(pct(times, 50) / 1000, 2)} s, max ${fmt(Math.max(...times) / 1000, 2)} s` +
        (kind === 'crash'
          ? ` (bound: lease + retry = ${fmt(LEASE + (LEASE / 6) * 1.2, 1)} s)`
          : ' (target: under 5 s)'),
    );
  }

  // ---- scheduler precision
  // Baseline: one deployment due every 2 s on the otherwise idle pair.
  await clientAdd({ name: 'base', sqlitePath: tenant('base'), adminUrl: pg.url, host, intervalSeconds: 60 });
  await admin`update sync_metadata.client_deployments set sync_interval = 2, next_sync_at = null where client_name = 'base'`;
  await sleep(21_000);
  await admin`update sync_metadata.client_deployments set sync_enabled = false where client_name = 'base'`;
  const baseLate = (
    await admin<{ late: number }[]>`
      select extract(epoch from (started_at::timestamptz - available_at))::float * 1000 as late
      from sync_metadata.sync_jobs where client_name = 'base' and triggered_by = 'schedule' and status = 'success' and available_at > now() - interval '18 seconds'`
  ).map((r) => r.late);
  report(
    `\nscheduler baseline: 1 deployment due every 2 s on the idle pair, ${baseLate.length} jobs: start late by p50 ${fmt(pct(baseLate, 50), 0)} ms, p99 ${fmt(pct(baseLate, 99), 0)} ms, max ${fmt(Math.max(...baseLate), 0)} ms`,
  );

  process.stdout.write(`  registering ${DEPLOYMENTS} tenants ...\n`);
  const t0 = performance.now();
  for (let i = 0; i < DEPLOYMENTS; i++) {
    const name = `t${String(i).padStart(3, '0')}`;
    await clientAdd({ name, sqlitePath: tenant(name), adminUrl: pg.url, host, intervalSeconds: 60 });
    await admin`update sync_metadata.client_deployments set sync_enabled = false where client_name = ${name}`;
    if ((i + 1) % 50 === 0)
      process.stdout.write(`  ${i + 1}/${DEPLOYMENTS} (${fmt((performance.now() - t0) / 1000, 0)} s)\n`);
  }
  // All due at once, as when a host's deployments are added together.
  await admin`update sync_metadata.client_deployments set sync_enabled = true, next_sync_at = null where client_name like 't%'`;
  const began = Date.now();
  await sleep((ROUNDS * 60 + 15) * 1000);
  const jobs = await admin<{ late: number; seconds: number; status: string; due: Date }[]>`
    select extract(epoch from (started_at::timestamptz - available_at))::float * 1000 as late, duration_seconds::float as seconds, status, available_at as due
    from sync_metadata.sync_jobs where client_name like 't%' and triggered_by = 'schedule' and status <> 'pending' order by available_at`;
  const first = jobs.filter((j) => j.due.getTime() < began + 30_000);
  const catchUp = jobs.filter((j) => j.due.getTime() >= began + 30_000 && j.due.getTime() < began + 60_000);
  const steady = jobs.filter((j) => j.due.getTime() >= began + 60_000);
  type Job = { late: number; seconds: number; status: string; due: Date };
  const show = (label: string, js: Job[]) =>
    report(
      `${label}: ${js.length} jobs (${js.filter((j) => j.status !== 'success').length} not successful): start late by p50 ${fmt(
        pct(
          js.map((j) => j.late),
          50,
        ),
        0,
      )} ms, p99 ${fmt(
        pct(
          js.map((j) => j.late),
          99,
        ),
        0,
      )} ms, max ${fmt(Math.max(...js.map((j) => j.late)), 0)} ms; run p50 ${fmt(
        pct(
          js.map((j) => j.seconds * 1000),
          50,
        ),
        0,
      )} ms`,
    );
  report(
    `\nscheduler: ${DEPLOYMENTS} deployments at a 1-minute interval on one host, all first due at the same moment; 2 agents x 2 workers; ${ROUNDS} minutes`,
  );
  show('  first round (full syncs of new tenants)', first);
  show('  second runs due while the first round was still being worked off (30-60 s)', catchUp);
  show('  after the first minute (incremental, nothing changed)', steady);

  for (const n of nodes) n.child?.kill('SIGTERM');
  await sleep(3000);
  await admin.end();
} finally {
  cleanup();
  await pg.stop();
  fs.mkdirSync(new URL('./out/', import.meta.url), { recursive: true });
  fs.writeFileSync(new URL('./out/agent-last-run.txt', import.meta.url), `${lines.join('\n')}\n`);
  if (!args.dir) fs.rmSync(dir, { recursive: true, force: true });
}
