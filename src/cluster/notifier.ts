import { Agent, request } from 'undici';
import type { Sql, Tx } from '../pg/connect.ts';
import { findDeployment } from '../pg/deployments.ts';
import { loadConflictConfig } from '../sync/conflict-policy.ts';
import { messageOf } from '../util/errors.ts';
import { inCluster } from './queue.ts';

// "notify": true in a table's conflict configuration: each conflict on that table that waits for review is posted
// once, as JSON with a readable `text`, to the webhook. Row data only when the configuration's
// include_data_snapshot is on. Retries with a timeout; a conflict whose post failed MAX_ROUNDS times is left alone.

const ATTEMPTS = 3;
const TIMEOUT_MS = 5000;
export const MAX_ROUNDS = 5;
/** The longest one post() takes: every attempt timing out, and the waits between them. */
const POST_MAX_MS = ATTEMPTS * TIMEOUT_MS + 500 * (2 ** (ATTEMPTS - 1) - 1);

export interface NotifyOutcome {
  sent: number;
  failed: number;
}

export interface NotifyMessage {
  text: string;
  client: string;
  table: string;
  record_id: string;
  conflict_type: string;
  log_id: string;
  detected_at: string;
  resolve: string;
  source_data?: unknown;
  target_data?: unknown;
}

interface Pending {
  log_id: string;
  client_name: string;
  table_name: string;
  record_id: string;
  conflict_type: string;
  detected_at: Date;
  source_data: unknown;
  target_data: unknown;
}

/** Where the webhook is, for logs: its origin only (a webhook's path often holds its secret). */
export const webhookOrigin = (url: string) => {
  try {
    return new URL(url).origin;
  } catch {
    return '(an invalid URL)';
  }
};

export function message(p: Pending, withData: boolean): NotifyMessage {
  const resolve = `owui-sync conflicts resolve ${p.log_id} --use source|target|merged`;
  return {
    text: `owui-sync: a conflict waits for review. Client ${p.client_name}, table ${p.table_name}, record ${p.record_id}, ${p.conflict_type.replaceAll('_', ' ')}. Resolve it: ${resolve} (or in the menu: Deployments, ${p.client_name}, Conflict log).`,
    client: p.client_name,
    table: p.table_name,
    record_id: p.record_id,
    conflict_type: p.conflict_type,
    log_id: p.log_id,
    detected_at: p.detected_at.toISOString(),
    resolve,
    ...(withData ? { source_data: p.source_data, target_data: p.target_data } : {}),
  };
}

/** Is anything of this cluster waiting to be posted? A cheap read (the partial index of 007) before a round. */
export async function anyToNotify(sql: Sql, cluster: string): Promise<boolean> {
  const [r] = await sql<{ any: boolean }[]>`
    select exists (select 1 from sync_metadata.conflict_log
      where resolved_at is null and notified_at is null and notify_attempts < ${MAX_ROUNDS}
        and deployment_id in (${inCluster(sql, cluster)})) as any`;
  return r!.any;
}

export class Notifier {
  private dispatcher = new Agent({ connectTimeout: TIMEOUT_MS });

  constructor(
    readonly url: string,
    private readonly count: (result: 'sent' | 'failed') => void,
    private readonly warn: (msg: string, fields: Record<string, unknown>) => void,
  ) {}

  /** POST one message, with retries; true when the webhook answered 2xx. */
  async post(body: NotifyMessage): Promise<boolean> {
    let last = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const r = await request(this.url, {
          method: 'POST',
          dispatcher: this.dispatcher,
          headers: { 'content-type': 'application/json', 'user-agent': 'owui-sync' },
          body: JSON.stringify(body),
          headersTimeout: TIMEOUT_MS,
          bodyTimeout: TIMEOUT_MS,
        });
        await r.body.dump();
        if (r.statusCode >= 200 && r.statusCode < 300) return true;
        last = `HTTP ${r.statusCode}`;
      } catch (err) {
        last = (err as { code?: string }).code ?? messageOf(err);
      }
      if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
    }
    this.warn('a conflict notification failed', { webhook: webhookOrigin(this.url), error: last, log_id: body.log_id });
    return false;
  }

  /**
   * Post the conflicts of this cluster that wait for review on notify tables and were not posted yet. Rows are
   * locked while they are posted (SKIP LOCKED), so two nodes never post the same conflict.
   */
  async round(sql: Sql, cluster: string): Promise<NotifyOutcome> {
    const out: NotifyOutcome = { sent: 0, failed: 0 };
    await sql.begin(async (txRaw) => {
      const tx = txRaw as Tx;
      // The rows stay locked while they are posted, so this transaction is idle during a post (its retries and
      // their timeouts). The agent's connections end a transaction idle for longer than the renew interval
      // (agent.ts: a paused batch must not hold the lease row); that would end this one mid-round, every round,
      // and a conflict would never be counted nor marked. These rows are not the lease's: allow one post's time.
      await tx.unsafe(`set local idle_in_transaction_session_timeout = ${POST_MAX_MS + 10_000}`);
      const rows = await tx<Pending[]>`
        select log_id, client_name, table_name, record_id, conflict_type, detected_at, source_data, target_data
        from sync_metadata.conflict_log
        where resolved_at is null and notified_at is null and notify_attempts < ${MAX_ROUNDS}
          and deployment_id in (${inCluster(tx, cluster)})
        order by detected_at limit 10
        for update skip locked`;
      const configs = new Map<string, Awaited<ReturnType<typeof loadConflictConfig>> | null>();
      for (const p of rows) {
        if (!configs.has(p.client_name)) {
          const dep = await findDeployment(tx as unknown as Sql, p.client_name);
          configs.set(p.client_name, dep ? await loadConflictConfig(tx as unknown as Sql, dep) : null);
        }
        const cfg = configs.get(p.client_name);
        if (!cfg) continue;
        const t = cfg.conflict_resolution.table_strategies[p.table_name];
        if (!t?.notify) continue;
        const withData = !!cfg.conflict_resolution.resolution_log.include_data_snapshot;
        if (await this.post(message(p, withData))) {
          await tx`update sync_metadata.conflict_log set notified_at = now() where log_id = ${p.log_id}`;
          this.count('sent');
          out.sent++;
        } else {
          await tx`update sync_metadata.conflict_log set notify_attempts = notify_attempts + 1 where log_id = ${p.log_id}`;
          this.count('failed');
          out.failed++;
        }
      }
    });
    return out;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
