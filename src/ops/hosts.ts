import { ident, openPg } from '../pg/connect.ts';
import { requireProvisioned } from '../pg/deployments.ts';
import { adminRoleOf, borrowRole, explainAdminError } from '../pg/privileges.ts';
import { hostRole, roleExists, validateHostName } from '../pg/roles.ts';
import { ConfigError } from '../util/errors.ts';

export interface HostRemoveResult {
  host: string;
  role: string;
  role_dropped: boolean;
  sessions_ended: number;
  /** Clients still assigned to the host: nobody syncs them until they are moved (client add --host). */
  orphaned_clients: string[];
}

/**
 * Revoke a host: end its sessions, drop its role and every privilege it had in this database, and mark
 * the host offline. Other hosts, their roles and all rows (history included) stay as they are. Needs no
 * superuser: a CREATEROLE admin (Supabase's postgres) borrows the host role's privileges for the revocation.
 */
export async function hostRemove(adminUrl: string, name: string): Promise<HostRemoveResult> {
  validateHostName(name);
  const role = hostRole(name);
  const sql = await openPg(adminUrl, 'the admin connection');
  try {
    await requireProvisioned(sql);
    const hosts = await sql<
      { host_id: string }[]
    >`select host_id from sync_metadata.hosts where hostname = ${name} or role_name = ${role}`;
    const { exists } = await roleExists(sql, role);
    if (hosts.length === 0 && !exists)
      throw new ConfigError(
        `host "${name}" is not registered`,
        'select hostname from sync_metadata.hosts lists the registered hosts',
      );
    let out!: HostRemoveResult;
    await sql.begin(async (tx) => {
      const orphans = await tx<{ client_name: string }[]>`
        select client_name from sync_metadata.client_deployments where host_id in ${tx(hosts.map((h) => h.host_id).concat(['00000000-0000-0000-0000-000000000000']))} order by 1`;
      await tx`update sync_metadata.hosts set role_name = null, status = 'offline', updated_at = now() where hostname = ${name} or role_name = ${role}`;
      if (exists) {
        // DROP OWNED BY and ending the role's sessions need its privileges.
        await borrowRole(tx, role);
        await tx.unsafe(`ALTER ROLE ${ident(role)} NOLOGIN`);
        await tx.unsafe(`DROP OWNED BY ${ident(role)}`);
      }
      out = {
        host: name,
        role,
        role_dropped: false,
        sessions_ended: 0,
        orphaned_clients: orphans.map((o) => o.client_name),
      };
    });
    if (exists) {
      // Sessions opened before the revocation keep their rights until they end: end them now.
      const ended = await sql`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role}`;
      out.sessions_ended = ended.length;
      try {
        await sql.unsafe(`DROP ROLE ${ident(role)}`);
        out.role_dropped = true;
      } catch (err) {
        throw new ConfigError(
          `role ${role} lost every privilege here and can no longer log in, but it could not be dropped: ${(err as Error).message}`,
          'it still has privileges in another database of this server: run owui-sync host remove there too',
        );
      }
    }
    return out;
  } catch (err) {
    throw explainAdminError(err, adminRoleOf(adminUrl), `host remove ${name}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
