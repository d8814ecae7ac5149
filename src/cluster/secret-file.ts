import fs from 'node:fs';
import { type Env, readSettingFile } from '../util/config.ts';
import { ConfigError } from '../util/errors.ts';

// The API's signing secret: where it is read from, and reading it. Apart from the agent's settings (settings.ts),
// so that `owui-sync token` and the CLI's start do not load what those are checked with (zod).

export const DEFAULT_JWT_SECRET_FILE = '/run/secrets/api_jwt_secret';
/** Where the API's signing secret is read from (the agent and owui-sync token agree on it). */
export const jwtSecretFile = (env: Env = process.env) => env.OWUI_SYNC_JWT_SECRET_FILE || DEFAULT_JWT_SECRET_FILE;

/** The API's signing secret, from a file only (never argv or the environment). */
export function readJwtSecret(file: string): Uint8Array | null {
  if (!fs.existsSync(file)) return null;
  const text = readSettingFile(file, 'OWUI_SYNC_JWT_SECRET_FILE');
  if (Buffer.byteLength(text) < 32)
    throw new ConfigError(
      `the API secret in ${file} is shorter than 32 bytes`,
      `write at least 32 random bytes, e.g.: openssl rand -base64 48 > ${file}`,
    );
  return new TextEncoder().encode(text);
}
