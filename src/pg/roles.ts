import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../util/errors.ts';
import type { Sql, Tx } from './connect.ts';
import { ident } from './connect.ts';

export const GROUP_ROLE = 'sync_service';

/** Host names become role names (sync_service_<host>): the same rules as client names. */
export function validateHostName(name: string): string {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) {
    throw new ConfigError(
      `invalid host name ${JSON.stringify(name)}`,
      'use lower-case letters, digits, "-" and "_" (e.g. prod-host-1)',
    );
  }
  if (Buffer.byteLength(hostRole(name)) > 63)
    throw new ConfigError(
      `host name ${JSON.stringify(name)} is too long`,
      'the role name sync_service_<host> must fit in 63 bytes',
    );
  return name;
}

export const hostRole = (host: string) => `${GROUP_ROLE}_${host}`;

/** A strong password: 32 random bytes, URL-safe (no quoting problems in URLs or files). */
export function generatePassword(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, as libpq's
 * PQencryptPasswordConn makes it). Sending the verifier instead of the password keeps the clear text
 * out of the server's statement log and pg_stat_activity.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = crypto.randomBytes(16);
  const salted = crypto.pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = crypto.createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = crypto.createHash('sha256').update(clientKey).digest();
  const serverKey = crypto.createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** A string literal for DDL that cannot take parameters; only ever used for verifiers we made. */
function literal(s: string): string {
  if (!/^[A-Za-z0-9+/=$:-]+$/.test(s)) throw new Error('refusing to quote an unexpected value');
  return `'${s}'`;
}

export async function roleExists(q: Sql | Tx, role: string): Promise<{ exists: boolean; canLogin: boolean }> {
  const r = await q<{ rolcanlogin: boolean }[]>`select rolcanlogin from pg_roles where rolname = ${role}`;
  return { exists: r.length > 0, canLogin: !!r[0]?.rolcanlogin };
}

/** Create the host's login role, or set its password; it is always a member of sync_service. */
export async function upsertHostRole(
  tx: Tx,
  role: string,
  password: string | null,
): Promise<'created' | 'rotated' | 'unchanged'> {
  const { exists } = await roleExists(tx, role);
  const pw = password === null ? '' : ` PASSWORD ${literal(scramVerifier(password))}`;
  let outcome: 'created' | 'rotated' | 'unchanged';
  if (!exists) {
    await tx.unsafe(`CREATE ROLE ${ident(role)} LOGIN INHERIT CONNECTION LIMIT 20${pw}`);
    outcome = 'created';
  } else {
    await tx.unsafe(`ALTER ROLE ${ident(role)} LOGIN INHERIT CONNECTION LIMIT 20${pw}`);
    outcome = password === null ? 'unchanged' : 'rotated';
  }
  // Plain membership (PostgreSQL 15 has no per-grant INHERIT option): the host role inherits exactly
  // sync_service's privileges plus the client schemas granted to it by name.
  await tx.unsafe(`GRANT ${ident(GROUP_ROLE)} TO ${ident(role)}`);
  return outcome;
}

/** A client schema belongs to one host: its role gets SELECT/INSERT/UPDATE, nobody else (but the admin). */
export async function grantClientSchema(
  tx: Tx,
  schema: string,
  role: string | null,
  previousRole: string | null,
): Promise<void> {
  const s = ident(schema);
  // The legacy toolkit granted every client schema to sync_service, i.e. to every host.
  await tx.unsafe(`REVOKE ALL ON SCHEMA ${s} FROM ${ident(GROUP_ROLE)}`);
  await tx.unsafe(`REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${ident(GROUP_ROLE)}`);
  if (previousRole && previousRole !== role && (await roleExists(tx, previousRole)).exists) {
    await tx.unsafe(`REVOKE ALL ON SCHEMA ${s} FROM ${ident(previousRole)}`);
    await tx.unsafe(`REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${ident(previousRole)}`);
    await tx.unsafe(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} REVOKE ALL ON TABLES FROM ${ident(previousRole)}`);
  }
  if (!role) return;
  await tx.unsafe(`GRANT USAGE ON SCHEMA ${s} TO ${ident(role)}`);
  await tx.unsafe(`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ${s} TO ${ident(role)}`);
  await tx.unsafe(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT SELECT, INSERT, UPDATE ON TABLES TO ${ident(role)}`);
}

/**
 * Write a secret to a file only its owner can read, atomically: a reader sees the old secret or the
 * new one, never half of it. Returns a function that commits (renames) it, and one that discards it.
 */
export function stageSecretFile(file: string, secret: string): { commit: () => void; discard: () => void } {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  if (!fs.existsSync(dir))
    throw new ConfigError(
      `folder ${dir} for the secret file does not exist`,
      'create it (mode 0700) or choose another --secret-file',
    );
  const tmp = path.join(dir, `.${path.basename(abs)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return {
    commit: () => {
      fs.renameSync(tmp, abs);
      fs.chmodSync(abs, 0o600);
    },
    discard: () => fs.rmSync(tmp, { force: true }),
  };
}
