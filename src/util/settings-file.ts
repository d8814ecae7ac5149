import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors.ts';
import { redactText } from './redact.ts';

// Settings without exporting variables every time: a JSON file of the same names the environment takes
// (docs/operating.md), read at every start. The environment and flags come first; the user's file
// comes before the system's. Only paths and password-less URLs: a secret never sits in it.

/** The names a settings file may set (per-node ones such as ROLE, API_PORT and NODE_ID stay per process). */
export const FILE_SETTINGS = [
  'OWUI_SYNC_DATABASE_URL',
  'OWUI_SYNC_DATABASE_URL_FILE',
  'OWUI_SYNC_DATABASE_PASSWORD_FILE',
  'OWUI_SYNC_ADMIN_URL_FILE',
  'OWUI_SYNC_JWT_SECRET_FILE',
  'OWUI_SYNC_HOST',
  'OWUI_SYNC_NODES_FILE',
  'OWUI_SYNC_NOTIFY_URL',
  'OWUI_SYNC_NOTIFY_URL_FILE',
  'CLUSTER_NAME',
  'HEARTBEAT_INTERVAL',
  'LEASE_DURATION',
  'LEASE_RENEW_INTERVAL',
  'LEASE_RENEW_DEADLINE',
  'LEASE_RETRY_INTERVAL',
  'OWUI_SYNC_CONCURRENCY',
  'OWUI_SYNC_BATCH_ROWS',
  'OWUI_SYNC_STATE_CACHE_TTL',
  'OWUI_SYNC_JOB_HISTORY_DAYS',
  'LOG_FORMAT',
  'LOG_LEVEL',
] as const;

export const SYSTEM_SETTINGS_FILE = '/etc/owui-sync/config.json';

/** The files read, system first (the user's overrides it): OWUI_SYNC_CONFIG names one file instead. */
export function settingsFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.OWUI_SYNC_CONFIG !== undefined) return env.OWUI_SYNC_CONFIG === '' ? [] : [env.OWUI_SYNC_CONFIG];
  const configHome = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return [SYSTEM_SETTINGS_FILE, path.join(configHome, 'owui-sync', 'config.json')];
}

export interface FileSetting {
  value: string;
  file: string;
}

/**
 * Read and check the settings files. A file another user could write is refused (it would choose the
 * database and the secret files this tool uses), and so is a secret in it, an unknown name or a bad value.
 */
export function readSettingsFiles(files: string[] = settingsFiles()): Map<string, FileSetting> {
  const out = new Map<string, FileSetting>();
  for (const file of files) {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      continue; // no such file: nothing to read
    }
    const uid = process.getuid?.();
    if ((st.mode & 0o022) !== 0 || (uid !== undefined && st.uid !== uid && st.uid !== 0)) {
      throw new ConfigError(
        `the settings file ${file} can be written by other users (mode ${(st.mode & 0o777).toString(8)}, owner uid ${st.uid}); it is not used`,
        `make it yours or root's and writable by its owner only: chmod 644 ${file} (600 if it names secret files you want hidden)`,
      );
    }
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(
        `the settings file ${file} is not valid JSON: ${(err as Error).message}`,
        'fix or remove it',
      );
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data))
      throw new ConfigError(
        `the settings file ${file} must hold one JSON object`,
        'e.g. { "OWUI_SYNC_HOST": "prod-host-1" }',
      );
    for (const [name, value] of Object.entries(data)) {
      if (!(FILE_SETTINGS as readonly string[]).includes(name))
        throw new ConfigError(
          `the settings file ${file} sets ${JSON.stringify(name)}, which it may not`,
          /PASSWORD$|SECRET$|TOKEN$|^OWUI_SYNC_ADMIN_URL$/.test(name)
            ? `secrets never go in it: name a file that holds it (${name}_FILE)`
            : `it may set: ${FILE_SETTINGS.join(', ')}`,
        );
      if (typeof value !== 'string' && typeof value !== 'number')
        throw new ConfigError(`the settings file ${file}: ${name} must be a string or a number`, 'e.g. "5" or 5');
      const text = String(value);
      if (/^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^@\s]+@/i.test(text))
        throw new ConfigError(
          `the settings file ${file}: ${name} holds a password (${redactText(text)})`,
          'take it out of the URL and put it in a file named by OWUI_SYNC_DATABASE_PASSWORD_FILE (mode 0600)',
        );
      out.set(name, { value: text, file });
    }
  }
  return out;
}

/**
 * Fill the environment of this process with what the settings files set and the environment does not: the
 * resolvers then see flag > environment > user's file > system's file. What came from files is kept in
 * `appliedFromFiles`.
 */
export function applySettingsFiles(env: NodeJS.ProcessEnv = process.env): void {
  appliedFromFiles = new Map();
  for (const [name, s] of readSettingsFiles(settingsFiles(env))) {
    // X and X_FILE are one setting: a value for either in the environment wins over both in the file.
    const base = name.endsWith('_FILE') ? name.slice(0, -5) : name;
    if ((env[base] ?? '') !== '' || (env[`${base}_FILE`] ?? '') !== '') continue;
    env[name] = s.value;
    appliedFromFiles.set(name, s);
  }
}

/** What the settings files put into this process's environment when its verb started (for `config show`). */
export let appliedFromFiles = new Map<string, FileSetting>();
