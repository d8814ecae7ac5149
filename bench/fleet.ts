// npm run bench:fleet [-- --hosts 10,50,200] [-- --tenants 20] [-- --measure 60] [-- --base a0a1d8e]
// A fleet on one PostgreSQL (docs/fleet.md): N simulated hosts, each a pair of agents (the real Agent class, its
// real connections, lease, scheduler, claims and runs) with 20 tenants at a 1-minute interval, against one
// PostgreSQL with max_connections = 120. For each N, three ways of connecting, in the same run:
//  - today: the code before the fleet work (--base, checked out beside this tree), direct connections;
//  - session: this tree, direct connections (LISTEN);
//  - transaction: this tree in transaction mode through a real PgBouncer (transaction pooling, at most 100
//    server connections), as through Supabase's transaction pooler.
// Figures: PostgreSQL connections of the hosts' roles (peak and median while syncing, and idle with every
// deployment paused), statements per second (pg_stat_statements, the hosts' roles), claims per job, and the
// scheduler's start delay (a job's start minus its due time: p50, p99). Agents that could not start (PostgreSQL
// refused the connection) are counted.
//
// The tenants are one small SQLite file shared by every deployment, registered as synced with it: each
// scheduled run is the steady state of a fleet whose tenants did not change since the last minute (the run's
// bookkeeping on its own connection, its fingerprint check, no table read). What a changed tenant costs is
// bench/engine.ts's.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { provision } from '../src/ops/provision.ts';
import { openPg } from '../src/pg/connect.ts';
import { startEmbedded } from '../src/pg/embedded.ts';
import { fingerprint } from '../src/sqlite/fingerprint.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { PGBOUNCER, startPgBouncer } from '../test/pgbouncer-process.ts';

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10,50,200' },
    tenants: { type: 'string', default: '20' },
    interval: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '20' },
    measure: { type: 'string', default: '60' },
    base: { type: 'string', default: 'a0a1d8e' },
    ways: { type: 'string', default: 'today,session,transaction' },
    'max-connections': { type: 'string', default: '120' },
    'pooler-connections': { type: 'string', default: '100' },
    'pool-size': { type: 'string', default: '1' },
    'server-idle': { type: 'string', default: '1' },
    dir: { type: 'string' },
  },
});
const SIZES = args.hosts.split(',').map(Number);
const TENANTS = Number(args.tenants);
const INTERVAL = Number(args.interval);
const WARMUP = Number(args.warmup);
const MEASURE = Number(args.measure);
const MAX_CONN = Number(args['max-connections']);
const POOLER_CONN = Number(args['pooler-connections']);
const WAYS = args.ways.split(',') as Way[];
type Way = 'today' | 'session' | 'transaction';
const HOSTS_PER_PROCESS = 100;

const ROOT = path.resolve(import.meta.dirname, '..');
const dir = args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'owui-bench-fleet-'));
fs.mkdirSync(dir, { recursive: true });
fs.chmodSync(dir, 0o755);
const lines: string[] = [];
/** The statements each way sends most (bench/out/fleet-statements.txt). */
const tops: string[] = [];
const report = (s: string) => {
  lines.push(s);
  console.log(s);
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN;
};
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');

// Today's code: the base commit, checked out beside this tree, sharing its node_modules.
let baseRoot: string | null = null;
if (WAYS.includes('today')) {
  baseRoot = path.join(dir, 'base');
  execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--detach', '-f', baseRoot, args.base], { stdio: 'ignore' });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(baseRoot, 'node_modules'));
}

const pg = await startEmbedded({
  dataDir: path.join(dir, 'pg'),
  durable: false,
  settings: { max_connections: String(MAX_CONN), shared_preload_libraries: 'pg_stat_statements' },
});
const children = new Set<ChildProcess>();
let bouncerStop: (() => Promise<void>) | null = null;
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
};
process.on('exit', cleanup);

try {
  const admin = await openPg(pg.url, 'bench admin', 2);
  await admin`create extension if not exists pg_stat_statements`;
  await provision({ adminUrl: pg.url });
  // One small tenant, shared by every deployment (each is registered as synced with it).
  const tenant = path.join(dir, 'webui.db');
  const db = createTenantDb(tenant);
  seedTenant(db, { users: 2, chatsPerUser: 2 });
  db.close();
  const fp = fingerprint(tenant);

  const most = Math.max(...SIZES);
  const t0 = performance.now();
  const hosts: { host: string; role: string; passwordFile: string; password: string }[] = [];
  for (let i = 0; i < most; i++) {
    const host = `fh${String(i).padStart(3, '0')}`;
    const passwordFile = path.join(dir, `pw-${host}`);
    const r = await provision({ adminUrl: pg.url, host, secretFile: passwordFile });
    hosts.push({ host, role: r.host!.role, passwordFile, password: fs.readFileSync(passwordFile, 'utf8').trim() });
  }
  // Their deployments, as `client add` and a first successful run leave them (no mirror tables: no run reads).
  await admin`
    insert into sync_metadata.client_deployments (client_name, container_name, host_id, database_type, sync_enabled,
      sync_interval, last_sync_status, status, config, source_fingerprint, last_sync_at, runs_since_reconcile, reconcile_every)
    select h.hostname || '_t' || lpad(g::text, 2, '0'), 'openwebui-' || h.hostname || '-t' || g, h.host_id, 'sqlite', false,
           ${INTERVAL}, 'success', 'active', ${JSON.stringify({ sqlite_path: tenant })}::text::jsonb, ${fp}, now(), 0, 1000000
    from sync_metadata.hosts h, generate_series(1, ${TENANTS}) g where h.hostname like 'fh%'`;
  await admin`
    insert into sync_metadata.table_checkpoints (deployment_id, table_name, cursor_updated_at, cursor_rowid, last_full_at, updated_at)
    select deployment_id, 'chat', 1, 1, now(), now() from sync_metadata.client_deployments where client_name like 'fh%'`;
  report(
    `setup: ${most} hosts provisioned, ${most * TENANTS} deployments, in ${f1((performance.now() - t0) / 1000)} s`,
  );
  report(
    `conditions: PostgreSQL 17 (embedded, max_connections ${MAX_CONN}), ${TENANTS} tenants a host at ${INTERVAL} s, ` +
      `agents' default timings, ${os.cpus().length} cores shared by PostgreSQL, the pooler and the agents' processes ` +
      `(${HOSTS_PER_PROCESS} hosts a process); warm-up ${WARMUP} s, measured ${MEASURE} s`,
  );
  report('');
  report(
    '| hosts | way | agents up | conns peak | conns p50 | conns idle | statements/s | claims/job | jobs | start delay p50 / p99 (s) |',
  );
  report('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');

  const roleList = hosts.map((h) => h.role);
  /** Backends of the hosts' roles by state (what a pinned or waiting connection looks like, for the log). */
  const states = new Map<string, number>();
  const conns = async () => {
    const rows = await admin<{ state: string; n: number }[]>`
      select coalesce(state, '?') || coalesce(' ' || wait_event_type || ':' || wait_event, '') as state, count(*)::int as n
      from pg_stat_activity where usename = any(${roleList}) group by 1`;
    for (const r of rows) states.set(r.state, (states.get(r.state) ?? 0) + r.n);
    return rows.reduce((a, r) => a + r.n, 0);
  };

  for (const n of SIZES) {
    for (const way of WAYS) {
      const active = hosts.slice(0, n);
      const names = active.map((h) => h.host);
      // A clean start: nothing queued, every deployment of these hosts due at a random point of the next interval.
      await admin`update sync_metadata.sync_jobs set status = 'cancelled' where status in ('pending', 'running')`;
      await admin`update sync_metadata.leader_election set expires_at = now() where cluster_name like 'fh%'`;
      await admin`
        update sync_metadata.client_deployments d set sync_enabled = h.hostname = any(${names}), last_sync_status = 'success',
          source_fingerprint = ${fp}, next_sync_at = localtimestamp + make_interval(secs => random() * ${INTERVAL})
        from sync_metadata.hosts h where h.host_id = d.host_id and h.hostname like 'fh%'`;
      let url = new URL(pg.url);
      if (way === 'transaction') {
        if (!PGBOUNCER) {
          report(`| ${n} | ${way} | pgbouncer not installed |  |  |  |  |  |  |  |`);
          continue;
        }
        const b = await startPgBouncer({
          target: pg.url,
          mode: 'transaction',
          users: active.map((h) => ({ name: h.role, password: h.password })),
          // Each host logs in with its own role, and PgBouncer pools per (database, user): a host's server
          // connection goes back to the others a second after its last transaction.
          poolSize: Number(args['pool-size']),
          maxDbConnections: POOLER_CONN,
          serverIdleTimeout: Number(args['server-idle']),
          started: () => {},
        });
        bouncerStop = b.stop;
        url = new URL(b.urlFor('x', 'x'));
      }
      const planBase = {
        env: { LOG_LEVEL: 'warn' },
        mode: way === 'transaction' ? 'transaction' : 'session',
      };
      const procs: ChildProcess[] = [];
      const ready: Promise<{ up: number; failed: number; errors?: string[] }>[] = [];
      for (let i = 0; i < active.length; i += HOSTS_PER_PROCESS) {
        const part = active.slice(i, i + HOSTS_PER_PROCESS).map((h) => {
          const u = new URL(url);
          u.username = h.role;
          u.password = '';
          return { host: h.host, url: u.toString(), passwordFile: h.passwordFile };
        });
        const planFile = path.join(dir, `plan-${n}-${way}-${i}.json`);
        fs.writeFileSync(planFile, JSON.stringify({ ...planBase, hosts: part }));
        const errFile = fs.openSync(path.join(dir, `agents-${n}-${way}-${i}.log`), 'w');
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', path.join(ROOT, 'bench', 'fleet-hosts.ts'), way === 'today' ? baseRoot! : ROOT, planFile],
          { stdio: ['ignore', 'pipe', errFile], cwd: ROOT },
        );
        children.add(child);
        procs.push(child);
        ready.push(
          new Promise((resolve) => {
            let buf = '';
            child.stdout!.on('data', (d: Buffer) => {
              buf += d.toString();
              const nl = buf.indexOf('\n');
              if (nl < 0) return;
              const m = JSON.parse(buf.slice(0, nl)) as { ready?: number; failed?: number; agents?: number };
              resolve({ up: m.ready ?? m.agents ?? 0, failed: m.failed ?? 0 });
            });
            child.on('exit', () => resolve({ up: 0, failed: part.length * 2 }));
          }),
        );
      }
      const started = await Promise.all(ready);
      const up = started.reduce((a, s) => a + s.up, 0);
      await sleep(WARMUP * 1000);
      await admin`select pg_stat_statements_reset()`;
      const [w0] = await admin<{ t: Date }[]>`select now() as t`;
      const samples: number[] = [];
      states.clear();
      const until = Date.now() + MEASURE * 1000;
      while (Date.now() < until) {
        samples.push(await conns());
        await sleep(500);
      }
      const [w1] = await admin<{ t: Date }[]>`select now() as t`;
      const seconds = (w1!.t.getTime() - w0!.t.getTime()) / 1000;
      const [st] = await admin<{ calls: string; claims: string }[]>`
        select coalesce(sum(calls), 0)::text as calls,
               coalesce(sum(calls) filter (where position('with lease as (' in query) > 0 and position('skip locked' in query) > 0), 0)::text as claims
        from pg_stat_statements s join pg_roles r on r.oid = s.userid where r.rolname = any(${roleList})`;
      const top = await admin<{ calls: string; query: string }[]>`
        select sum(calls)::text as calls, left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 160) as query
        from pg_stat_statements s join pg_roles r on r.oid = s.userid where r.rolname = any(${roleList})
        group by 2 order by sum(calls) desc limit 12`;
      const mean = await admin<{ calls: string; ms: string; query: string }[]>`
        select sum(calls)::text as calls, round((sum(total_exec_time) / sum(calls))::numeric, 2)::text as ms,
               left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 160) as query
        from pg_stat_statements s join pg_roles r on r.oid = s.userid where r.rolname = any(${roleList})
        group by 3 order by sum(total_exec_time) desc limit 8`;
      const stateList = [...states].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${f1(v / samples.length)}`);
      tops.push(
        `## ${n} hosts, ${way}`,
        ...top.map((r) => `${r.calls}\t${r.query}`),
        '# most time (calls, mean ms, statement)',
        ...mean.map((r) => `${r.calls}\t${r.ms}\t${r.query}`),
        `# backends by state, mean of the samples: ${stateList.join('; ')}`,
        '',
      );
      const delays = await admin<{ d: number }[]>`
        select extract(epoch from (j.started_at at time zone current_setting('TimeZone') - j.available_at))::float8 as d
        from sync_metadata.sync_jobs j join sync_metadata.client_deployments c using (deployment_id)
        where j.triggered_by = 'schedule' and j.available_at between ${w0!.t} and ${w1!.t}
          and j.started_at is not null and c.sync_enabled`;
      const [done] = await admin<{ n: number }[]>`
        select count(*)::int as n from sync_metadata.sync_jobs
        where status = 'success' and triggered_by = 'schedule' and completed_at at time zone current_setting('TimeZone') between ${w0!.t} and ${w1!.t}`;
      // Idle: every deployment of these hosts paused; the runs under way end, then the connections are counted.
      await admin`update sync_metadata.client_deployments set sync_enabled = false where client_name like 'fh%'`;
      await sleep(8000);
      const idle: number[] = [];
      for (let i = 0; i < 6; i++) {
        idle.push(await conns());
        await sleep(500);
      }
      for (const c of procs) c.kill('SIGTERM');
      await Promise.all(
        procs.map((c) =>
          Promise.race([new Promise((r) => c.once('exit', r)), sleep(15_000).then(() => c.kill('SIGKILL'))]),
        ),
      );
      for (const c of procs) children.delete(c);
      await bouncerStop?.();
      bouncerStop = null;
      const jobs = done!.n;
      const ds = delays.map((r) => r.d);
      report(
        `| ${n} | ${way} | ${up} of ${n * 2} | ${Math.max(...samples)} | ${pct(samples, 50)} | ${Math.max(...idle)} | ` +
          `${f1(Number(st!.calls) / seconds)} | ${jobs ? (Number(st!.claims) / jobs).toFixed(2) : '-'} | ${jobs} | ` +
          `${f1(pct(ds, 50))} / ${f1(pct(ds, 99))} |`,
      );
    }
  }
  report('');
  report(
    "conns: PostgreSQL backends of the hosts' roles (through the pooler: its server connections). statements/s: every " +
      'statement of those roles (pg_stat_statements). claims/job: claim statements per scheduled job finished in the window.',
  );
  await admin.end({ timeout: 5 });
} finally {
  cleanup();
  await bouncerStop?.();
  await pg.stop();
  if (baseRoot) {
    try {
      execFileSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', baseRoot], { stdio: 'ignore' });
    } catch {
      /* best effort */
    }
  }
  fs.mkdirSync(path.join(ROOT, 'bench', 'out'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench', 'out', 'fleet-last-run.txt'), `${lines.join('\n')}\n`);
  fs.writeFileSync(path.join(ROOT, 'bench', 'out', 'fleet-statements.txt'), `${tops.join('\n')}\n`);
  if (!args.dir) fs.rmSync(dir, { recursive: true, force: true });
}
