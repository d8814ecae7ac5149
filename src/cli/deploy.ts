import fs from 'node:fs';
import { ConfigError, ExitCode } from '../util/errors.ts';
import { Command, Option } from './commander.ts';
import { typedConfirmation } from './confirm.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { type Io, printJson, table } from './output.ts';

const MB = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;

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
        const [{ openPg }, d, { Engine }, { closeNodeHealth }] = await Promise.all([
          import('../pg/connect.ts'),
          import('../ops/deploy.ts'),
          import('../docker/engine.ts'),
          import('../ops/node-health.ts'),
        ]);
        const engine = new Engine();
        const sql = await openPg(url, 'the database connection');
        let plan: import('../ops/deploy.ts').DeployPlan;
        try {
          plan = await d.planDeploy(sql, url, engine, { ...opts, ports: ports as [number, number] });
        } finally {
          await sql.end({ timeout: 5 });
        }
        if (opts.composeOut) fs.writeFileSync(opts.composeOut, d.composeFile(plan.specs));
        if (opts.dryRun) {
          const out = plan.view.services ?? plan.view.containers;
          if (json) printJson(io, plan.view);
          else io.out(JSON.stringify(out, null, 2));
          return;
        }
        if (plan.legacy?.length && !opts.yes)
          await typedConfirmation({
            word: 'UPDATE',
            question: `The legacy pair (${plan.legacy.join(', ')}) runs here; it will be stopped and removed (sync_metadata stays).`,
            what: 'replacing the legacy pair',
            refused: 'not confirmed: nothing was changed',
          });
        try {
          const r = await d.applyDeploy(engine, plan, {
            passwordFile: process.env.OWUI_SYNC_DATABASE_PASSWORD_FILE ?? null,
            jwtFile: process.env.OWUI_SYNC_JWT_SECRET_FILE ?? null,
            onStep: json ? undefined : (st) => io.err(`${st.container}: ${st.action}`),
          });
          if (json) printJson(io, r);
          else
            io.out(
              `the pair runs ${r.image} as ${r.user}${r.mode === 'swarm' ? ' (swarm services)' : ''}; owui-sync cluster status shows it`,
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
        const { readableLogLine } = await import('../util/log.ts');
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
