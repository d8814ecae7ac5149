import { SwarmSecrets } from '../docker/secrets.ts';
import { openPg, type Sql, type Tx } from '../pg/connect.ts';
import { type MigrateResult, migrate } from '../pg/migrate.ts';
import { adminRoleOf, adminStanding, explainAdminError, requireAdminStanding } from '../pg/privileges.ts';
import {
  GROUP_ROLE,
  generatePassword,
  grantClientSchema,
  hostRole,
  roleExists,
  stageSecretFile,
  upsertHostRole,
  validateHostName,
} from '../pg/roles.ts';
import { ConfigError, OwuiError } from '../util/errors.ts';

export interface ProvisionInput {
  adminUrl: string;
  /** Register this host and create (or keep) its login role sync_service_<host>. */
  host?: string;
  /** Leader-election cluster of the host's agent pair (default: the host name). */
  cluster?: string;
  /** Where the host role's password goes (mode 0600). Needed when the role is created or rotated. */
  secretFile?: string;
  /** Or: a Docker swarm secret of this name receives it (the engine must be in swarm mode). */
  dockerSecret?: string;
  /** Replace the host role's password. */
  rotate?: boolean;
}

export interface ProvisionResult extends MigrateResult {
  schema_version: number;
  /** What provision changed in an existing schema, in words an operator can check. */
  changes: string[];
  host?: {
    name: string;
    cluster: string;
    host_id: string;
    role: string;
    password: 'created' | 'rotated' | 'unchanged';
    secret: { kind: 'file'; path: string } | { kind: 'docker'; name: string; id: string } | null;
  };
}

const LEGACY_TABLES = [
  'hosts',
  'client_deployments',
  'leader_election',
  'conflict_log',
  'cache_events',
  'sync_jobs',
  'sync_progress',
];

export interface Snapshot {
  rows: Map<string, number>;
  columns: Set<string>;
  tables: Set<string>;
  policies: string[];
  groupCanLogin: boolean | null;
}

async function snapshot(sql: Sql): Promise<Snapshot> {
  const tables = new Set(
    (
      await sql<
        { t: string }[]
      >`select table_name as t from information_schema.tables where table_schema = 'sync_metadata'`
    ).map((r) => r.t),
  );
  const rows = new Map<string, number>();
  for (const t of LEGACY_TABLES) {
    if (tables.has(t))
      rows.set(t, (await sql.unsafe(`select count(*)::int as n from sync_metadata."${t}"`))[0]!.n as number);
  }
  const columns = new Set(
    (
      await sql<
        { c: string }[]
      >`select table_name || '.' || column_name as c from information_schema.columns where table_schema = 'sync_metadata'`
    ).map((r) => r.c),
  );
  const policies = (
    await sql<
      { p: string }[]
    >`select tablename || '.' || policyname as p from pg_policies where schemaname = 'sync_metadata' order by 1`
  ).map((r) => r.p);
  const g = await roleExists(sql, GROUP_ROLE);
  return { rows, columns, tables, policies, groupCanLogin: g.exists ? g.canLogin : null };
}

export function describeChanges(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const t of after.tables) if (!before.tables.has(t)) out.push(`added ${t}`);
  const added = [...after.columns].filter((c) => !before.columns.has(c) && before.tables.has(c.split('.')[0]!));
  if (added.length) out.push(`added columns ${added.join(', ')}`);
  const dropped = before.policies.filter((p) => !after.policies.includes(p));
  if (dropped.length)
    out.push(
      `replaced policies keyed on settings a session can change (${dropped.join(', ')}) with policies keyed on the login role`,
    );
  if (before.groupCanLogin === true)
    out.push(
      `role ${GROUP_ROLE} can no longer log in: it is the group role of the per-host roles now (containers that logged in as ${GROUP_ROLE} need a host role: owui-sync provision --host NAME)`,
    );
  for (const [t, n] of before.rows) {
    const m = after.rows.get(t);
    out.push(m === n ? `kept all ${n} rows of ${t}` : `ROW COUNT CHANGED in ${t}: ${n} before, ${m} after`);
  }
  return out;
}

/**
 * Create or upgrade sync_metadata (idempotent), and with --host register the host and its login role.
 * Runs as the admin. The password is generated here and goes only to the secret file.
 */
export async function provision(input: ProvisionInput): Promise<ProvisionResult> {
  const host = input.host === undefined ? undefined : validateHostName(input.host);
  const cluster = input.cluster ?? host;
  if (input.cluster !== undefined && !host)
    throw new ConfigError('--cluster needs --host', 'pass the host whose cluster this is: --host NAME --cluster NAME');
  if (cluster !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(cluster))
    throw new ConfigError(`invalid cluster name ${JSON.stringify(cluster)}`, 'use letters, digits, ".", "-" and "_"');
  const sql = await openPg(input.adminUrl, 'the admin connection');
  try {
    // Say what the admin role lacks before anything changes (a superuser is not needed).
    requireAdminStanding(await adminStanding(sql));
    const before = await snapshot(sql);
    const m = await migrate(sql);
    const after = await snapshot(sql);
    const v = await sql<
      { v: number }[]
    >`select coalesce(max(version), 0)::int as v from sync_metadata.schema_migrations`;
    const result: ProvisionResult = {
      ...m,
      schema_version: v[0]!.v,
      changes: m.applied.length && before.tables.size ? describeChanges(before, after) : [],
    };
    if (host) result.host = await provisionHost(sql, host, cluster!, input);
    return result;
  } catch (err) {
    throw explainAdminError(err, adminRoleOf(input.adminUrl), 'provision');
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Where a new password goes. Prepared before the database changes; written inside the transaction
 * that sets the password, so either both change or neither; finished after the commit.
 */
interface SecretSink {
  write: () => Promise<NonNullable<NonNullable<ProvisionResult['host']>['secret']>>;
  commit: () => void;
  discard: () => Promise<void>;
}

async function secretSink(input: ProvisionInput, roleIsNew: boolean, password: string): Promise<SecretSink> {
  if (input.secretFile) {
    const staged = stageSecretFile(input.secretFile, password);
    return {
      write: async () => ({ kind: 'file', path: input.secretFile! }),
      commit: staged.commit,
      discard: async () => staged.discard(),
    };
  }
  const name = input.dockerSecret!;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name))
    throw new ConfigError(
      `invalid Docker secret name ${JSON.stringify(name)}`,
      'use letters, digits, "-", "_" and "."',
    );
  const swarm = new SwarmSecrets();
  await swarm.requireSwarm();
  const existing = await swarm.find(name);
  if (existing && roleIsNew && !input.rotate) {
    throw new ConfigError(
      `Docker secret ${name} already exists, but role for it is new`,
      `it holds some other password: remove it (docker secret rm ${name}) or choose another --docker-secret`,
    );
  }
  let created: string | undefined;
  return {
    write: async () => {
      if (existing) await swarm.remove(name, existing.id);
      created = await swarm.create(name, password, { 'owui-sync.role': hostRole(input.host!) });
      return { kind: 'docker', name, id: created };
    },
    commit: () => {},
    discard: async () => {
      // Created but the password change did not commit: it would hold a password nobody accepts.
      if (created) await swarm.remove(name, created).catch(() => {});
    },
  };
}

async function provisionHost(
  sql: Sql,
  host: string,
  cluster: string,
  input: ProvisionInput,
): Promise<NonNullable<ProvisionResult['host']>> {
  const role = hostRole(host);
  const { exists } = await roleExists(sql, role);
  const needPassword = !exists || !!input.rotate;
  if (input.secretFile && input.dockerSecret)
    throw new ConfigError('--secret-file and --docker-secret both given', 'choose one place for the password');
  if (needPassword && !input.secretFile && !input.dockerSecret) {
    throw new ConfigError(
      exists
        ? `--rotate needs a place for the new password of ${role}`
        : `host role ${role} is new: its password needs a place to go`,
      'pass --secret-file PATH (written with mode 0600) or --docker-secret NAME (swarm); the agents read it as /run/secrets/db_sync_password',
    );
  }
  const password = needPassword ? generatePassword() : null;
  const sink = password ? await secretSink(input, !exists, password) : null;
  try {
    let outcome!: 'created' | 'rotated' | 'unchanged';
    let hostId!: string;
    let secret: NonNullable<ProvisionResult['host']>['secret'] = null;
    await sql.begin(async (t) => {
      const tx = t as Tx;
      outcome = await upsertHostRole(tx, role, password);
      const taken = await tx<{ hostname: string; cluster_name: string }[]>`
        select hostname, cluster_name from sync_metadata.hosts where role_name = ${role} and (hostname, cluster_name) <> (${host}, ${cluster})`;
      if (taken.length) {
        throw new ConfigError(
          `host ${host} is already registered in cluster ${taken[0]!.cluster_name}`,
          `use --cluster ${taken[0]!.cluster_name}, or remove it first: owui-sync host remove ${host}`,
        );
      }
      const [row] = await tx<{ host_id: string }[]>`
        insert into sync_metadata.hosts (hostname, cluster_name, role_name, status)
        values (${host}, ${cluster}, ${role}, 'active')
        on conflict (hostname, cluster_name) do update set role_name = excluded.role_name, status = 'active', updated_at = now()
        returning host_id`;
      hostId = row!.host_id;
      // Client schemas already assigned to this host (a role dropped and made again lost its grants).
      for (const d of await tx<
        { client_name: string }[]
      >`select client_name from sync_metadata.client_deployments where host_id = ${hostId}`) {
        const s = await tx`select 1 from pg_namespace where nspname = ${d.client_name}`;
        if (s.length) await grantClientSchema(tx, d.client_name, role, null);
      }
      if (sink) secret = await sink.write();
    });
    sink?.commit();
    return { name: host, cluster, host_id: hostId, role, password: outcome, secret };
  } catch (err) {
    await sink?.discard();
    if (err instanceof OwuiError) throw err;
    throw new OwuiError(`provisioning host ${host} failed: ${(err as Error).message}`, {
      hint: 'nothing was changed; check that the admin connection may create roles (CREATEROLE)',
      cause: err,
    });
  }
}
