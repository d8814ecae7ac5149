import { z } from 'zod';
import type { Sql, Tx } from '../pg/connect.ts';
import { parseInterval } from '../util/config.ts';
import { NotFoundError, OwuiError } from '../util/errors.ts';
import { channel } from './channels.ts';

/**
 * State authority (docs/agent.md "State authority"): client_deployments in PostgreSQL is the truth. Reads go
 * through a cache that lives `ttlMs` (5 minutes); an update writes PostgreSQL first, then invalidates
 * here, NOTIFYs the cluster and records a cache_events row in the same transaction, so a node that
 * missed the notification finds it when it reconnects.
 */

export interface DeploymentState {
  client: string;
  status: string;
  sync_enabled: boolean;
  sync_interval: number;
  host: string | null;
  container_name: string;
  last_sync_at: string | null;
  last_sync_status: string | null;
  next_sync_at: string | null;
  updated_at: string | null;
}

export interface StateRead {
  states: DeploymentState[];
  /** database: read now; cache: from this node's cache, still valid. */
  source: 'database' | 'cache';
  /** True only when PostgreSQL could not be reached and a cached copy is served: it may be out of date. */
  stale: boolean;
  cached_at: string;
  age_seconds: number;
}

/** The body of PUT /api/v1/state. `client` names the deployment; every other field is optional. */
export const StateUpdate = z
  .object({
    client: z.string().min(1).max(100),
    status: z.enum(['active', 'paused', 'migrating', 'stopped']).optional(),
    sync_enabled: z.boolean().optional(),
    sync_interval: z.union([z.number().int(), z.string().max(20)]).optional(),
  })
  .strict()
  .refine((u) => u.status !== undefined || u.sync_enabled !== undefined || u.sync_interval !== undefined, {
    message: 'nothing to change: give at least one of status, sync_enabled, sync_interval',
  });
export type StateUpdate = z.infer<typeof StateUpdate>;

interface Entry {
  states: DeploymentState[];
  at: number;
}

export interface StateCounters {
  hit(): void;
  miss(): void;
  synced(): void;
}

/** How long a read waits for PostgreSQL before it answers with the cached copy, marked stale. */
const STALE_AFTER_MS = 2000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer within ${ms} ms`)), ms);
  });
  p.catch(() => {}); // settled later, after the timeout: nobody waits for it any more
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export class StateCache {
  private entry: Entry | null = null;
  /** Bumped by every invalidation, so a read that started before one does not refill the cache with old rows. */
  private generation = 0;
  /** Is the notification channel up? While it is down, nothing cached counts as fresh. */
  listening = false;
  private lastSeq = 0n;

  constructor(
    private readonly sql: Sql,
    private readonly cluster: string,
    private readonly nodeId: string,
    private readonly ttlMs: number,
    private readonly counters: StateCounters,
  ) {}

  invalidate(): void {
    this.generation++;
    this.entry = null;
  }

  /** Cache-aside read. Falls back to the cached copy, marked stale, only when PostgreSQL cannot be reached. */
  async read(client?: string): Promise<StateRead> {
    const now = Date.now();
    const e = this.entry;
    if (e && this.listening && now - e.at < this.ttlMs) {
      this.counters.hit();
      return this.view(e, 'cache', false, client);
    }
    this.counters.miss();
    const gen = this.generation;
    try {
      // With a cached copy to fall back on, wait for PostgreSQL only so long: while it is down or silent a read
      // can wait for a reconnect (up to 1 s apart) or a connect timeout, and an API caller should get the stale
      // copy at once.
      const states = e ? await withTimeout(this.fetch(), STALE_AFTER_MS) : await this.fetch();
      const fresh = { states, at: Date.now() };
      if (gen === this.generation) this.entry = fresh;
      this.counters.synced();
      return this.view(fresh, 'database', false, client);
    } catch (err) {
      if (e) return this.view(e, 'cache', true, client);
      throw new StateUnavailableError(err);
    }
  }

  private view(e: Entry, source: 'database' | 'cache', stale: boolean, client?: string): StateRead {
    const states = client === undefined ? e.states : e.states.filter((s) => s.client === client);
    if (client !== undefined && states.length === 0) throw notRegistered(client, this.cluster);
    return {
      states,
      source,
      stale,
      cached_at: new Date(e.at).toISOString(),
      age_seconds: Math.round((Date.now() - e.at) / 100) / 10,
    };
  }

  private async fetch(): Promise<DeploymentState[]> {
    const tz = (col: string) => this.sql.unsafe(`${col} at time zone current_setting('TimeZone')`);
    const rows = await this.sql<
      (Omit<DeploymentState, 'last_sync_at' | 'next_sync_at' | 'updated_at'> &
        Record<'last_sync_at' | 'next_sync_at' | 'updated_at', Date | null>)[]
    >`
      select d.client_name as client, coalesce(d.status, 'active') as status, coalesce(d.sync_enabled, false) as sync_enabled,
             coalesce(d.sync_interval, 300) as sync_interval, h.hostname as host, d.container_name, d.last_sync_status,
             ${tz('d.last_sync_at')} as last_sync_at, ${tz('d.next_sync_at')} as next_sync_at, ${tz('d.updated_at')} as updated_at
      from sync_metadata.client_deployments d join sync_metadata.hosts h on h.host_id = d.host_id
      where h.cluster_name = ${this.cluster}
      order by d.client_name`;
    const iso = (d: Date | null) => (d ? d.toISOString() : null);
    return rows.map((r) => ({
      ...r,
      last_sync_at: iso(r.last_sync_at),
      next_sync_at: iso(r.next_sync_at),
      updated_at: iso(r.updated_at),
    }));
  }

  /**
   * PostgreSQL first: the update, the cache_events row and the NOTIFY commit together (NOTIFY is
   * delivered at commit), then this node's cache is dropped.
   */
  async update(u: StateUpdate): Promise<DeploymentState> {
    await this.sql.begin((tx) => updateDeploymentState(tx, u, { cluster: this.cluster, origin: this.nodeId }));
    this.invalidate();
    const r = await this.read(u.client);
    return r.states[0]!;
  }

  /** Where to resume: the newest event at start, so old history is not replayed. */
  async startFrom(): Promise<void> {
    const [r] = await this.sql<
      { s: string }[]
    >`select coalesce(max(seq), 0)::text as s from sync_metadata.cache_events`;
    this.lastSeq = BigInt(r!.s);
  }

  /**
   * On (re)connecting the notification channel: apply every event written since the last one seen
   * (notifications sent while we were away are lost), and mark other nodes' events processed.
   */
  async catchUp(): Promise<number> {
    const events = await this.sql<{ seq: string; cache_key: string; origin_node: string | null }[]>`
      select seq::text, cache_key, origin_node from sync_metadata.cache_events where seq > ${this.lastSeq.toString()}::bigint order by seq`;
    if (events.length === 0) return 0;
    this.invalidate();
    const others = events.filter((e) => e.origin_node !== this.nodeId).map((e) => e.seq);
    if (others.length) {
      await this.sql`
        update sync_metadata.cache_events set processed_at = now(), processed_by = ${this.nodeId}
        where seq = any(${others}::text[]::bigint[]) and processed_at is null`;
    }
    this.lastSeq = BigInt(events[events.length - 1]!.seq);
    return events.length;
  }
}

/**
 * Change a deployment's state the way every node expects it (docs/agent.md "State authority"): PostgreSQL first, with
 * a cache_events row and a NOTIFY in the same transaction (NOTIFY is delivered at commit), so each agent drops
 * its cached copy. `cluster` narrows the client to one cluster (an agent's own); `origin` is recorded as who
 * changed it. Throws NotFoundError when the client is not registered (or not visible to this login).
 */
export async function updateDeploymentState(
  tx: Tx,
  u: StateUpdate,
  o: { cluster?: string; origin: string },
): Promise<void> {
  const interval = u.sync_interval === undefined ? null : parseInterval(String(u.sync_interval));
  const key = `deployment:${u.client}`;
  const [d] = await tx<{ host_id: string; cluster_name: string }[]>`
    update sync_metadata.client_deployments d set
      status = coalesce(${u.status ?? null}::text, d.status),
      sync_enabled = coalesce(${u.sync_enabled ?? null}::boolean, d.sync_enabled),
      sync_interval = coalesce(${interval}::int, d.sync_interval),
      next_sync_at = case when ${interval}::int is null then d.next_sync_at else localtimestamp + make_interval(secs => ${interval}::int) end,
      updated_at = now()
    from sync_metadata.hosts h
    where h.host_id = d.host_id and d.client_name = ${u.client} and (${o.cluster ?? null}::text is null or h.cluster_name = ${o.cluster ?? null})
    returning d.host_id, h.cluster_name`;
  if (!d) throw notRegistered(u.client, o.cluster);
  await tx`insert into sync_metadata.cache_events (host_id, cache_key, action, origin_node) values (${d.host_id}, ${key}, 'invalidate', ${o.origin})`;
  await tx`select pg_notify(${channel('state', d.cluster_name)}, ${JSON.stringify({ key, origin: o.origin })})`;
}

const notRegistered = (client: string, cluster?: string) =>
  new NotFoundError(
    `client "${client}" is not registered${cluster ? ` in cluster ${cluster}` : ' (or belongs to another host)'}`,
    'list clients with GET /api/v1/state or owui-sync status',
  );

/** PostgreSQL cannot be reached and there is no cached copy to offer: the API answers 503. */
export class StateUnavailableError extends OwuiError {
  constructor(cause: unknown) {
    super(`cannot read deployment state: PostgreSQL is unreachable (${(cause as Error).message})`, {
      hint: 'the node has no cached copy to offer; check the database connection and try again',
      cause,
    });
    this.name = 'StateUnavailableError';
  }
}
