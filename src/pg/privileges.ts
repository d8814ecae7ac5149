import { ConfigError, causedBy, messageOf, OwuiError } from '../util/errors.ts';
import type { Sql, Tx } from './connect.ts';
import { ident } from './connect.ts';
import { GROUP_ROLE } from './roles.ts';

// What the admin role needs, and how to get it. owui-sync needs no superuser: Supabase's admin role
// (`postgres`) is not one. It has CREATEROLE, CREATEDB, REPLICATION and BYPASSRLS, and ALL on the database and
// on schema public; of those owui-sync uses CREATEROLE (the sync_service group and one login role per host) and
// CREATE on the database (sync_metadata and one schema per client). On PostgreSQL 16 and later, changing a
// role also needs ADMIN OPTION on it, which a CREATEROLE role has on the roles it created itself.

const ON_SUPABASE = 'On Supabase, run admin verbs as the postgres role, with the connection string of the project';
const selfHosted = (fix: string) => `on a self-hosted server, as a superuser: ${fix}`;

export interface AdminStanding {
  role: string;
  database: string;
  superuser: boolean;
  /** What the role lacks for provisioning, each with how to get it; empty when it may go ahead. */
  missing: string[];
}

/** Ask the server what the admin role may do, before anything is changed. */
export async function adminStanding(sql: Sql): Promise<AdminStanding> {
  const [me] = await sql<
    {
      role: string;
      db: string;
      superuser: boolean;
      createrole: boolean;
      create_db: boolean;
      pg16: boolean;
      group_exists: boolean;
      group_admin: boolean;
      meta_owner: string | null;
      owns_meta: boolean;
    }[]
  >`
    select current_user as role, current_database() as db, r.rolsuper as superuser, r.rolcreaterole as createrole,
           has_database_privilege(current_database(), 'CREATE') as create_db,
           current_setting('server_version_num')::int >= 160000 as pg16,
           exists (select 1 from pg_roles where rolname = ${GROUP_ROLE}) as group_exists,
           coalesce((select pg_has_role(current_user, oid, 'MEMBER WITH ADMIN OPTION') from pg_roles where rolname = ${GROUP_ROLE}), false) as group_admin,
           (select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'sync_metadata') as meta_owner,
           coalesce((select pg_has_role(current_user, nspowner, 'USAGE') from pg_namespace where nspname = 'sync_metadata'), true) as owns_meta
    from pg_roles r where r.rolname = current_user`;
  const m = me!;
  const missing: string[] = [];
  if (!m.superuser) {
    if (!m.createrole)
      missing.push(
        `CREATEROLE (to create the ${GROUP_ROLE} group role and one login role per host). ${ON_SUPABASE}; ${selfHosted(`ALTER ROLE ${ident(m.role)} CREATEROLE`)}`,
      );
    if (!m.create_db)
      missing.push(
        `CREATE on database ${m.db} (for schema sync_metadata and one schema per client). ${ON_SUPABASE}; ${selfHosted(`GRANT CREATE ON DATABASE ${ident(m.db)} TO ${ident(m.role)}`)}`,
      );
    if (m.pg16 && m.group_exists && !m.group_admin)
      missing.push(
        `ADMIN OPTION on role ${GROUP_ROLE} (PostgreSQL 16 and later: to make host roles members of it; another role created it). ${ON_SUPABASE}, the role that created ${GROUP_ROLE}; ${selfHosted(`GRANT ${GROUP_ROLE} TO ${ident(m.role)} WITH ADMIN OPTION`)}`,
      );
    if (m.meta_owner && !m.owns_meta)
      missing.push(
        `ownership of schema sync_metadata (it belongs to ${m.meta_owner}: migrations alter its tables). ${ON_SUPABASE}, the role that made it; ${selfHosted(`GRANT ${ident(m.meta_owner)} TO ${ident(m.role)}`)}`,
      );
  }
  return { role: m.role, database: m.db, superuser: m.superuser, missing };
}

/** Refuse, before anything changes, when the admin role lacks what provisioning needs; says all of it at once. */
export function requireAdminStanding(s: AdminStanding): void {
  if (s.missing.length === 0) return;
  throw new ConfigError(
    `the admin role ${s.role} lacks what owui-sync needs in database ${s.database}; nothing was changed:\n  - ${s.missing.join('\n  - ')}`,
    'owui-sync needs no superuser: CREATEROLE and CREATE on the database are enough (docs/security.md)',
  );
}

/** PostgreSQL's insufficient_privilege. */
const INSUFFICIENT_PRIVILEGE = '42501';

/** The first PostgreSQL error in a chain of causes. */
function pgErrorOf(err: unknown): { code?: string; message: string } | undefined {
  for (let e: unknown = err; e instanceof Error; e = (e as Error).cause) {
    if (typeof (e as { code?: unknown }).code === 'string' && (e as { severity?: unknown }).severity) return e as never;
  }
  return undefined;
}

/**
 * A refusal by PostgreSQL during an admin verb, in words that name the missing privilege and how to get it on
 * Supabase and on a self-hosted server. Other errors pass through unchanged.
 */
export function explainAdminError(err: unknown, adminRole: string, what: string): unknown {
  const pg = pgErrorOf(err);
  if (!pg || pg.code !== INSUFFICIENT_PRIVILEGE || causedBy(err, ConfigError)) return err;
  const m = pg.message;
  const role = /role "([^"]+)"/.exec(m)?.[1];
  let need: string;
  let fix: string;
  if (/permission denied to create role/.test(m)) {
    need = 'CREATEROLE';
    fix = `ALTER ROLE ${ident(adminRole)} CREATEROLE`;
  } else if (/permission denied for database/.test(m)) {
    need = 'CREATE on the database';
    fix = `GRANT CREATE ON DATABASE <database> TO ${ident(adminRole)}`;
  } else if (/admin option|ADMIN option/i.test(m) || /permission denied to (alter|drop|grant|revoke)/.test(m)) {
    need = `ADMIN OPTION on role ${role ?? '(the role named above)'} (PostgreSQL 16 and later let a role change only the roles it created or holds ADMIN OPTION on)`;
    fix = `GRANT ${role ? ident(role) : '<role>'} TO ${ident(adminRole)} WITH ADMIN OPTION`;
  } else if (/permission denied to drop objects/.test(m) || /permission denied to terminate/.test(m)) {
    need = 'the privileges of the role being revoked (membership in it)';
    fix = `GRANT <host role> TO ${ident(adminRole)}`;
  } else if (/must be owner of/.test(m)) {
    need = `ownership of the object named above`;
    fix = `ALTER ... OWNER TO ${ident(adminRole)}, or run this verb as the owner`;
  } else {
    need = 'a privilege PostgreSQL names above';
    fix = `GRANT it to ${ident(adminRole)}`;
  }
  return new OwuiError(`${what}: PostgreSQL refused the admin role ${adminRole}: ${messageOf(pg)}; it needs ${need}`, {
    hint: `${ON_SUPABASE} (it has what owui-sync needs); ${selfHosted(fix)}. Nothing of this step was changed (its transaction rolled back)`,
    exitCode: 2,
    cause: err,
  });
}

/**
 * Lend the admin the privileges of a role for the statements in `tx` (DROP OWNED BY needs them; so does
 * ending the role's sessions): a superuser has them; a CREATEROLE admin such as Supabase's postgres becomes a
 * member of the role. Membership goes when the role is dropped.
 */
export async function borrowRole(tx: Tx, role: string): Promise<void> {
  const [r] = await tx<{ has: boolean }[]>`
    select rolsuper or pg_has_role(current_user, ${role}, 'USAGE') as has from pg_roles where rolname = current_user`;
  if (!r?.has) await tx.unsafe(`GRANT ${ident(role)} TO CURRENT_USER`);
}

/** The admin role's name, from its URL (for messages; never the password). */
export function adminRoleOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || 'the admin role';
  } catch {
    return 'the admin role';
  }
}
