import fs from 'node:fs';
import { ConfigError } from './errors.ts';

export type Env = Record<string, string | undefined>;

/**
 * A setting from, in order: the command-line flag, the environment variable X, or the file named
 * by X_FILE (the way Docker secrets are read: /run/secrets/...). Trailing newlines of files are
 * dropped. A missing or unreadable X_FILE is an error, not a silent fallback.
 */
export function resolveSetting(name: string, flag: string | undefined, env: Env = process.env): string | undefined {
  if (flag !== undefined && flag !== '') return flag;
  const direct = env[name];
  if (direct !== undefined && direct !== '') return direct;
  const file = env[`${name}_FILE`];
  return file ? readSettingFile(file, `${name}_FILE`) : undefined;
}

/** A setting's or secret's file, without its trailing newline; unreadable is an error naming the variable. */
export function readSettingFile(file: string, variable: string): string {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(
      `cannot read ${variable} (${file}): ${(err as NodeJS.ErrnoException).code ?? err}`,
      'check that the file exists and is readable by this user',
    );
  }
}

/** How connections reach PostgreSQL (src/pg/connect.ts): directly or through a session pooler, or a transaction pooler. */
export type ConnectionMode = 'session' | 'transaction';

/** OWUI_SYNC_CONNECTION_MODE: session (default) or transaction (fleet mode, through a transaction pooler). */
export function connectionModeSetting(env: Env = process.env): ConnectionMode {
  const v = resolveSetting('OWUI_SYNC_CONNECTION_MODE', undefined, env) ?? 'session';
  if (v !== 'session' && v !== 'transaction')
    throw new ConfigError(
      `OWUI_SYNC_CONNECTION_MODE is ${JSON.stringify(v)}`,
      'use session (a direct connection or a session pooler, port 5432) or transaction (a transaction pooler such as Supavisor on 6543 or PgBouncer in transaction mode)',
    );
  return v;
}

/** Where a container finds the host role's password (a Docker secret or a bind-mounted file). */
export const DEFAULT_PASSWORD_FILE = '/run/secrets/db_sync_password';

/**
 * The runtime connection (sync, verify, status): --database-url, OWUI_SYNC_DATABASE_URL(_FILE).
 * The URL may leave the password out: it then comes from OWUI_SYNC_DATABASE_PASSWORD_FILE, or from
 * /run/secrets/db_sync_password when that file exists, so no secret sits in an environment variable.
 */
export function requireDatabaseUrl(flag: string | undefined, env: Env = process.env): string {
  const v = resolveSetting('OWUI_SYNC_DATABASE_URL', flag, env);
  if (!v)
    throw new ConfigError(
      'no database connection given',
      'pass --database-url, or set OWUI_SYNC_DATABASE_URL or OWUI_SYNC_DATABASE_URL_FILE',
    );
  return withPasswordFile(v, env);
}

export function withPasswordFile(url: string, env: Env = process.env): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url; // reported by the connection with its own message
  }
  if (u.password) return url;
  const named = env.OWUI_SYNC_DATABASE_PASSWORD_FILE;
  const file = named || (fs.existsSync(DEFAULT_PASSWORD_FILE) ? DEFAULT_PASSWORD_FILE : undefined);
  if (!file) return url;
  const pw = readSettingFile(file, 'OWUI_SYNC_DATABASE_PASSWORD_FILE');
  if (!pw)
    throw new ConfigError(
      `the password file ${file} is empty`,
      'provision --host NAME --secret-file PATH writes it; check the path',
    );
  u.password = encodeURIComponent(pw);
  return u.toString();
}

/** The admin connection (provision, client add, schema apply): --admin-url, OWUI_SYNC_ADMIN_URL(_FILE). */
export function requireAdminUrl(flag: string | undefined, env: Env = process.env): string {
  const v = resolveSetting('OWUI_SYNC_ADMIN_URL', flag, env);
  if (!v)
    throw new ConfigError(
      'no admin connection given',
      'pass --admin-url, or set OWUI_SYNC_ADMIN_URL or OWUI_SYNC_ADMIN_URL_FILE',
    );
  return v;
}

/** The legacy menu's intervals are seconds (60/300/3600/14400/86400); people also write 5m, 1h, 1d. */
export function parseInterval(text: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/i.exec(text.trim());
  if (!m)
    throw new ConfigError(
      `invalid interval ${JSON.stringify(text)}`,
      'use seconds (300) or a number with s, m, h or d (5m, 1h, 1d)',
    );
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const secs = n * (unit === 's' ? 1 : unit === 'm' ? 60 : unit === 'h' ? 3600 : 86400);
  if (secs < 60 || secs > 7 * 86400) throw new ConfigError(`interval ${text} is out of range`, 'use between 1m and 7d');
  return secs;
}

export function formatInterval(secs: number): string {
  if (secs % 86400 === 0) return `${secs / 86400}d`;
  if (secs % 3600 === 0) return `${secs / 3600}h`;
  if (secs % 60 === 0) return `${secs / 60}m`;
  return `${secs}s`;
}
