import type { AgentFlags } from '../cluster/settings.ts';
import { messageOf, OwuiError } from '../util/errors.ts';
import { redactText } from '../util/redact.ts';
import { Command, Option } from './commander.ts';
import { databaseUrl, databaseUrlOption } from './connections.ts';
import { type Io, printJson } from './output.ts';

export function agentCommand(io: Io): Command {
  return new Command('agent')
    .description(
      'run one node of the HA sync pair: leader election, scheduled syncs, the REST API and /metrics (the container entrypoint)',
    )
    .addOption(
      new Option('--role <role>', 'primary or secondary (env ROLE; default primary)').choices(['primary', 'secondary']),
    )
    .option('--port <n>', 'API port (env API_PORT; default 9443 for primary, 9444 for secondary; 0 picks a free one)')
    .option('--bind <address>', 'API listen address (env OWUI_SYNC_API_BIND; default 127.0.0.1)')
    .option('--cluster <name>', "cluster name (env CLUSTER_NAME; default: the host's cluster)")
    .option(
      '--host <name>',
      'registered host this node serves (env OWUI_SYNC_HOST; default: the one host this login may see)',
    )
    .option('--node-id <id>', "this node's id (env NODE_ID; default <hostname>-<role>)")
    .option(
      '--advertise-url <url>',
      'where the peer reaches this API (env OWUI_SYNC_ADVERTISE_URL; default http://<bind>:<port>)',
    )
    .option('--concurrency <n>', 'syncs this node runs at once (env OWUI_SYNC_CONCURRENCY; default 2)')
    .option('--check', 'check the settings and the database, print what the agent would run as, and exit')
    .addOption(databaseUrlOption())
    .addHelpText(
      'after',
      `
Timing (seconds, from the environment): LEASE_DURATION 30, LEASE_RENEW_INTERVAL 10, LEASE_RENEW_DEADLINE 20,
LEASE_RETRY_INTERVAL 5, HEARTBEAT_INTERVAL 30; checked at start: lease > renew deadline > 1.2 x retry.
Connections: OWUI_SYNC_CONNECTION_MODE session (default: direct or a session pooler; LISTEN) or transaction
(through a transaction pooler such as Supabase's 6543: no session state, polls instead; docs/fleet.md).
Also: OWUI_SYNC_JOB_VISIBILITY (the lease), OWUI_SYNC_POLL_INTERVAL 15 (5 in transaction mode), OWUI_SYNC_BATCH_ROWS 1000,
OWUI_SYNC_STATE_CACHE_TTL 300, OWUI_SYNC_JOB_HISTORY_DAYS 30, OWUI_SYNC_NOTIFY_URL (the webhook for conflicts
waiting for review on notify tables). Every setting X also accepts X_FILE.
Secrets come from files: the host role's password from OWUI_SYNC_DATABASE_PASSWORD_FILE (default
/run/secrets/db_sync_password), the API's JWT secret from OWUI_SYNC_JWT_SECRET_FILE (default /run/secrets/api_jwt_secret).
Logs: JSON lines, or readable lines on a terminal (LOG_FORMAT=json|pretty, LOG_LEVEL=info).
SIGTERM or SIGINT: running syncs stop after their batch and are queued for the peer, the lease is given up at once.
Example:
  ROLE=secondary API_PORT=9444 owui-sync agent --host web-1`,
    )
    .action(async (opts: AgentFlags & { check?: boolean; databaseUrl?: string }, cmd: Command) => {
      const json = !!cmd.optsWithGlobals().json;
      // Loaded when the agent runs, not at every start of the CLI (pino, prom-client, jose, the HTTP server).
      const [{ Agent }, { ApiServer }, { createLogger }, { agentSettings }, { readJwtSecret }] = await Promise.all([
        import('../cluster/agent.ts'),
        import('../api/server.ts'),
        import('../util/log.ts'),
        import('../cluster/settings.ts'),
        import('../cluster/secret-file.ts'),
      ]);
      const settings = agentSettings(opts);
      const url = databaseUrl(io, opts.databaseUrl);
      const secret = readJwtSecret(settings.jwtSecretFile);
      const log = createLogger({
        name: 'owui-sync',
        format: settings.logFormat,
        level: settings.logLevel,
        base: { node_id: settings.nodeId },
      });
      const agent = new Agent(settings, url, log);
      try {
        await agent.open();
      } catch (err) {
        await agent.close();
        throw err;
      }
      if (opts.check) {
        const summary = {
          ok: true,
          node_id: settings.nodeId,
          role: settings.role,
          cluster_name: agent.cluster,
          host: agent.hostname,
          api: `${settings.bind}:${settings.port}`,
          api_auth: secret ? 'configured' : 'missing secret file',
          lease_seconds: settings.leaseSeconds,
          renew_seconds: settings.renewSeconds,
          renew_deadline_seconds: settings.renewDeadlineSeconds,
          retry_seconds: settings.retrySeconds,
          heartbeat_seconds: settings.heartbeatSeconds,
          concurrency: settings.concurrency,
        };
        await agent.close();
        if (json) printJson(io, summary);
        else
          io.out(
            Object.entries(summary)
              .map(([k, v]) => `${k.padEnd(22)} ${v}`)
              .join('\n'),
          );
        return;
      }
      if (!secret)
        log.warn(
          { file: settings.jwtSecretFile },
          'no API secret file: /health and /metrics answer, the /api/v1 endpoints refuse with 503 until it exists',
        );
      const api = new ApiServer(agent, secret);
      let addr: Awaited<ReturnType<typeof api.listen>>;
      try {
        addr = await api.listen(settings.port, settings.bind);
      } catch (err) {
        await agent.close();
        const code = (err as NodeJS.ErrnoException).code;
        throw new OwuiError(`cannot listen on ${settings.bind}:${settings.port}: ${code ?? messageOf(err)}`, {
          hint:
            code === 'EADDRINUSE'
              ? 'another process uses the port: pick another with --port or API_PORT'
              : 'check --bind and --port',
          exitCode: 2,
        });
      }
      const advertise =
        settings.port === 0
          ? `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`
          : undefined;
      await agent.start(advertise);
      agent.events.announce('listening', 'info', 'API listening', { address: `${addr.address}:${addr.port}` });
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (sig: NodeJS.Signals) => {
          if (++signals > 1) {
            log.warn({ signal: sig }, 'second signal: exiting now');
            process.exit(sig === 'SIGINT' ? 130 : 143);
          }
          log.info({ signal: sig }, 'stopping');
          agent
            .stop()
            .catch((err) => log.error({ err: redactText(messageOf(err)) }, 'error while stopping'))
            .finally(() =>
              api.close().then(() => {
                // A run abandoned after the grace (PostgreSQL gone, say) may still hold its connection or its
                // reader thread: the agent has stopped, so it leaves a second later whatever they wait for.
                setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
                resolve();
              }),
            );
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
    });
}
