import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue } from '../src/cluster/queue.ts';
import { clientAdd } from '../src/ops/clients.ts';
import { composeFile, type PairSettings, pairServices, pairSpecs, SPEC_HASH_LABEL } from '../src/ops/deploy.ts';
import { getDeployment } from '../src/pg/deployments.ts';
import { createTenantDb, seedTenant } from '../src/sqlite/sample.ts';
import { verify } from '../src/sync/verify.ts';
import { freePort } from '../src/util/net.ts';
import { hasDockerd, importNodeBaseImage, startEngine, type TestEngine } from './docker-engine.ts';
import { runCli, setupTenant, type Tenant, tmpDir, waitFor } from './helpers.ts';

// The pair as containers: the image built from templates/Dockerfile on a local base image (no registry), deployed
// through the Docker API against the tests' PostgreSQL (host networking), and the specification's failover test.

const SETTINGS: PairSettings = {
  image: 'ghcr.io/imagicrafter/openwebui-sync:0.1.0',
  host: 'web-1',
  cluster: 'web-1',
  network: 'host',
  publish: '127.0.0.1',
  databaseUrl: 'postgresql://sync_service_web-1@db.example.com:5432/postgres',
  secretsDir: '/etc/owui-sync/secrets',
  tenantDirs: ['/opt/openwebui/b/data', '/opt/openwebui/a/data', '/opt/openwebui/a/data'],
  user: '10001:10001',
  dockerSocket: '/var/run/docker.sock',
};

describe('the container specifications (unit)', () => {
  it("names, ports, environment, mounts, secrets, restart policy: the specification's layout", () => {
    const [p, s] = pairSpecs(SETTINGS);
    expect([p!.name, s!.name]).toEqual(['openwebui-sync-primary', 'openwebui-sync-secondary']);
    const env = (x: typeof p) =>
      Object.fromEntries(x!.Env!.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    expect(env(p)).toMatchObject({
      ROLE: 'primary',
      API_PORT: '9443',
      CLUSTER_NAME: 'web-1',
      NODE_ID: 'web-1-primary',
      HEARTBEAT_INTERVAL: '30',
      OWUI_SYNC_API_BIND: '127.0.0.1',
      OWUI_SYNC_DATABASE_PASSWORD_FILE: '/run/secrets/db_sync_password',
      OWUI_SYNC_JWT_SECRET_FILE: '/run/secrets/api_jwt_secret',
    });
    expect(env(s)).toMatchObject({
      ROLE: 'secondary',
      API_PORT: '9444',
      OWUI_SYNC_ADVERTISE_URL: 'http://127.0.0.1:9444',
    });
    expect(p!.User).toBe('10001:10001');
    expect(p!.HostConfig).toMatchObject({ NetworkMode: 'host', RestartPolicy: { Name: 'unless-stopped' } });
    expect(p!.HostConfig!.Binds).toEqual([
      '/etc/owui-sync/secrets/db_sync_password:/run/secrets/db_sync_password:ro',
      '/etc/owui-sync/secrets/api_jwt_secret:/run/secrets/api_jwt_secret:ro',
      '/var/run/docker.sock:/var/run/docker.sock:ro',
      '/opt/openwebui/a/data:/opt/openwebui/a/data',
      '/opt/openwebui/b/data:/opt/openwebui/b/data',
    ]);
    // No secret in the specification: the URL has no password, the secrets are files.
    expect(JSON.stringify(p)).not.toMatch(/PASSWORD=(?!\/run)/);
    // The same settings give the same hash (a rerun changes nothing); a new image gives another.
    expect(pairSpecs(SETTINGS)[0]!.Labels![SPEC_HASH_LABEL]).toBe(p!.Labels![SPEC_HASH_LABEL]);
    expect(pairSpecs({ ...SETTINGS, image: 'x:2' })[0]!.Labels![SPEC_HASH_LABEL]).not.toBe(p!.Labels![SPEC_HASH_LABEL]);
  });

  it('bridge networking publishes the ports on the given address only; a password in the URL is refused', () => {
    const [p] = pairSpecs({ ...SETTINGS, network: 'bridge', ports: [19443, 19444] });
    expect(p!.HostConfig!.PortBindings).toEqual({ '19443/tcp': [{ HostIp: '127.0.0.1', HostPort: '19443' }] });
    expect(p!.Env).toContain('OWUI_SYNC_API_BIND=0.0.0.0');
    expect(() => pairSpecs({ ...SETTINGS, databaseUrl: 'postgresql://u:pw@db/x' })).toThrow(/holds a password/);
    const compose = composeFile(pairSpecs(SETTINGS));
    expect(compose).toContain('  sync-primary:\n    image: "ghcr.io/imagicrafter/openwebui-sync:0.1.0"');
    expect(compose).toContain('container_name: "openwebui-sync-secondary"');
    expect(compose).toContain('restart: unless-stopped');
    expect(compose).toContain('API_PORT: "9444"');
  });
});

describe('the swarm service specifications (unit)', () => {
  it('a service per node, host networking, the secrets as Docker secrets owned by the user, mode 0400', () => {
    const refs = {
      password: { id: 'p1', name: 'owui_sync_db_sync_password_web-1' },
      jwt: { id: 'j1', name: 'owui_sync_api_jwt_secret_web-1' },
    };
    const [p, s] = pairServices(SETTINGS, refs);
    expect([p!.Name, s!.Name]).toEqual(['openwebui-sync-primary', 'openwebui-sync-secondary']);
    expect(p!.TaskTemplate.ContainerSpec.Secrets).toEqual([
      {
        SecretID: 'p1',
        SecretName: 'owui_sync_db_sync_password_web-1',
        File: { Name: 'db_sync_password', UID: '10001', GID: '10001', Mode: 0o400 },
      },
      {
        SecretID: 'j1',
        SecretName: 'owui_sync_api_jwt_secret_web-1',
        File: { Name: 'api_jwt_secret', UID: '10001', GID: '10001', Mode: 0o400 },
      },
    ]);
    // No secret file from the host: the Docker secrets replace the bind mounts of /run/secrets/.
    expect(
      p!.TaskTemplate.ContainerSpec.Mounts.map((m) => `${m.Source}:${m.Target}:${m.ReadOnly ? 'ro' : 'rw'}`),
    ).toEqual([
      '/var/run/docker.sock:/var/run/docker.sock:ro',
      '/opt/openwebui/a/data:/opt/openwebui/a/data:rw',
      '/opt/openwebui/b/data:/opt/openwebui/b/data:rw',
    ]);
    expect(p!.TaskTemplate).toMatchObject({ RestartPolicy: { Condition: 'any' }, Networks: [{ Target: 'host' }] });
    expect(p!.Mode).toEqual({ Replicated: { Replicas: 1 } });
    expect(p!.TaskTemplate.ContainerSpec.Env).toContain('ROLE=primary');
    expect(s!.TaskTemplate.ContainerSpec.Env).toContain('API_PORT=9444');
    expect(pairServices(SETTINGS, refs)[0]!.Labels[SPEC_HASH_LABEL]).toBe(p!.Labels[SPEC_HASH_LABEL]);
    expect(pairServices({ ...SETTINGS, image: 'x:2' }, refs)[0]!.Labels[SPEC_HASH_LABEL]).not.toBe(
      p!.Labels[SPEC_HASH_LABEL],
    );
    expect(() => pairServices({ ...SETTINGS, network: 'bridge' }, refs)).toThrow(/host network only/);
  });
});

describe.skipIf(!hasDockerd)('the pair on a real Docker engine', () => {
  let engine: TestEngine;
  let t: Tenant;
  let env: Record<string, string>;
  let ports: [number, number];
  let secrets: string;
  let rbDir: string;
  const health = async (port: number) => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1500) });
      return (await r.json()) as { is_leader: boolean; term: number; node_id: string };
    } catch {
      return null;
    }
  };
  const running = (name: string) => engine.docker('inspect', '-f', '{{.State.Running}}', name).trim() === 'true';
  const until = async (pred: () => Promise<boolean>, ms: number) => {
    const t0 = Date.now();
    await waitFor(pred.toString(), pred, { timeoutMs: ms, stepMs: 100 });
    return Date.now() - t0;
  };

  beforeAll(async () => {
    engine = await startEngine({ swarm: true });
    importNodeBaseImage(engine, 'owui-test-base:1');
    t = await setupTenant({ name: 'dk', seed: { users: 1, chatsPerUser: 3 } });
    // A second tenant with Open WebUI's default rollback journal (dk is in WAL mode).
    rbDir = path.join(tmpDir(), 'rb');
    fs.mkdirSync(rbDir);
    const rb = createTenantDb(path.join(rbDir, 'webui.db'), { journal: 'rollback' });
    seedTenant(rb, { users: 1, chatsPerUser: 3 });
    rb.close();
    await clientAdd({ name: 'dk_rb', sqlitePath: path.join(rbDir, 'webui.db'), adminUrl: t.url, host: t.host });
    // The tenants' data belongs to the image's user 10001, as when Open WebUI runs as that user: the agents then
    // run as 10001 too, not as root.
    for (const dir of [path.dirname(t.sqlitePath), rbDir]) execFileSync('chown', ['-R', '10001:10001', dir]);
    ports = [await freePort(), await freePort()];
    secrets = path.join(tmpDir(), 'secrets');
    env = { ...t.hostEnv, DOCKER_HOST: engine.dockerHost };
  }, 180_000);
  afterAll(async () => {
    try {
      try {
        engine.docker('service', 'rm', 'openwebui-sync-primary', 'openwebui-sync-secondary');
      } catch {
        /* none */
      }
      engine.docker(
        'rm',
        '-f',
        'openwebui-sync-primary',
        'openwebui-sync-secondary',
        'openwebui-chat-example-com',
        'openwebui-pg-example-com',
        'openwebui-old-tenant',
        'openwebui-sync-node-a',
        'openwebui-sync-node-b',
        'owui-writer-wal',
        'owui-writer-rb',
      );
    } catch {
      /* none */
    }
    await engine?.stop();
  }, 60_000);

  it("builds the image, deploys the pair, passes the specification's failover test, and leaks no secret", async () => {
    const b = await runCli(
      ['image', 'build', '--tag', 'owui-sync:test', '--base-image', 'owui-test-base:1', '--json'],
      env,
      {
        timeoutMs: 300_000,
      },
    );
    expect(b.code, b.stderr).toBe(0);
    const img = JSON.parse(b.stdout);
    expect(img.size_bytes).toBeGreaterThan(50e6);
    console.log(`image owui-sync:test on the local base: ${(img.size_bytes / 1e6).toFixed(0)} MB`);

    const args = [
      'deploy',
      '--image',
      'owui-sync:test',
      '--api-ports',
      ports.join(','),
      '--secrets-dir',
      secrets,
      '--mode',
      'standalone',
      '--json',
    ];
    // --dry-run prints the exact specifications and changes nothing; --compose-out writes the same as compose.
    const composeOut = path.join(tmpDir(), 'compose.yml');
    const dry = await runCli([...args, '--dry-run', '--compose-out', composeOut], env);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan.containers.map((x: { name: string }) => x.name)).toEqual([
      'openwebui-sync-primary',
      'openwebui-sync-secondary',
    ]);
    expect(fs.readFileSync(composeOut, 'utf8')).toContain('container_name: "openwebui-sync-primary"');
    expect(engine.docker('ps', '-a', '--format', '{{.Names}}')).not.toContain('openwebui-sync');
    const drySwarm = JSON.parse(
      (await runCli([...args.slice(0, -3), '--mode', 'swarm', '--dry-run', '--json'], env)).stdout,
    );
    expect(drySwarm.services[0].TaskTemplate.ContainerSpec.Secrets[0].SecretName).toBe(
      `owui_sync_db_sync_password_${t.host}`,
    );
    const d = await runCli(args, env, { timeoutMs: 180_000 });
    expect(d.code, d.stderr).toBe(0);
    // The containers run as the owner of the tenants' data (10001 here, as beforeAll left it).
    expect(JSON.parse(d.stdout).user).toBe('10001:10001');
    expect(JSON.parse(d.stdout).steps.map((s: { action: string }) => s.action)).toEqual(['created', 'created']);
    const [a, s] = [await health(ports[0]), await health(ports[1])];
    expect([a?.is_leader, s?.is_leader].filter(Boolean)).toHaveLength(1);
    // A rerun with the same settings changes nothing.
    const again = await runCli(args, env, { timeoutMs: 120_000 });
    expect(JSON.parse(again.stdout).steps.map((x: { action: string }) => x.action)).toEqual(['unchanged', 'unchanged']);
    // The tenant is synced from inside the containers.
    await until(
      async () =>
        (await t.check`select 1 from sync_metadata.sync_jobs where client_name = 'dk' and status = 'success'`).length >
        0,
      60_000,
    );

    // Both journal modes, each with a live writer inside a container of its own (Open WebUI's part, played by the
    // image's writer process, as the data's owner 10001, on the tenant's folder mounted as Open WebUI mounts it)
    // while the agents in their containers sync: no write fails, and once the writers stop, one more run leaves
    // each mirror identical.
    const writers = [
      ['owui-writer-wal', path.dirname(t.sqlitePath)],
      ['owui-writer-rb', rbDir],
    ].map(([name, dir]) => {
      engine.docker(
        'run',
        '-d',
        '--network',
        'none',
        '--name',
        name!,
        '--user',
        '10001:10001',
        '-v',
        `${dir}:/app/backend/data`,
        '--entrypoint',
        'node',
        'owui-sync:test',
        '/opt/owui-sync/dist/sqlite/writer-process.js',
        '/app/backend/data/webui.db',
        '100',
      );
      return name!;
    });
    for (const w of writers)
      await until(async () => engine.docker('logs', w).includes('ready') || !running(w), 30_000).then(() =>
        expect(running(w), engine.docker('logs', w)).toBe(true),
      );
    const [host] = await t.check<
      { cluster_name: string }[]
    >`select cluster_name from sync_metadata.hosts where hostname = ${t.host}`;
    for (let round = 0; round < 3; round++)
      for (const client of ['dk', 'dk_rb']) {
        const q = await enqueue(t.sql, host!.cluster_name, client, { full: round === 2, triggeredBy: 'test' });
        await until(async () => {
          const [j] = await t.check<
            { status: string }[]
          >`select status from sync_metadata.sync_jobs where job_id = ${q.job_id}`;
          expect(j?.status).not.toBe('failed');
          return j?.status === 'success';
        }, 60_000);
      }
    for (const w of writers) {
      engine.docker('stop', '-t', '10', w);
      const out = engine.docker('logs', w);
      const r = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as {
        writes: number;
        errors: number;
      };
      expect(r.errors, out).toBe(0);
      expect(r.writes, out).toBeGreaterThan(5);
    }
    for (const client of ['dk', 'dk_rb']) {
      const q = await enqueue(t.sql, host!.cluster_name, client, { full: false, triggeredBy: 'test' });
      await until(
        async () =>
          (await t.check`select 1 from sync_metadata.sync_jobs where job_id = ${q.job_id} and status = 'success'`)
            .length > 0,
        60_000,
      );
      const v = await verify(t.sql, await getDeployment(t.sql, client));
      expect(v.identical, `${client}: ${JSON.stringify(v).slice(0, 400)}`).toBe(true);
    }

    // The specification's test: docker stop the primary; within 35 s the secondary leads; docker start, and within
    // 10 s the primary is back as a follower.
    // (First make the primary the leader, so that stopping it is a takeover.)
    if ((await health(ports[1]))?.is_leader) {
      engine.docker('stop', 'openwebui-sync-secondary');
      await until(async () => (await health(ports[0]))?.is_leader === true, 35_000);
      engine.docker('start', 'openwebui-sync-secondary');
      await until(async () => (await health(ports[1]))?.is_leader === false, 30_000);
    }
    engine.docker('stop', 'openwebui-sync-primary');
    const took = await until(async () => (await health(ports[1]))?.is_leader === true, 35_000);
    engine.docker('start', 'openwebui-sync-primary');
    await until(async () => (await health(ports[0]))?.is_leader === false, 10_000);
    // A graceful docker stop of the leader hands over in under 5 s.
    const t0 = Date.now();
    engine.docker('stop', 'openwebui-sync-secondary');
    await until(async () => (await health(ports[0]))?.is_leader === true, 5_000);
    console.log(
      `docker stop of the primary: the secondary led after ${took} ms; of the secondary: ${Date.now() - t0} ms`,
    );
    engine.docker('start', 'openwebui-sync-secondary');

    // No secret in docker inspect, the image history or the logs.
    const password = fs.readFileSync(t.hostEnv.OWUI_SYNC_DATABASE_PASSWORD_FILE!, 'utf8').trim();
    const jwt = fs.readFileSync(path.join(secrets, 'api_jwt_secret'), 'utf8').trim();
    const seen = [
      engine.docker('inspect', 'openwebui-sync-primary', 'openwebui-sync-secondary'),
      engine.docker('history', '--no-trunc', 'owui-sync:test'),
      engine.docker('image', 'inspect', 'owui-sync:test'),
      engine.docker('logs', 'openwebui-sync-primary'),
    ].join('\n');
    for (const secret of [password, jwt, encodeURIComponent(password)]) expect(seen).not.toContain(secret);
    expect(fs.statSync(path.join(secrets, 'db_sync_password')).mode & 0o777).toBe(0o400);

    // The nodes, their logs (demultiplexed), and the failover test on containers.
    const n = await runCli(['nodes', '--json'], env);
    expect(JSON.parse(n.stdout).map((x: { kind: string; running: boolean }) => [x.kind, x.running])).toEqual([
      ['container', true],
      ['container', true],
    ]);
    const logs = await runCli(['nodes', 'logs', 'primary', '--lines', '5'], env);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/^\d\d:\d\d:\d\d (info|WARN)/m);
    await until(async () => (await health(ports[1])) !== null, 30_000);
    const f = await runCli(['failover-test', '--json'], env, { timeoutMs: 120_000 });
    expect(f.code, f.stderr).toBe(0);
    expect(JSON.parse(f.stdout)).toMatchObject({ ok: true, rejoined_as: 'follower' });

    // Discovery: tenant containers as client-manager makes them (bind mount, volume, one already on PostgreSQL).
    const tenantDir = path.join(tmpDir(), 'opt', 'openwebui', 'chat-example-com', 'data');
    fs.mkdirSync(tenantDir, { recursive: true });
    const db = createTenantDb(path.join(tenantDir, 'webui.db'));
    seedTenant(db, { users: 1, chatsPerUser: 2 });
    db.close();
    /** A container that only waits: a tenant as client-manager names and mounts it, or a legacy node. */
    const idle = (name: string, ...flags: string[]) =>
      engine.docker(
        'run',
        '-d',
        '--network',
        'host',
        '--name',
        name,
        ...flags,
        'owui-test-base:1',
        'node',
        '-e',
        'setInterval(() => {}, 1e9)',
      );
    idle(
      'openwebui-chat-example-com',
      '-e',
      'CLIENT_ID=chat-example-com',
      '-e',
      'FQDN=chat.example.com',
      '-v',
      `${tenantDir}:/app/backend/data`,
    );
    idle('openwebui-pg-example-com', '-e', 'FQDN=pg.example.com', '-e', 'DATABASE_URL=postgresql://x@db/x');
    idle('openwebui-old-tenant', '-v', 'openwebui-old-tenant-data:/app/backend/data');
    const disc = await runCli(['discover', '--json'], env);
    expect(disc.code, disc.stderr).toBe(0);
    const found = JSON.parse(disc.stdout) as {
      client: string;
      sqlite_path: string | null;
      mount: string;
      on_postgres: boolean;
      registered: boolean;
    }[];
    expect(found.map((x) => [x.client, x.mount, x.on_postgres, x.registered])).toEqual([
      ['chat-example-com', 'bind', false, false],
      ['old-tenant', 'volume', false, false],
      ['pg-example-com', null, true, false],
    ]);
    expect(found[0]!.sqlite_path).toBe(path.join(tenantDir, 'webui.db'));
    expect(found[1]!.sqlite_path).toMatch(/volumes\/openwebui-old-tenant-data\/_data\/webui\.db$/);

    // A legacy pair is replaced only when confirmed (no terminal: exit 2 naming --yes).
    for (const n of ['openwebui-sync-node-a', 'openwebui-sync-node-b']) idle(n);
    const refused = await runCli(args, env, { timeoutMs: 120_000 });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --yes');
    const replaced = await runCli([...args, '--yes'], env, { timeoutMs: 120_000 });
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(JSON.parse(replaced.stdout).steps.map((x: { action: string }) => x.action)).toEqual([
      'removed legacy',
      'removed legacy',
      'unchanged',
      'unchanged',
    ]);

    // A new image is a rolling update: the follower first, then the leader hands over; polled, a leader all along.
    engine.docker('tag', 'owui-sync:test', 'owui-sync:test2');
    // Polled every 100 ms, both ways. The lease row: the old leader hands the lease straight to the new follower on
    // SIGTERM, so it always has a live holder. The nodes' /health: the new leader says so once it has heard the
    // NOTIFY and claimed the lease, milliseconds later; never the time a container needs.
    let polls = 0;
    let leaderless = 0;
    let leaseless = 0;
    let since: number | null = null;
    let longest = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const [x, y, lease] = await Promise.all([
          health(ports[0]),
          health(ports[1]),
          t.check<{ live: boolean }[]>`
            select expires_at > now() as live from sync_metadata.leader_election where cluster_name = ${host!.cluster_name}`,
        ]);
        polls++;
        if (!lease[0]?.live) leaseless++;
        if (!x?.is_leader && !y?.is_leader) {
          leaderless++;
          since ??= Date.now();
          longest = Math.max(longest, Date.now() - since);
        } else since = null;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const rolled = await runCli(['deploy', '--image', 'owui-sync:test2', ...args.slice(3)], env, {
      timeoutMs: 240_000,
    });
    polling = false;
    await poller;
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(JSON.parse(rolled.stdout).steps.map((x: { action: string }) => x.action)).toEqual(['replaced', 'replaced']);
    console.log(
      `rolling update: ${polls} polls; lease without a live holder in ${leaseless}; no node saying it leads in ${leaderless} (longest stretch ${longest} ms)`,
    );
    expect(leaseless).toBe(0);
    // A claim is milliseconds; on a loaded machine a poll may fall in it, never a retry interval (5 s).
    expect(longest).toBeLessThan(1000);
    expect(engine.docker('inspect', '-f', '{{.Config.Image}}', 'openwebui-sync-primary').trim()).toBe(
      'owui-sync:test2',
    );

    const u = await runCli(['undeploy', '--yes', '--json'], env, { timeoutMs: 120_000 });
    expect(JSON.parse(u.stdout).removed).toEqual(['openwebui-sync-primary', 'openwebui-sync-secondary']);
    expect((await t.check`select count(*)::int as n from sync_metadata.client_deployments`)[0]!.n).toBe(2);

    // Swarm mode: the same pair as two services, the secrets as Docker secrets (made from the password file).
    const sw = await runCli(
      ['deploy', '--image', 'owui-sync:test2', '--api-ports', ports.join(','), '--mode', 'swarm', '--json'],
      env,
      { timeoutMs: 240_000 },
    );
    expect(sw.code, sw.stderr).toBe(0);
    expect(JSON.parse(sw.stdout)).toMatchObject({
      mode: 'swarm',
      steps: [{ action: 'created' }, { action: 'created' }],
    });
    // Both answering, one of them leading: the failover test below needs a follower to take over.
    await until(async () => {
      const hs = [await health(ports[0]), await health(ports[1])];
      return hs.every((h) => h !== null) && hs.filter((h) => h?.is_leader).length === 1;
    }, 60_000);
    expect(engine.docker('secret', 'ls', '--format', '{{.Name}}')).toContain(`owui_sync_db_sync_password_${t.host}`);
    const svc = engine.docker('service', 'inspect', 'openwebui-sync-primary', 'openwebui-sync-secondary');
    for (const secret of [password, encodeURIComponent(password)]) expect(svc).not.toContain(secret);
    const sn = JSON.parse((await runCli(['nodes', '--json'], env)).stdout) as { handle: string }[];
    expect(sn.every((x) => x.handle.includes('swarm task'))).toBe(true);
    const sf = await runCli(['failover-test', '--json'], env, { timeoutMs: 180_000 });
    expect(sf.code, sf.stderr).toBe(0);
    expect(JSON.parse(sf.stdout)).toMatchObject({ ok: true, rejoined_as: 'follower' });
    const su = await runCli(['undeploy', '--yes', '--json'], env, { timeoutMs: 120_000 });
    expect(JSON.parse(su.stdout).removed).toEqual(['openwebui-sync-primary', 'openwebui-sync-secondary']);
  }, 600_000);
});
