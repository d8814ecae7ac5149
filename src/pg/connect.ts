import { EventEmitter } from 'node:events';
import net from 'node:net';
import postgres from 'postgres';
import type { ConnectionMode } from '../util/config.ts';
import { ConfigError, messageOf, OwuiError } from '../util/errors.ts';
import { redactUrl } from '../util/redact.ts';
import { requirePatchedDriver } from './driver.ts';

export type Sql = postgres.Sql<Record<string, never>>;
export type Tx = postgres.TransactionSql<Record<string, never>>;

/** Long enough for a cross-region Supabase pooler handshake, short enough to report a dead host quickly. */
const CONNECT_TIMEOUT_S = 10;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** Check a connection URL before any connection is tried; refuse what cannot work. */
export function parsePgUrl(url: string, what: string, mode: ConnectionMode = defaultMode): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`${what} is not a valid URL`, 'expected postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new ConfigError(
      `${what} is not a PostgreSQL URL (${redactUrl(url)})`,
      'expected postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE',
    );
  }
  if (u.port === '6543' && mode === 'session') {
    throw new ConfigError(
      `${what} points at port 6543, Supabase's transaction pooler (${redactUrl(url)}), in session mode`,
      'use the session pooler on port 5432 or a direct connection, or set OWUI_SYNC_CONNECTION_MODE=transaction (fleet mode: no LISTEN, no session state; docs/fleet.md)',
    );
  }
  return u;
}

/**
 * How the connections reach PostgreSQL. `session`: a direct connection or a session pooler (Supabase's port 5432):
 * agents LISTEN for notifications. `transaction`: a transaction pooler (Supavisor's 6543, PgBouncer in transaction
 * mode): no statement relies on the session (no prepared statements, no LISTEN, no session lock, staging tables
 * dropped at commit), and agents poll instead of listening. Chosen once, at start (OWUI_SYNC_CONNECTION_MODE).
 */
export type { ConnectionMode };

let defaultMode: ConnectionMode = 'session';

/** The mode of every pool opened from now on (the CLI sets it from OWUI_SYNC_CONNECTION_MODE before any verb). */
export function setConnectionMode(mode: ConnectionMode): void {
  defaultMode = mode;
}

export function connectionMode(): ConnectionMode {
  return defaultMode;
}

const poolModes = new WeakMap<object, ConnectionMode>();

/** The mode a pool was opened in (session for a pool owui-sync did not open). */
export function poolMode(sql: Sql | Tx): ConnectionMode {
  return poolModes.get(sql) ?? 'session';
}

/** TLS unless the server is on this machine, or the URL's sslmode decides (then postgres.js follows it). */
export function sslFor(u: URL): false | 'require' | undefined {
  if (u.searchParams.get('sslmode')) return undefined;
  const host = u.hostname;
  if (
    LOOPBACK.has(host) ||
    /^127\.\d+\.\d+\.\d+$/.test(host) ||
    host === '' ||
    decodeURIComponent(host).startsWith('/')
  )
    return false;
  return 'require';
}

/**
 * How long a pool waits before it opens a connection again after failed attempts, in seconds. postgres.js's own
 * delay grows to 20 s (3^n / 100), shared by the pool: with PostgreSQL down a while, a query waited up to 20 s
 * before it even tried, and as long after PostgreSQL was back (the menu said "loading…" instead of the error; an
 * agent came back late). Our callers pace their own retries (src/util/retry.ts, the agent's loops, the menu's
 * refresh), so the driver's delay only has to avoid a tight loop: 50 ms doubling, at most 1 s.
 */
export function reconnectDelaySeconds(failures: number): number {
  return Math.min(0.05 * 2 ** failures, 1);
}

/**
 * A connection pool for one purpose. TLS is required for non-loopback hosts unless the URL's
 * sslmode says otherwise. Notices (e.g. "already exists, skipping") are not printed.
 *
 * No server setting goes in the startup packet but application_name: poolers refuse the others (PgBouncer:
 * "unsupported startup parameter"), and in transaction mode a session setting would outlive its transaction on a
 * server connection someone else gets next. Settings a statement needs are set inside its transaction
 * (set_config(..., true)). In transaction mode nothing is prepared: the next statement may meet another server.
 */
export function connect(
  url: string,
  opts: {
    what: string;
    max?: number;
    applicationName?: string;
    mode?: ConnectionMode;
    /** More postgres.js options (onnotify, onclose, idle_timeout ...). */
    options?: Record<string, unknown>;
  },
): Sql {
  requirePatchedDriver();
  const mode = opts.mode ?? defaultMode;
  const ssl = sslFor(parsePgUrl(url, opts.what, mode));
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const sql = postgres(url, {
    max: opts.max ?? 1,
    onnotice: () => {},
    connect_timeout: CONNECT_TIMEOUT_S,
    idle_timeout: 30,
    backoff: reconnectDelaySeconds,
    prepare: mode === 'session',
    ...(ssl === undefined ? {} : { ssl }),
    connection: { application_name: opts.applicationName ?? 'owui-sync' },
    ...opts.options,
    // Not in the Options type of postgres.js 3.4, but supported: a factory for the socket.
    ...({ socket: (o: SocketOptions) => noDelaySocket(o, events) } as object),
  }) as unknown as Sql;
  socketEvents.set(sql, events);
  poolModes.set(sql, mode);
  return sql;
}

/**
 * `set_config` of the transaction's idle limit (idle_in_transaction_session_timeout), for a select list: `ms`,
 * or the session's own when undefined. Set per transaction, it needs no session setting (poolers).
 */
export function idleLimit(tx: Sql | Tx, ms: number | null | undefined) {
  const v = ms === null || ms === undefined ? null : String(ms);
  return tx`set_config('idle_in_transaction_session_timeout',
                       coalesce(${v}::text, current_setting('idle_in_transaction_session_timeout')), true)`;
}

/**
 * Cancel a statement that has not answered within `ms` (it then rejects with PostgreSQL's 57014): a statement
 * timeout that needs no session setting, so it works through any pooler.
 */
export async function within<T>(q: Promise<T> & { cancel(): unknown }, ms: number): Promise<T> {
  const t = setTimeout(() => void q.cancel(), ms);
  try {
    return await q;
  } finally {
    clearTimeout(t);
  }
}

/**
 * postgres.js leaves Nagle's algorithm on. A COPY ends with a small CopyDone message right after
 * its data, which Nagle holds until the server's delayed ACK (about 40 ms): every batch and the
 * query after it would wait that long. A socket with TCP_NODELAY removes the stall.
 *
 * The socket is returned while it is still connecting, not through a promise: postgres.js keeps its
 * socket null while it awaits the factory, and a write it scheduled meanwhile then crashes the
 * process (seen when a connection is lost and re-opened). Node buffers writes until the connection
 * is up; errors arrive as 'error' events, which postgres.js listens to.
 */
interface SocketOptions {
  host: string[];
  port: number[];
  path?: string;
}

const socketEvents = new WeakMap<object, EventEmitter>();

/**
 * Emits 'close' whenever a socket of this pool closes. postgres.js does not end a COPY stream
 * when its connection dies, so a COPY in flight would wait forever: the writer listens here.
 */
export function poolSocketEvents(sql: Sql): EventEmitter | undefined {
  return socketEvents.get(sql);
}

function noDelaySocket(o: SocketOptions, events: EventEmitter): net.Socket {
  const s = o.path ? net.connect({ path: o.path }) : net.connect({ host: o.host[0], port: o.port[0]!, noDelay: true });
  const timer = setTimeout(
    () =>
      s.destroy(Object.assign(new Error(`connect timeout after ${CONNECT_TIMEOUT_S} s`), { code: 'CONNECT_TIMEOUT' })),
    CONNECT_TIMEOUT_S * 1000,
  );
  s.once('connect', () => clearTimeout(timer));
  s.once('close', () => {
    clearTimeout(timer);
    events.emit('close');
  });
  return s;
}

const TRANSIENT_CODES = new Set([
  '40001',
  '40P01',
  // The server ended the session: a transaction left idle past idle_in_transaction_session_timeout (the agent's
  // connections set it to the renew interval, so a node paused mid-batch comes back to this), or an idle session.
  // The work is redone on a new connection, where the fence decides whether it may still land.
  '25P03',
  '57P05',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);
const TRANSIENT_NODE = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'EAI_AGAIN',
]);

/** Errors worth retrying: a lost connection, a serialization failure, a deadlock, a restart. */
export function isTransientPgError(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code !== undefined && (TRANSIENT_CODES.has(code) || TRANSIENT_NODE.has(code));
}

/** Errors caused by the data in a batch (a value or a constraint), as opposed to the connection or the schema. */
export function isDataPgError(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return code.startsWith('22') || code.startsWith('23') || code === '42804';
}

/** Turn a connection failure into an operator-readable error without the password. */
export function pgConnectError(err: unknown, url: string, what: string): OwuiError {
  const code = (err as { code?: string })?.code;
  const where = redactUrl(url);
  const m = messageOf(err);
  if (code === 'ECONNREFUSED')
    return new OwuiError(`cannot reach PostgreSQL for ${what} at ${where}: connection refused`, {
      hint: 'check the host and port in the URL, and that the server is running',
      cause: err,
    });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new OwuiError(`cannot resolve the host of ${what} (${where})`, {
      hint: 'check the host name in the URL',
      cause: err,
    });
  if (code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT')
    return new OwuiError(`timed out connecting to PostgreSQL for ${what} at ${where}`, {
      hint: 'check the host, port and firewall',
      cause: err,
    });
  if (code === '28P01' || code === '28000')
    return new OwuiError(`PostgreSQL refused the login for ${what} (${where}): ${m}`, {
      hint: 'check the user name and password (the password is never shown)',
      exitCode: 2,
      cause: err,
    });
  if (code === '3D000')
    return new OwuiError(`${m} (${where})`, {
      hint: 'check the database name at the end of the URL',
      exitCode: 2,
      cause: err,
    });
  return new OwuiError(`PostgreSQL error for ${what} (${where}): ${m}`, { cause: err });
}

/** Connect and check the server answers, with a clear error if it does not. */
export async function openPg(url: string, what: string, max = 1): Promise<Sql> {
  const sql = connect(url, { what, max });
  try {
    await sql`select 1`;
    return sql;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw pgConnectError(err, url, what);
  }
}

/** PostgreSQL identifier quoting, the rule postgres.js itself applies to identifiers. */
export const ident = (name: string) => {
  if (name.includes('\0')) throw new OwuiError(`identifier contains a NUL byte: ${JSON.stringify(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
};
