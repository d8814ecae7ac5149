import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { thisHost } from '../cluster/node-sql.ts';
import type { ContainerSpec, Engine } from '../docker/engine.ts';
import type { Sql } from '../pg/connect.ts';
import { ConfigError, OwuiError } from '../util/errors.ts';
import { packageVersion } from '../util/paths.ts';
import { readNodeHealth } from './node-health.ts';

// The HA pair as two containers (the specification's "Deployment with HA"): their exact specifications, a
// compose file in the specification's layout, and applying them through the Docker API, idempotently, with a
// rolling update (the follower first, then the leader hands over with SIGTERM) when the image or a setting changes.

export const PAIR = [
  { role: 'primary', name: 'openwebui-sync-primary', port: 9443 },
  { role: 'secondary', name: 'openwebui-sync-secondary', port: 9444 },
] as const;
export const LEGACY_PAIR = ['openwebui-sync-node-a', 'openwebui-sync-node-b'];
export const DEFAULT_IMAGE = `ghcr.io/imagicrafter/openwebui-sync:${packageVersion()}`;
/** Where the secrets are inside the containers: the agent's defaults. */
export const SECRET_PATHS = { password: '/run/secrets/db_sync_password', jwt: '/run/secrets/api_jwt_secret' };

export interface PairSettings {
  image: string;
  host: string;
  cluster: string;
  network: 'host' | 'bridge';
  /** The host address the APIs are published on (bridge) or bound to (host network). */
  publish: string;
  /** The runtime connection, without its password (the password is the secret file). */
  databaseUrl: string;
  /** Host folder with db_sync_password and api_jwt_secret (mode 0400, owned by the containers' user). */
  secretsDir: string;
  /** The tenants' data folders, mounted where their sqlite_path says (the same path inside and out). */
  tenantDirs: string[];
  /** uid:gid the agents run as. */
  user: string;
  /** The engine's socket on the host, mounted read-only for discovery; null: not mounted. */
  dockerSocket: string | null;
  heartbeatSeconds?: number;
  /** The APIs' ports (the legacy 9443 and 9444 by default). */
  ports?: [number, number];
}

/** The label that holds the hash of a container's specification: equal hashes mean nothing to change. */
export const SPEC_HASH_LABEL = 'owui-sync.spec-hash';

function hashOf(spec: ContainerSpec): string {
  return crypto.createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
}

/** The two containers, exactly as they are created (`deploy --dry-run` prints them). */
export function pairSpecs(s: PairSettings): ContainerSpec[] {
  if (/:\/\/[^/@]*:[^/@]*@/.test(s.databaseUrl))
    throw new ConfigError(
      'the database URL for the containers holds a password',
      'give the URL without it: the password goes to the containers as the secret file',
    );
  return PAIR.map((pair, i) => {
    const n = { ...pair, port: s.ports?.[i] ?? pair.port };
    const bind = s.network === 'host' ? s.publish : '0.0.0.0';
    const env: Record<string, string> = {
      ROLE: n.role,
      API_PORT: String(n.port),
      CLUSTER_NAME: s.cluster,
      OWUI_SYNC_HOST: s.host,
      NODE_ID: `${s.host}-${n.role}`,
      HEARTBEAT_INTERVAL: String(s.heartbeatSeconds ?? 30),
      OWUI_SYNC_DATABASE_URL: s.databaseUrl,
      OWUI_SYNC_DATABASE_PASSWORD_FILE: SECRET_PATHS.password,
      OWUI_SYNC_JWT_SECRET_FILE: SECRET_PATHS.jwt,
      OWUI_SYNC_API_BIND: bind,
      OWUI_SYNC_ADVERTISE_URL: `http://${s.publish}:${n.port}`,
      OWUI_SYNC_CONFIG: '',
      LOG_FORMAT: 'json',
    };
    const binds = [
      `${path.join(s.secretsDir, 'db_sync_password')}:${SECRET_PATHS.password}:ro`,
      `${path.join(s.secretsDir, 'api_jwt_secret')}:${SECRET_PATHS.jwt}:ro`,
      ...(s.dockerSocket ? [`${s.dockerSocket}:/var/run/docker.sock:ro`] : []),
      // Read-write: a reader of a WAL database writes its -shm file, and a rollback-journal reader rolls back a
      // hot journal; both need the folder (docs/deploying.md "Deploying with Docker").
      ...[...new Set(s.tenantDirs)].sort().map((d) => `${d}:${d}`),
    ];
    const spec: ContainerSpec = {
      name: n.name,
      Image: s.image,
      User: s.user,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: { 'owui-sync.role': n.role, 'owui-sync.cluster': s.cluster, 'owui-sync.host': s.host },
      StopTimeout: 30,
      ...(s.network === 'bridge' ? { ExposedPorts: { [`${n.port}/tcp`]: {} } } : {}),
      HostConfig: {
        NetworkMode: s.network,
        RestartPolicy: { Name: 'unless-stopped' },
        Binds: binds,
        ...(s.network === 'bridge'
          ? { PortBindings: { [`${n.port}/tcp`]: [{ HostIp: s.publish, HostPort: String(n.port) }] } }
          : {}),
      },
    };
    spec.Labels![SPEC_HASH_LABEL] = hashOf(spec);
    return spec;
  });
}

/** The same pair as a compose file, in the specification's layout (`deploy --compose-out FILE`). */
export function composeFile(specs: ContainerSpec[]): string {
  const q = (v: string) => JSON.stringify(v);
  const lines = [
    '# Written by owui-sync deploy --compose-out; owui-sync deploy applies the same through the Docker API.',
    'services:',
  ];
  for (const sp of specs) {
    const hc = sp.HostConfig!;
    lines.push(`  ${sp.name.replace(/^openwebui-/, '')}:`);
    lines.push(`    image: ${q(sp.Image!)}`, `    container_name: ${q(sp.name)}`, `    user: ${q(sp.User!)}`);
    lines.push(`    restart: unless-stopped`, `    stop_grace_period: 30s`, `    network_mode: ${q(hc.NetworkMode!)}`);
    if (hc.PortBindings) {
      lines.push('    ports:');
      for (const [p, b] of Object.entries(hc.PortBindings))
        for (const x of b as { HostIp: string; HostPort: string }[])
          lines.push(`      - ${q(`${x.HostIp}:${x.HostPort}:${p.replace('/tcp', '')}`)}`);
    }
    lines.push('    environment:');
    for (const e of sp.Env!) lines.push(`      ${e.slice(0, e.indexOf('='))}: ${q(e.slice(e.indexOf('=') + 1))}`);
    lines.push('    volumes:');
    for (const b of hc.Binds!) lines.push(`      - ${q(b)}`);
    lines.push('    labels:');
    for (const [k, v] of Object.entries(sp.Labels!)) lines.push(`      ${q(k)}: ${q(v)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The secrets the containers read, written where the settings say: the host role's password and the API secret,
 * mode 0400, owned by the containers' user (root can read them too; nobody else).
 */
export function writeSecrets(dir: string, user: string, o: { passwordFile: string; jwtFile: string | null }): void {
  const [uid, gid] = user.split(':').map(Number) as [number, number];
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o711);
  const put = (name: string, value: string) => {
    const f = path.join(dir, name);
    fs.rmSync(f, { force: true });
    fs.writeFileSync(f, value.endsWith('\n') ? value : `${value}\n`, { mode: 0o400 });
    fs.chownSync(f, uid, gid);
  };
  let pw: string;
  try {
    pw = fs.readFileSync(o.passwordFile, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read the host role's password file ${o.passwordFile}: ${(err as NodeJS.ErrnoException).code}`,
      'provision --host NAME --secret-file PATH writes it; point OWUI_SYNC_DATABASE_PASSWORD_FILE at it',
    );
  }
  put('db_sync_password', pw);
  const existing = path.join(dir, 'api_jwt_secret');
  const jwt = o.jwtFile
    ? fs.readFileSync(o.jwtFile, 'utf8')
    : fs.existsSync(existing)
      ? fs.readFileSync(existing, 'utf8')
      : crypto.randomBytes(48).toString('base64');
  put('api_jwt_secret', jwt);
}

export interface DeployStep {
  container: string;
  action: 'created' | 'unchanged' | 'started' | 'replaced' | 'removed legacy';
}

/** The nodes' indexes, the one that leads now last: an update replaces the follower first. */
async function followerFirst(urls: string[]): Promise<number[]> {
  const leads = await Promise.all(
    urls.map(async (u) => {
      const a = await readNodeHealth(u);
      return a.up && a.health.is_leader;
    }),
  );
  return urls.map((_, i) => i).sort((a, b) => Number(leads[a]) - Number(leads[b]));
}

/**
 * Wait until the node at `url` answers /health with 200 and knows who leads (its elector runs, so it can take the
 * lease the moment the leader hands it over), up to `ms`. /health answers before the elector's first round: a
 * rolling update that replaced the leader then would leave the cluster without one for a retry interval.
 */
export async function waitHealthy(url: string, ms = 90_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const a = await readNodeHealth(url);
    if (a.up && a.http_status === 200 && a.health.leader_id) return;
    if (Date.now() - t0 > ms)
      throw new OwuiError(`the agent at ${url} did not become healthy within ${Math.round(ms / 1000)} s`, {
        hint: 'owui-sync nodes logs NODE shows why',
      });
    await sleep(250);
  }
}

/**
 * Apply the pair: create what is missing, start what is stopped, leave what matches alone; replace what differs
 * one node at a time, the follower first and the leader last (SIGTERM: it hands the lease over), each waited on
 * until healthy, so a leader runs at every moment. A legacy pair is removed first (the caller has confirmed).
 */
export async function applyPair(
  engine: Engine,
  specs: ContainerSpec[],
  o: { urls: string[]; replaceLegacy: boolean; onStep?: (s: DeployStep) => void },
): Promise<DeployStep[]> {
  const steps: DeployStep[] = [];
  const say = (s: DeployStep) => {
    steps.push(s);
    o.onStep?.(s);
  };
  if (o.replaceLegacy)
    for (const name of LEGACY_PAIR)
      if (await engine.state(name)) {
        await engine.stop(name);
        await engine.remove(name);
        say({ container: name, action: 'removed legacy' });
      }
  const current = await Promise.all(specs.map((s) => engine.state(s.name)));
  for (const i of await followerFirst(o.urls)) {
    const spec = specs[i]!;
    const cur = current[i];
    if (!cur) {
      await engine.create(spec);
      await engine.start(spec.name);
      say({ container: spec.name, action: 'created' });
    } else if (cur.labels[SPEC_HASH_LABEL] === spec.Labels![SPEC_HASH_LABEL]) {
      if (cur.running) {
        say({ container: spec.name, action: 'unchanged' });
        continue;
      }
      await engine.start(spec.name);
      say({ container: spec.name, action: 'started' });
    } else {
      await engine.stop(spec.name, 30);
      await engine.remove(spec.name);
      await engine.create(spec);
      await engine.start(spec.name);
      say({ container: spec.name, action: 'replaced' });
    }
    await waitHealthy(o.urls[i]!);
  }
  return steps;
}

/** Remove the pair (sync_metadata and every mirror stay). */
export async function removePair(engine: Engine): Promise<string[]> {
  const removed: string[] = [];
  for (const n of PAIR)
    if (await engine.service(n.name).catch(() => null)) {
      await engine.removeService(n.name);
      removed.push(n.name);
    } else if (await engine.state(n.name)) {
      await engine.stop(n.name, 30);
      await engine.remove(n.name);
      removed.push(n.name);
    }
  return removed;
}

/** A swarm secret the services mount: its id and name. */
export interface SecretRef {
  id: string;
  name: string;
}

/**
 * The pair as two swarm services (an engine in swarm mode), one task each: the same image, environment, user and
 * mounts as the standalone containers, host networking, and the two secrets as Docker secrets mounted at
 * /run/secrets/ (mode 0400, owned by the service's user) instead of files on the host.
 */
export function pairServices(s: PairSettings, secrets: { password: SecretRef; jwt: SecretRef }) {
  if (s.network !== 'host')
    throw new ConfigError(
      'in swarm mode the pair runs on the host network only',
      'swarm publishes ports on every address: drop --network bridge',
    );
  const [uid, gid] = s.user.split(':');
  return pairSpecs(s).map((c) => {
    const hc = c.HostConfig!;
    const mounts = hc
      .Binds!.filter((b) => !b.includes(':/run/secrets/'))
      .map((b) => {
        const [source, target, mode] = b.split(':');
        return { Type: 'bind' as const, Source: source!, Target: target!, ReadOnly: mode === 'ro' };
      });
    const file = (name: string) => ({ Name: name, UID: uid!, GID: gid!, Mode: 0o400 });
    const spec = {
      Name: c.name,
      Labels: { ...c.Labels },
      TaskTemplate: {
        ContainerSpec: {
          Image: c.Image!,
          Env: c.Env!,
          User: c.User!,
          Labels: { 'owui-sync.role': c.Labels!['owui-sync.role']! },
          Mounts: mounts,
          Secrets: [
            { SecretID: secrets.password.id, SecretName: secrets.password.name, File: file('db_sync_password') },
            { SecretID: secrets.jwt.id, SecretName: secrets.jwt.name, File: file('api_jwt_secret') },
          ],
          StopGracePeriod: 30e9,
        },
        RestartPolicy: { Condition: 'any', Delay: 5e9 },
        Networks: [{ Target: 'host' }],
      },
      Mode: { Replicated: { Replicas: 1 } },
      UpdateConfig: { Parallelism: 1, Order: 'stop-first' },
    };
    const { [SPEC_HASH_LABEL]: _, ...labels } = spec.Labels;
    spec.Labels = { ...labels, [SPEC_HASH_LABEL]: hashOf({ ...spec, Labels: labels } as unknown as ContainerSpec) };
    return spec;
  });
}

/** Apply the pair as services: created, unchanged, or updated one at a time (the follower first), each waited on. */
export async function applyServices(
  engine: Engine,
  services: ReturnType<typeof pairServices>,
  o: { urls: string[]; onStep?: (s: DeployStep) => void },
): Promise<DeployStep[]> {
  const steps: DeployStep[] = [];
  for (const i of await followerFirst(o.urls)) {
    const spec = services[i]!;
    const cur = await engine.service(spec.Name);
    let action: DeployStep['action'];
    if (!cur) {
      await engine.createService(spec);
      action = 'created';
    } else if (cur.labels[SPEC_HASH_LABEL] === spec.Labels[SPEC_HASH_LABEL]) action = 'unchanged';
    else {
      await engine.updateService(spec.Name, cur.version, spec);
      action = 'replaced';
    }
    const step = { container: spec.Name, action };
    steps.push(step);
    o.onStep?.(step);
    await waitHealthy(o.urls[i]!, 120_000);
  }
  return steps;
}

/** The engine's socket on this host, to mount read-only for discovery (DOCKER_HOST when it is a unix socket). */
function dockerSocket(): string | null {
  const h = process.env.DOCKER_HOST;
  if (h?.startsWith('unix://')) return h.slice(7);
  if (h) return null;
  return fs.existsSync('/var/run/docker.sock') ? '/var/run/docker.sock' : null;
}

/** uid:gid of the tenants' data folders when one non-root owner has them all, else root (docs/deploying.md says why). */
function tenantsOwner(dirs: string[]): string {
  const owners = new Set(
    dirs.map((d) => {
      try {
        const st = fs.statSync(d);
        return `${st.uid}:${st.gid}`;
      } catch {
        return '0:0';
      }
    }),
  );
  const [only] = [...owners];
  return owners.size === 1 && only !== '0:0' ? only! : '0:0';
}

/** What an operator asks of a deploy (`owui-sync deploy`'s flags, or the menu's defaults). */
export interface DeployRequest {
  image?: string;
  host?: string;
  cluster?: string;
  network?: 'host' | 'bridge';
  publish?: string;
  ports?: [number, number];
  secretsDir?: string;
  user?: string;
  mode?: 'auto' | 'standalone' | 'swarm';
  /** swarm: the Docker secret with the host role's password (default owui_sync_db_sync_password_HOST). */
  dockerSecret?: string;
}

/** A deploy worked out and not yet applied: what `--dry-run` and the menu's Deploy screen show. */
export interface DeployPlan {
  settings: PairSettings;
  specs: ContainerSpec[];
  mode: 'swarm' | 'standalone';
  secretNames: { password: string; jwt: string };
  /**
   * The legacy pair's containers on this engine: applying replaces them (the operator confirms first). Null when
   * the engine cannot be reached (a dry run still shows the specifications; applying says what to do).
   */
  legacy: string[] | null;
  /**
   * What applying would do to each container of the pair (standalone, engine reachable), from the specification
   * hash each container carries; null when it cannot be told (swarm services, or no engine).
   */
  changes: { container: string; action: 'create' | 'unchanged' | 'start' | 'replace' }[] | null;
  /** Exactly what would be created: the container specifications, or the swarm services. */
  view: { dry_run: true; mode: 'swarm' | 'standalone'; containers?: ContainerSpec[]; services?: unknown[] };
}

/**
 * Work a deploy out, changing nothing: the host (the one this login may see, or `host`), its tenants' data
 * folders, the containers' user, standalone or swarm (auto: swarm on a swarm manager), and the legacy pair.
 * `databaseUrl` is the runtime URL; the containers get it without its password.
 */
export async function planDeploy(sql: Sql, databaseUrl: string, engine: Engine, r: DeployRequest): Promise<DeployPlan> {
  const h = await thisHost(sql, r.host);
  if (!h)
    throw new ConfigError(
      'no single registered host is visible to this login',
      'pass --host NAME, and log in as that host role',
    );
  const deps = await sql<{ p: string }[]>`
    select config->>'sqlite_path' as p from sync_metadata.client_deployments
    where host_id = (select host_id from sync_metadata.hosts where hostname = ${h.hostname}) and config->>'sqlite_path' is not null`;
  const tenantDirs = deps.map((x) => path.dirname(x.p));
  const bare = new URL(databaseUrl);
  bare.password = '';
  const settings: PairSettings = {
    image: r.image ?? DEFAULT_IMAGE,
    host: h.hostname,
    cluster: r.cluster ?? h.cluster_name,
    network: r.network ?? 'host',
    publish: r.publish ?? '127.0.0.1',
    databaseUrl: bare.toString(),
    secretsDir: path.resolve(r.secretsDir ?? '/etc/owui-sync/secrets'),
    tenantDirs,
    user: r.user ?? tenantsOwner(tenantDirs),
    dockerSocket: dockerSocket(),
    ports: r.ports ?? [PAIR[0].port, PAIR[1].port],
  };
  const specs = pairSpecs(settings);
  const mode = r.mode ?? 'auto';
  const swarm = mode === 'swarm' || (mode === 'auto' && (await engine.swarmActive().catch(() => false)));
  const secretNames = {
    password: r.dockerSecret ?? `owui_sync_db_sync_password_${settings.host}`,
    jwt: `owui_sync_api_jwt_secret_${settings.host}`,
  };
  const reachable = await engine.require().then(
    () => true,
    () => false,
  );
  const legacy = reachable ? await legacyHere(engine) : null;
  const view: DeployPlan['view'] = swarm
    ? {
        dry_run: true,
        mode: 'swarm',
        services: pairServices(settings, {
          password: { id: '(its id at deploy)', name: secretNames.password },
          jwt: { id: '(its id at deploy)', name: secretNames.jwt },
        }),
      }
    : { dry_run: true, mode: 'standalone', containers: specs };
  const changes =
    reachable && !swarm
      ? await Promise.all(
          specs.map(async (spec) => {
            const cur = await engine.state(spec.name);
            const action = !cur
              ? ('create' as const)
              : cur.labels[SPEC_HASH_LABEL] !== spec.Labels![SPEC_HASH_LABEL]
                ? ('replace' as const)
                : cur.running
                  ? ('unchanged' as const)
                  : ('start' as const);
            return { container: spec.name, action };
          }),
        )
      : null;
  return { settings, specs, mode: swarm ? 'swarm' : 'standalone', secretNames, legacy, changes, view };
}

async function legacyHere(engine: Engine): Promise<string[]> {
  const states = await Promise.all(LEGACY_PAIR.map((n) => engine.state(n)));
  return states.filter((x) => !!x).map((x) => x!.name);
}

/**
 * Apply a plan: check the image is on the engine, put the secrets in place (files in secretsDir, or Docker
 * secrets in swarm mode, made from the password file when missing), replace a legacy pair (the caller has
 * confirmed), and run the pair with a rolling update.
 */
export async function applyDeploy(
  engine: Engine,
  plan: DeployPlan,
  o: { passwordFile: string | null; jwtFile: string | null; onStep?: (s: DeployStep) => void },
): Promise<{ mode: 'swarm' | 'standalone'; steps: DeployStep[]; image: string; user: string }> {
  const { settings, specs, secretNames } = plan;
  await engine.require();
  const legacy = plan.legacy;
  if (!legacy)
    throw new ConfigError(
      'the Docker engine could not be reached when this deploy was worked out',
      'run the deploy again now that it answers',
    );
  if (!(await engine.imageExists(settings.image)))
    throw new ConfigError(
      `the image ${settings.image} is not on this Docker engine`,
      'build it: owui-sync image build --tag TAG (then deploy --image TAG), or docker pull it',
    );
  const urls = (settings.ports ?? [PAIR[0].port, PAIR[1].port]).map((p) => `http://${settings.publish}:${p}`);
  let steps: DeployStep[];
  if (plan.mode === 'swarm') {
    const { SwarmSecrets } = await import('../docker/secrets.ts');
    const ss = new SwarmSecrets(engine.docker);
    const labels = { 'owui-sync.host': settings.host };
    const ensure = async (name: string, value: () => string) => {
      const found = await ss.find(name);
      return { name, id: found ? found.id : await ss.create(name, value(), labels) };
    };
    const password = await ensure(secretNames.password, () => {
      if (!o.passwordFile)
        throw new ConfigError(
          `there is no Docker secret ${secretNames.password} and no password file to make it from`,
          'provision --host NAME --docker-secret NAME (then deploy --docker-secret NAME), or set OWUI_SYNC_DATABASE_PASSWORD_FILE',
        );
      return fs.readFileSync(o.passwordFile, 'utf8').trim();
    });
    const jwt = await ensure(secretNames.jwt, () =>
      o.jwtFile ? fs.readFileSync(o.jwtFile, 'utf8').trim() : crypto.randomBytes(48).toString('base64'),
    );
    if (legacy.length) await applyPair(engine, [], { urls: [], replaceLegacy: true, onStep: o.onStep });
    steps = [
      ...legacy.map((name) => ({ container: name, action: 'removed legacy' as const })),
      ...(await applyServices(engine, pairServices(settings, { password, jwt }), { urls, onStep: o.onStep })),
    ];
  } else {
    if (!o.passwordFile)
      throw new ConfigError(
        "the host role's password file is not set",
        'set OWUI_SYNC_DATABASE_PASSWORD_FILE (provision --host NAME --secret-file PATH wrote it)',
      );
    writeSecrets(settings.secretsDir, settings.user, { passwordFile: o.passwordFile, jwtFile: o.jwtFile });
    steps = await applyPair(engine, specs, { urls, replaceLegacy: legacy.length > 0, onStep: o.onStep });
  }
  return { mode: plan.mode, steps, image: settings.image, user: settings.user };
}
