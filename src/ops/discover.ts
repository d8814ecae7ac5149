import path from 'node:path';
import { Engine } from '../docker/engine.ts';
import type { Sql } from '../pg/connect.ts';
import { LEGACY_PAIR, PAIR } from './deploy.ts';

// Tenant discovery as operators name things today (legacy-toolkit 4): containers named openwebui-*, minus the sync
// pair, the legacy pair and openwebui-nginx. The client id is the container's CLIENT_ID, else its FQDN (dots and
// colons made dashes) or CLIENT_NAME, else the name without "openwebui-"; the database is what the container mounts
// at /app/backend/data (the bind mount /opt/openwebui/<CLIENT_ID>/data, or the volume <container>-data).

export interface DiscoveredTenant {
  container: string;
  client: string;
  /** The tenant's webui.db on this host, or null when the container mounts nothing at /app/backend/data. */
  sqlite_path: string | null;
  mount: 'bind' | 'volume' | null;
  /** The container runs with DATABASE_URL: it is on PostgreSQL already, nothing to sync. */
  on_postgres: boolean;
  running: boolean;
  /** Registered in sync_metadata (null: not known, no database connection given). */
  registered: boolean | null;
}

const SKIP = new Set<string>([...PAIR.map((p) => p.name), ...LEGACY_PAIR, 'openwebui-nginx']);
const DATA = '/app/backend/data';

export const sanitizeFqdn = (fqdn: string) => fqdn.trim().toLowerCase().replace(/[.:]/g, '-');

export async function discoverTenants(o: { engine?: Engine; sql?: Sql } = {}): Promise<DiscoveredTenant[]> {
  const engine = o.engine ?? new Engine();
  await engine.require();
  const registered = o.sql
    ? new Set(
        (await o.sql<{ client_name: string }[]>`select client_name from sync_metadata.client_deployments`).map(
          (r) => r.client_name,
        ),
      )
    : null;
  const out: DiscoveredTenant[] = [];
  for (const c of await engine.list('openwebui-')) {
    if (SKIP.has(c.name)) continue;
    const i = await engine.inspect(c.name);
    const env = new Map((i.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const client =
      env.get('CLIENT_ID') ||
      (env.get('FQDN') ? sanitizeFqdn(env.get('FQDN')!) : '') ||
      env.get('CLIENT_NAME') ||
      c.name.replace(/^openwebui-/, '');
    const m = (i.Mounts ?? []).find((x) => x.Destination === DATA);
    const dbFile = path.posix.basename(env.get('SQLITE_PATH') ?? 'webui.db');
    out.push({
      container: c.name,
      client,
      sqlite_path: m?.Source ? path.join(m.Source, dbFile) : null,
      mount: m ? (m.Type === 'volume' ? 'volume' : 'bind') : null,
      on_postgres: !!env.get('DATABASE_URL'),
      running: i.State.Running,
      registered: registered ? registered.has(client) : null,
    });
  }
  return out.sort((a, b) => a.client.localeCompare(b.client));
}
