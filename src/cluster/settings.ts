import os from 'node:os';
import { type ConnectionMode, connectionModeSetting, type Env, resolveSetting } from '../util/config.ts';
import { ConfigError } from '../util/errors.ts';
import { numberSetting, type SyncSettings, syncSettings } from '../util/settings.ts';
import { jwtSecretFile } from './secret-file.ts';

/** Everything the agent runs on, resolved from flags, then the environment (X, then X_FILE), then defaults. */
export interface AgentSettings extends SyncSettings {
  role: 'primary' | 'secondary';
  nodeId: string;
  cluster: string | undefined;
  host: string | undefined;
  bind: string;
  port: number;
  /** Where peers reach this node's API (recorded in the lease row while it leads). */
  advertiseUrl: string;
  leaseSeconds: number;
  renewSeconds: number;
  renewDeadlineSeconds: number;
  retrySeconds: number;
  heartbeatSeconds: number;
  /** Jobs this node runs at once. */
  concurrency: number;
  /** Rows per batch transaction of the agent's syncs. */
  batchRows: number;
  /** session: LISTEN for notifications; transaction: no session at all, poll instead (fleet mode). */
  connectionMode: ConnectionMode;
  /**
   * How often an idle worker looks for a job, and in transaction mode how often the agent reads its cluster's
   * state changes: a backstop behind notifications in session mode (15 s), the only source in transaction mode (5 s).
   */
  pollSeconds: number;
  /** How long a claimed job stays this node's without being renewed. */
  visibilitySeconds: number;
  cacheTtlSeconds: number;
  historyDays: number;
  jwtSecretFile: string;
  /** Where conflict notifications are posted (OWUI_SYNC_NOTIFY_URL(_FILE)); unset: none. */
  notifyUrl: string | undefined;
  logFormat: string | undefined;
  logLevel: string;
}

export interface AgentFlags {
  role?: string;
  port?: string;
  cluster?: string;
  nodeId?: string;
  host?: string;
  bind?: string;
  advertiseUrl?: string;
  concurrency?: string;
}

const num = numberSetting;

/**
 * Read and check the agent's settings. Every problem is reported at start, with what to change; the
 * lease timing must hold lease > renew deadline > 1.2 x retry, renew interval < deadline (docs/agent.md "Settings").
 */
export function agentSettings(flags: AgentFlags, env: Env = process.env): AgentSettings {
  const get = (name: string, flag?: string) => resolveSetting(name, flag, env);
  const roleText = get('ROLE', flags.role) ?? 'primary';
  if (roleText !== 'primary' && roleText !== 'secondary')
    throw new ConfigError(
      `ROLE is ${JSON.stringify(roleText)}`,
      'use --role primary or --role secondary (or ROLE=primary|secondary)',
    );
  const role = roleText;
  const port = num('API_PORT', get('API_PORT', flags.port), role === 'primary' ? 9443 : 9444, 0, 65535, true);
  const bind = get('OWUI_SYNC_API_BIND', flags.bind) ?? '127.0.0.1';
  const nodeId = get('NODE_ID', flags.nodeId) ?? `${os.hostname()}-${role}`;
  if (!/^[A-Za-z0-9._:-]{1,100}$/.test(nodeId))
    throw new ConfigError(
      `node id ${JSON.stringify(nodeId)} is not usable`,
      'use 1 to 100 letters, digits, dot, dash, underscore or colon (--node-id or NODE_ID)',
    );
  const leaseSeconds = num('LEASE_DURATION', get('LEASE_DURATION'), 30, 0.5, 3600);
  const renewSeconds = num(
    'LEASE_RENEW_INTERVAL',
    get('LEASE_RENEW_INTERVAL'),
    Math.min(10, leaseSeconds / 3),
    0.1,
    3600,
  );
  const renewDeadlineSeconds = num(
    'LEASE_RENEW_DEADLINE',
    get('LEASE_RENEW_DEADLINE'),
    Math.min(20, (leaseSeconds * 2) / 3),
    0.1,
    3600,
  );
  const retrySeconds = num(
    'LEASE_RETRY_INTERVAL',
    get('LEASE_RETRY_INTERVAL'),
    Math.min(5, leaseSeconds / 6),
    0.05,
    3600,
  );
  if (!(leaseSeconds > renewDeadlineSeconds && renewDeadlineSeconds > 1.2 * retrySeconds)) {
    throw new ConfigError(
      `lease timing is unsafe: LEASE_DURATION ${leaseSeconds} s, LEASE_RENEW_DEADLINE ${renewDeadlineSeconds} s, LEASE_RETRY_INTERVAL ${retrySeconds} s`,
      'the lease must outlast the renew deadline, and the deadline must exceed 1.2 x the retry interval (defaults 30 / 20 / 5 s)',
    );
  }
  if (!(renewSeconds < renewDeadlineSeconds)) {
    throw new ConfigError(
      `LEASE_RENEW_INTERVAL (${renewSeconds} s) must be shorter than LEASE_RENEW_DEADLINE (${renewDeadlineSeconds} s)`,
      'the leader renews several times before its deadline (defaults 10 / 20 s)',
    );
  }
  const heartbeatSeconds = num('HEARTBEAT_INTERVAL', get('HEARTBEAT_INTERVAL'), 30, 0.1, 3600);
  const concurrency = num('OWUI_SYNC_CONCURRENCY', get('OWUI_SYNC_CONCURRENCY', flags.concurrency), 2, 1, 32, true);
  const batchRows = num('OWUI_SYNC_BATCH_ROWS', get('OWUI_SYNC_BATCH_ROWS'), 1000, 1, 1000, true);
  const connectionMode = connectionModeSetting(env);
  const pollSeconds = num(
    'OWUI_SYNC_POLL_INTERVAL',
    get('OWUI_SYNC_POLL_INTERVAL'),
    connectionMode === 'session' ? 15 : 5,
    0.05,
    60,
  );
  const visibilitySeconds = num(
    'OWUI_SYNC_JOB_VISIBILITY',
    get('OWUI_SYNC_JOB_VISIBILITY'),
    leaseSeconds,
    renewSeconds * 2,
    86400,
  );
  const cacheTtlSeconds = num('OWUI_SYNC_STATE_CACHE_TTL', get('OWUI_SYNC_STATE_CACHE_TTL'), 300, 0, 86400);
  const historyDays = num('OWUI_SYNC_JOB_HISTORY_DAYS', get('OWUI_SYNC_JOB_HISTORY_DAYS'), 30, 1, 3650, true);
  const advertiseUrl =
    get('OWUI_SYNC_ADVERTISE_URL', flags.advertiseUrl) ??
    `http://${bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind}:${port}`;
  try {
    new URL(advertiseUrl);
  } catch {
    throw new ConfigError(
      `OWUI_SYNC_ADVERTISE_URL ${JSON.stringify(advertiseUrl)} is not a URL`,
      'give the address peers use to reach this API, e.g. http://127.0.0.1:9443',
    );
  }
  const notifyUrl = get('OWUI_SYNC_NOTIFY_URL');
  if (notifyUrl && !/^https?:\/\//i.test(notifyUrl))
    throw new ConfigError(
      `OWUI_SYNC_NOTIFY_URL must be an http(s) URL (it starts with ${JSON.stringify(notifyUrl.slice(0, 8))})`,
      'e.g. https://hooks.example.com/owui-sync; a URL that holds a secret belongs in OWUI_SYNC_NOTIFY_URL_FILE',
    );
  const logFormat = get('LOG_FORMAT');
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'pretty')
    throw new ConfigError(`LOG_FORMAT is ${JSON.stringify(logFormat)}`, 'use json or pretty');
  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(logLevel))
    throw new ConfigError(`LOG_LEVEL is ${JSON.stringify(logLevel)}`, 'use debug, info, warn or error');
  return {
    role,
    nodeId,
    cluster: get('CLUSTER_NAME', flags.cluster),
    host: get('OWUI_SYNC_HOST', flags.host),
    bind,
    port,
    advertiseUrl,
    leaseSeconds,
    renewSeconds,
    renewDeadlineSeconds,
    retrySeconds,
    heartbeatSeconds,
    concurrency,
    batchRows,
    connectionMode,
    pollSeconds,
    visibilitySeconds,
    cacheTtlSeconds,
    historyDays,
    jwtSecretFile: jwtSecretFile(env),
    notifyUrl,
    ...syncSettings(env),
    logFormat,
    logLevel,
  };
}
