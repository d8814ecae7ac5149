import os from 'node:os';
import { type StateUpdate, updateDeploymentState } from '../cluster/state.ts';
import type { Sql } from '../pg/connect.ts';
import { findDeployment, nextSyncAt } from '../pg/deployments.ts';
import { NotFoundError } from '../util/errors.ts';

// Starting, pausing and timing a client's scheduled syncs: what the menu's "Start/Resume Sync", "Pause Sync"
// and interval choice do, and what `owui-sync resume`, `pause` and `interval` do. The agents pick the change
// up at once (a NOTIFY) or at their next read.

export interface ScheduleState {
  client: string;
  sync_enabled: boolean;
  status: string;
  sync_interval: number;
  /** When the leader queues its next run (UTC), or null before the first. */
  next_sync_at: string | null;
}

/** Who made a change, as cache_events.origin_node records it. */
export const operator = () => `cli:${os.userInfo().username}@${os.hostname()}`;

async function change(sql: Sql, client: string, u: Omit<StateUpdate, 'client'>): Promise<ScheduleState> {
  await sql.begin((tx) => updateDeploymentState(tx, { client, ...u }, { origin: operator() }));
  const dep = await findDeployment(sql, client);
  if (!dep) throw new NotFoundError(`client "${client}" is not registered`, 'owui-sync status lists the clients');
  const next = await nextSyncAt(sql, dep.deployment_id);
  return {
    client,
    sync_enabled: !!dep.sync_enabled,
    status: dep.status ?? 'active',
    sync_interval: dep.sync_interval,
    next_sync_at: next ? next.toISOString() : null,
  };
}

/** Scheduled syncs stop (a run under way finishes); the mirror and its history stay. */
export const pause = (sql: Sql, client: string) => change(sql, client, { sync_enabled: false, status: 'paused' });

/** Scheduled syncs start again, at the interval given or the one the client had. */
export const resume = (sql: Sql, client: string, intervalSeconds?: number) =>
  change(sql, client, { sync_enabled: true, status: 'active', sync_interval: intervalSeconds });

/** A new interval; the next run is due one interval from now. Paused clients stay paused. */
export const setInterval = (sql: Sql, client: string, intervalSeconds: number) =>
  change(sql, client, { sync_interval: intervalSeconds });
