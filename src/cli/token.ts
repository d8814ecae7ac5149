import os from 'node:os';
import { MAX_TTL_SECONDS, mintToken } from '../api/auth.ts';
import { DEFAULT_JWT_SECRET_FILE, jwtSecretFile, readJwtSecret } from '../cluster/secret-file.ts';
import { ConfigError } from '../util/errors.ts';
import { Command } from './commander.ts';
import { type Io, printJson } from './output.ts';

/** "10m", "1h", "90s": a token's lifetime. */
export function parseTtl(text: string): number {
  const m = /^(\d+)\s*(s|m|h)?$/i.exec(text.trim());
  const secs = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h'] : NaN;
  if (!m || secs < 10 || secs > MAX_TTL_SECONDS)
    throw new ConfigError(`invalid --ttl ${JSON.stringify(text)}`, 'use 10s to 24h, e.g. 10m or 1h');
  return secs;
}

export function tokenCommand(io: Io): Command {
  return new Command('token')
    .description("print a short-lived API token (JWT), signed with the cluster's API secret file")
    .option('--ttl <time>', 'lifetime: 10s to 24h', '10m')
    .option(
      '--subject <name>',
      'who the token is for (recorded as resolved_by, triggered_by)',
      `${os.userInfo().username}@${os.hostname()}`,
    )
    .addHelpText(
      'after',
      `\nThe secret is read from OWUI_SYNC_JWT_SECRET_FILE (default ${DEFAULT_JWT_SECRET_FILE}), never from argv.\nExample:\n  curl -H "Authorization: Bearer $(owui-sync token)" http://127.0.0.1:9443/api/v1/cluster/status`,
    )
    .action(async (opts: { ttl: string; subject: string }, cmd: Command) => {
      const ttl = parseTtl(opts.ttl);
      if (!/^[\w.@:-]{1,100}$/.test(opts.subject))
        throw new ConfigError(
          `invalid --subject ${JSON.stringify(opts.subject)}`,
          'use 1 to 100 letters, digits and . @ : - _',
        );
      const file = jwtSecretFile();
      const secret = readJwtSecret(file);
      if (!secret)
        throw new ConfigError(
          `no API secret at ${file}`,
          'point OWUI_SYNC_JWT_SECRET_FILE at the file the agents use, or create it: openssl rand -base64 48 > FILE (mode 0600)',
        );
      const token = await mintToken(secret, { ttlSeconds: ttl, subject: opts.subject });
      if (cmd.optsWithGlobals().json)
        printJson(io, { token, expires_at: new Date(Date.now() + ttl * 1000).toISOString(), subject: opts.subject });
      else io.out(token);
    });
}
