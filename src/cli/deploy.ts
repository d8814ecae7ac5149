import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, ExitCode } from '../util/errors.ts';
import { Command, Option } from './commander.ts';
import { typedConfirmation } from './confirm.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { type Io, printJson, table } from './output.ts';

const MB = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;

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

export function deployCommands(io: Io, setExit: (c: number) => void): Command[] {
  const image = new Command('image').description('the agent image (templates/Dockerfile)');
  image
    .command('build')
    .description('build the agent image through the Docker API from this package and its production dependencies')
    .option('--tag <tag>', 'image name and tag (default ghcr.io/imagicrafter/openwebui-sync:VERSION)')
    .option('--base-image <image>', 'the base image (a build argument; default node:20-bookworm-slim)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { tag?: string; baseImage?: string }, c: Command) => {
      const { buildImage } = await import('../ops/image.ts');
      const json = !!c.optsWithGlobals().json;
      const r = await buildImage({ ...opts, onStep: json ? undefined : (s) => io.err(s) });
      if (json) printJson(io, r);
      else io.out(`built ${r.tag} (${r.id.slice(7, 19)}) on ${r.base_image}: ${MB(r.size_bytes)}`);
    });

  const deploy = new Command('deploy')
    .description(
      'run the HA pair as the containers openwebui-sync-primary (API 9443) and -secondary (9444) through the Docker API',
    )
    .option('--image <image>', 'the agent image (default ghcr.io/imagicrafter/openwebui-sync:VERSION)')
    .option('--host <name>', 'the registered host (default: the one host this login may see)')
    .option('--cluster <name>', "the cluster name (default: the host's)")
    .addOption(new Option('--network <mode>', 'host or bridge').choices(['host', 'bridge']).default('host'))
    .option('--publish <address>', 'the host address the APIs listen on', '127.0.0.1')
    .option('--api-ports <a,b>', "the primary's and the secondary's API ports", '9443,9444')
    .option('--secrets-dir <dir>', 'where the secrets the containers read are written', '/etc/owui-sync/secrets')
    .option('--user <uid:gid>', "the containers' user (default: the owner of the tenants' data)")
    .option('--dry-run', 'print the exact container specifications and change nothing')
    .option('--compose-out <file>', "also write the equivalent compose file (the specification's layout)")
    .addOption(
      new Option(
        '--mode <mode>',
        'standalone containers, or swarm services with Docker secrets (auto: swarm on a swarm manager)',
      )
        .choices(['auto', 'standalone', 'swarm'])
        .default('auto'),
    )
    .option(
      '--docker-secret <name>',
      "swarm: the Docker secret that holds the host role's password (provision --docker-secret made it)",
    )
    .option('--yes', 'replace a legacy pair without asking for UPDATE')
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
The containers get the runtime URL without its password; the password (OWUI_SYNC_DATABASE_PASSWORD_FILE) and the
API secret (OWUI_SYNC_JWT_SECRET_FILE, or a new one) are written to --secrets-dir (mode 0400) and mounted at
/run/secrets/. Every registered tenant's data folder is mounted at its own path; the Docker socket read-only.
Idempotent: a rerun with the same settings changes nothing; a new image or setting replaces the follower first,
then the leader (SIGTERM: it hands the lease over). A legacy pair (openwebui-sync-node-a/-b) is replaced after
you type UPDATE (or --yes); sync_metadata stays.`,
    )
    .action(
      async (
        opts: {
          image?: string;
          host?: string;
          cluster?: string;
          network: 'host' | 'bridge';
          publish: string;
          apiPorts: string;
          secretsDir: string;
          user?: string;
          dryRun?: boolean;
          composeOut?: string;
          mode: 'auto' | 'standalone' | 'swarm';
          dockerSecret?: string;
          yes?: boolean;
          databaseUrl?: string;
        },
        c: Command,
      ) => {
        const json = !!c.optsWithGlobals().json;
        const ports = opts.apiPorts.split(',').map(Number);
        if (ports.length !== 2 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535))
          throw new ConfigError('--api-ports must be two port numbers', 'e.g. 9443,9444');
        const url = databaseUrl(io, opts.databaseUrl);
        const [{ openPg }, d, { Engine }, { closeNodeHealth }, { thisHost }] = await Promise.all([
          import('../pg/connect.ts'),
          import('../ops/deploy.ts'),
          import('../docker/engine.ts'),
          import('../ops/node-health.ts'),
          import('../ops/overview.ts'),
        ]);
        const sql = await openPg(url, 'the database connection');
        let settings: import('../ops/deploy.ts').PairSettings;
        try {
          const h = await thisHost(sql, opts.host);
          if (!h)
            throw new ConfigError(
              'no single registered host is visible to this login',
              'pass --host NAME, and log in as that host role',
            );
          const deps = await sql<{ p: string }[]>`
            select config->>'sqlite_path' as p from sync_metadata.client_deployments
            where host_id = (select host_id from sync_metadata.hosts where hostname = ${h.hostname}) and config->>'sqlite_path' is not null`;
          const tenantDirs = deps.map((x) => path.dirname(x.p));
          const bare = new URL(url);
          bare.password = '';
          settings = {
            image: opts.image ?? d.DEFAULT_IMAGE,
            host: h.hostname,
            cluster: opts.cluster ?? h.cluster_name,
            network: opts.network,
            publish: opts.publish,
            databaseUrl: bare.toString(),
            secretsDir: path.resolve(opts.secretsDir),
            tenantDirs,
            user: opts.user ?? tenantsOwner(tenantDirs),
            dockerSocket: dockerSocket(),
            ports: ports as [number, number],
          };
        } finally {
          await sql.end({ timeout: 5 });
        }
        const specs = d.pairSpecs(settings);
        if (opts.composeOut) fs.writeFileSync(opts.composeOut, d.composeFile(specs));
        const engine = new Engine();
        // Swarm mode (services and Docker secrets) when asked, or when the engine is a swarm manager.
        const swarm =
          opts.mode === 'swarm' || (opts.mode === 'auto' && (await engine.swarmActive().catch(() => false)));
        const secretNames = {
          password: opts.dockerSecret ?? `owui_sync_db_sync_password_${settings.host}`,
          jwt: `owui_sync_api_jwt_secret_${settings.host}`,
        };
        if (opts.dryRun) {
          const out = swarm
            ? d.pairServices(settings, {
                password: { id: '(its id at deploy)', name: secretNames.password },
                jwt: { id: '(its id at deploy)', name: secretNames.jwt },
              })
            : specs;
          if (json)
            printJson(io, {
              dry_run: true,
              mode: swarm ? 'swarm' : 'standalone',
              [swarm ? 'services' : 'containers']: out,
            });
          else io.out(JSON.stringify(out, null, 2));
          return;
        }
        await engine.require();
        if (!(await engine.imageExists(settings.image)))
          throw new ConfigError(
            `the image ${settings.image} is not on this Docker engine`,
            'build it: owui-sync image build --tag TAG (then deploy --image TAG), or docker pull it',
          );
        const legacy = (await Promise.all(d.LEGACY_PAIR.map((n) => engine.state(n)))).filter(Boolean);
        if (legacy.length && !opts.yes)
          await typedConfirmation({
            word: 'UPDATE',
            question: `The legacy pair (${legacy.map((l) => l!.name).join(', ')}) runs here; it will be stopped and removed (sync_metadata stays).`,
            what: 'replacing the legacy pair',
            refused: 'not confirmed: nothing was changed',
          });
        const passwordFile = process.env.OWUI_SYNC_DATABASE_PASSWORD_FILE;
        const jwtFile = process.env.OWUI_SYNC_JWT_SECRET_FILE ?? null;
        const urls = ports.map((p) => `http://${settings.publish}:${p}`);
        const onStep = json
          ? undefined
          : (st: { container: string; action: string }) => io.err(`${st.container}: ${st.action}`);
        try {
          let steps: import('../ops/deploy.ts').DeployStep[];
          if (swarm) {
            const { SwarmSecrets } = await import('../docker/secrets.ts');
            const ss = new SwarmSecrets(engine.docker);
            const labels = { 'owui-sync.host': settings.host };
            const ensure = async (name: string, value: () => string) => {
              const found = await ss.find(name);
              return { name, id: found ? found.id : await ss.create(name, value(), labels) };
            };
            const password = await ensure(secretNames.password, () => {
              if (!passwordFile)
                throw new ConfigError(
                  `there is no Docker secret ${secretNames.password} and no password file to make it from`,
                  'provision --host NAME --docker-secret NAME (then deploy --docker-secret NAME), or set OWUI_SYNC_DATABASE_PASSWORD_FILE',
                );
              return fs.readFileSync(passwordFile, 'utf8').trim();
            });
            const jwt = await ensure(secretNames.jwt, () =>
              jwtFile ? fs.readFileSync(jwtFile, 'utf8').trim() : crypto.randomBytes(48).toString('base64'),
            );
            if (legacy.length) await d.applyPair(engine, [], { urls: [], replaceLegacy: true, onStep });
            steps = [
              ...(legacy.length ? legacy.map((l) => ({ container: l!.name, action: 'removed legacy' as const })) : []),
              ...(await d.applyServices(engine, d.pairServices(settings, { password, jwt }), { urls, onStep })),
            ];
          } else {
            if (!passwordFile)
              throw new ConfigError(
                "the host role's password file is not set",
                'set OWUI_SYNC_DATABASE_PASSWORD_FILE (provision --host NAME --secret-file PATH wrote it)',
              );
            d.writeSecrets(settings.secretsDir, settings.user, { passwordFile, jwtFile });
            steps = await d.applyPair(engine, specs, { urls, replaceLegacy: legacy.length > 0, onStep });
          }
          if (json)
            printJson(io, { mode: swarm ? 'swarm' : 'standalone', steps, image: settings.image, user: settings.user });
          else
            io.out(
              `the pair runs ${settings.image} as ${settings.user}${swarm ? ' (swarm services)' : ''}; owui-sync cluster status shows it`,
            );
          setExit(ExitCode.ok);
        } finally {
          await closeNodeHealth();
        }
      },
    );

  const undeploy = new Command('undeploy')
    .description('stop and remove the pair of containers; sync_metadata and every mirror stay')
    .option('--yes', 'do not ask for the typed confirmation DEREGISTER')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { yes?: boolean }, c: Command) => {
      const [{ removePair }, { Engine }] = await Promise.all([
        import('../ops/deploy.ts'),
        import('../docker/engine.ts'),
      ]);
      const engine = new Engine();
      await engine.require();
      if (!opts.yes)
        await typedConfirmation({
          word: 'DEREGISTER',
          question: 'This stops and removes openwebui-sync-primary and -secondary (the data stays).',
          what: 'undeploy',
          refused: 'not confirmed: nothing was removed',
        });
      const removed = await removePair(engine);
      if (c.optsWithGlobals().json) printJson(io, { removed });
      else io.out(removed.length ? `removed ${removed.join(', ')}` : 'no pair was deployed here');
    });

  const nodes = new Command('nodes')
    .description("this host's two nodes: containers of the deployed pair, or the local processes of a nodes file")
    .option('--json', 'print the result as JSON')
    .action(async (_o: unknown, c: Command) => {
      const ctrl = await controller();
      const list = await ctrl.list();
      if (c.optsWithGlobals().json) printJson(io, list);
      else
        io.out(
          table(
            list.map((n) => [n.node_id, n.role, n.kind, n.running ? 'running' : 'stopped', n.handle, n.url]),
            ['NODE', 'ROLE', 'KIND', 'STATE', 'WHAT', 'ADDRESS'],
          ),
        );
    });
  nodes
    .command('logs')
    .description("a node's recent log lines (stdout and stderr), or --follow")
    .argument('<node>', 'node id, role or container name')
    .option('--lines <n>', 'how many', '50')
    .option('--follow', 'keep printing new lines until Ctrl-C (containers)')
    .action(async (node: string, opts: { lines: string; follow?: boolean }) => {
      const ctrl = await controller();
      const n = Number(opts.lines);
      if (!Number.isInteger(n) || n < 1) throw new ConfigError('--lines must be a whole number above 0');
      if (opts.follow && ctrl.kind === 'container') {
        const { DockerNodes } = await import('../ops/docker-nodes.ts');
        const { readableLogLine } = await import('../ops/nodes.ts');
        const d = ctrl as InstanceType<typeof DockerNodes>;
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        const { PAIR } = await import('../ops/deploy.ts');
        const name = PAIR.find((p) => p.name === node || p.role === node || node.endsWith(`-${p.role}`))?.name ?? node;
        await d.engine.follow(name, n, (l) => io.out(readableLogLine(l)), ac.signal);
        return;
      }
      for (const l of await ctrl.logs(node, n)) io.out(l);
    });
  nodes
    .command('restart')
    .description('restart a node (SIGTERM first: a leader hands its lease over)')
    .argument('<node>', 'node id, role or container name')
    .action(async (node: string) => {
      await (await controller()).restart(node);
      io.out(`${node}: restarted`);
    });
  nodes
    .command('stop')
    .description('stop a node (type STOP); the other node takes over if it led')
    .argument('<node>', 'node id, role or container name')
    .option('--yes', 'do not ask for the typed confirmation STOP')
    .action(async (node: string, opts: { yes?: boolean }) => {
      const ctrl = await controller();
      if (!opts.yes)
        await typedConfirmation({
          word: 'STOP',
          question: `This stops ${node}.`,
          what: `nodes stop ${node}`,
          refused: 'not confirmed: nothing was stopped',
        });
      await ctrl.stop(node, 'graceful');
      io.out(`${node}: stopped`);
    });
  const discover = new Command('discover')
    .description("the Open WebUI tenants running on this host's Docker engine, and whether each is registered")
    .option('--json', 'print the result as JSON')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      '\nContainers named openwebui-* (not the sync pair, the legacy pair or openwebui-nginx); the client id from CLIENT_ID,\nFQDN or CLIENT_NAME, else the name; the database from the mount at /app/backend/data. A tenant whose container has\nDATABASE_URL is on PostgreSQL already and is not offered. Without a database connection, "registered" is unknown.',
    )
    .action(async (opts: { databaseUrl?: string }, c: Command) => {
      const [{ discoverTenants }, { openPg }, { resolveSetting }] = await Promise.all([
        import('../ops/discover.ts'),
        import('../pg/connect.ts'),
        import('../util/config.ts'),
      ]);
      const url = opts.databaseUrl ?? resolveSetting('OWUI_SYNC_DATABASE_URL', undefined);
      const sql = url ? await openPg(databaseUrl(io, opts.databaseUrl), 'the database connection') : undefined;
      try {
        const found = await discoverTenants({ sql });
        if (c.optsWithGlobals().json) printJson(io, found);
        else
          io.out(
            table(
              found.map((t) => [
                t.client,
                t.container,
                t.on_postgres ? 'on PostgreSQL (not offered)' : (t.sqlite_path ?? 'no data mount'),
                t.registered === null ? '?' : t.registered ? 'yes' : 'no',
              ]),
              ['CLIENT', 'CONTAINER', 'DATABASE', 'REGISTERED'],
            ),
          );
      } finally {
        await sql?.end({ timeout: 5 });
      }
    });
  return [image, deploy, undeploy, nodes, discover];
}

async function controller() {
  const { findNodeController } = await import('../ops/docker-nodes.ts');
  const { NO_NODE_CONTROL_HINT } = await import('../ops/nodes.ts');
  const c = await findNodeController();
  if (!c)
    throw new ConfigError(
      'no nodes to control here: no deployed pair and no nodes file',
      `deploy the pair (owui-sync deploy), or ${NO_NODE_CONTROL_HINT.replace(/^no node control here: /, '')}`,
    );
  return c;
}
