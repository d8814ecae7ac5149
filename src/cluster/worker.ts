import type { Metrics } from '../metrics/registry.ts';
import { isTransientPgError, type Sql } from '../pg/connect.ts';
import { getDeployment } from '../pg/deployments.ts';
import { runSync, SyncBusyError } from '../sync/engine.ts';
import type { SyncResult } from '../sync/result.ts';
import { messageOf, type OwuiError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { redactText } from '../util/redact.ts';
import type { DbHealth } from './db-health.ts';
import type { AgentEvents } from './events.ts';
import { jobConflictCounts } from './node-sql.ts';
import { type ClaimedJob, claim, enqueue, failJob, jobFence, releaseJob, renewJob } from './queue.ts';
import type { AgentSettings } from './settings.ts';
import { jitter, type Wakeup } from './wakeup.ts';

/** A job a worker of this node is running, and how to stop it. */
export interface Running {
  job: ClaimedJob;
  ac: AbortController;
  startedAt: number;
}

/** What the workers of a node share with it. */
export interface WorkerContext {
  sql: Sql;
  cluster: string;
  nodeId: string;
  settings: AgentSettings;
  metrics: Metrics;
  /** Where the worker announces its runs (and logs, through `events.log`). */
  events: AgentEvents;
  db: DbHealth;
  /** This process's lease instance: the job fence checks it with the claim. */
  leaseInstance: string;
  running: Map<string, Running>;
  /** Fired when a job is queued (NOTIFY) or this node became leader. */
  jobsWake: Wakeup;
}

/**
 * One worker: claims a job from the queue (any node may; one active job per deployment), runs the sync on a
 * connection of its own (a run's session lock lives on one connection), renews its claim while it runs, and
 * records how the job ended, or hands it back to the queue.
 */
export class Worker {
  constructor(
    private readonly c: WorkerContext,
    private readonly index: number,
    private readonly wsql: Sql,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const { c } = this;
    while (!signal.aborted) {
      let job: ClaimedJob | null = null;
      try {
        job = await claim(c.sql, c.cluster, c.nodeId, c.settings.visibilitySeconds);
        c.metrics.claimAttempts.inc({ result: job ? 'claimed' : 'empty' });
      } catch (err) {
        c.db.mark(false, err);
        c.events.log.warn({ err: redactText(messageOf(err)), worker: this.index }, 'could not claim a job; retrying');
      }
      if (!job) {
        await c.jobsWake.wait(jitter(c.settings.pollSeconds), signal);
        continue;
      }
      await this.runJob(job, signal);
    }
  }

  /** Run one claimed job; whatever happens, the job row says how it ended (or it goes back to the queue). */
  private async runJob(job: ClaimedJob, stopping: AbortSignal): Promise<void> {
    const { c } = this;
    const s = c.settings;
    const ev = c.events;
    const log = ev.log.child({ job_id: job.job_id, client: job.client_name, claim: job.claims, term: job.term });
    c.metrics.jobsClaimed.inc({ kind: job.reclaimed_from ? 'reclaimed' : 'new' });
    if (job.reclaimed_from)
      ev.announce(
        'job_reclaimed',
        'warn',
        'reclaimed a job whose node stopped renewing it',
        { from: job.reclaimed_from },
        log,
      );
    const ac = new AbortController();
    let claimLost = false;
    // A renewal answered after the run recorded its end finds the job no longer running: that is not a takeover.
    let ended = false;
    c.running.set(job.job_id, { job, ac, startedAt: Date.now() });
    const renew = setInterval(() => {
      renewJob(c.sql, job, c.nodeId, s.visibilitySeconds)
        .then((mine) => {
          if (!mine && !ac.signal.aborted && !ended) {
            log.warn('the job is no longer ours (reclaimed); stopping it');
            claimLost = true;
            ac.abort();
          }
        })
        .catch((err) =>
          log.warn({ err: redactText(messageOf(err)) }, 'could not renew the job; the fence decides at the next batch'),
        );
    }, s.renewSeconds * 1000);
    const t0 = performance.now();
    // A batch of a paused process between its fencing check and its COMMIT holds the lease row and would block
    // a takeover for as long as the pause: the server ends a transaction idle for the renew interval.
    const idleTx = Math.max(1000, Math.round(s.renewSeconds * 1000));
    let result: SyncResult | undefined;
    try {
      const dep = await getDeployment(c.sql, job.client_name);
      const started = { full: job.full_sync, due_at: job.due_at, triggered_by: job.triggered_by };
      ev.announce('sync_started', 'info', 'sync started', started, log);
      result = await runSync(this.wsql, dep, {
        full: job.full_sync,
        batchRows: s.batchRows,
        readStatementMs: s.readStatementMs,
        triggeredBy: job.triggered_by ?? 'agent',
        signal: ac.signal,
        job: { id: job.job_id, fence: jobFence(c.cluster, c.nodeId, job, c.leaseInstance, idleTx) },
        idleTransactionMs: idleTx,
      });
    } catch (err) {
      await this.couldNotRun(job, err, log);
    } finally {
      ended = true;
      clearInterval(renew);
      c.running.delete(job.job_id);
    }
    if (!result) return;
    // A run stopped because its claim was taken over is fenced, whichever noticed first: this renewal or
    // the fence of its next batch (after a pause, both wake together).
    if (claimLost && result.status === 'cancelled' && !stopping.aborted) {
      result.fenced = true;
      result.error = 'its claim on the job was taken over by another node';
    }
    await this.account(job, result, (performance.now() - t0) / 1000, log);
    if (result.fenced) {
      c.metrics.fencedBatches.inc();
      const msg = 'run stopped by fencing: its claim or term is over, nothing more of it landed';
      ev.announce('fenced', 'warn', msg, { err: result.error }, log);
      await releaseJob(c.sql, c.cluster, job, c.nodeId, 0, 'fenced').catch(() => false);
    } else if (result.status === 'cancelled' && stopping.aborted) {
      // Shutting down mid-run: the peer carries on from the last committed batch.
      await enqueue(c.sql, c.cluster, job.client_name, { full: job.full_sync, triggeredBy: `handover:${c.nodeId}` })
        .then((e) => log.info({ next_job: e.job_id }, 'run stopped for shutdown; queued again for the peer'))
        .catch((e) =>
          log.warn({ err: redactText(messageOf(e)) }, 'could not queue the interrupted run again; the schedule will'),
        );
    }
  }

  /** A run that threw before it started: busy deployment, lost connection, or a problem to report. */
  private async couldNotRun(job: ClaimedJob, err: unknown, log: Logger): Promise<void> {
    const { c } = this;
    if (err instanceof SyncBusyError) {
      log.info('its deployment is busy with another run; handed back to the queue');
      await releaseJob(c.sql, c.cluster, job, c.nodeId, c.settings.retrySeconds, 'deployment busy').catch((e) =>
        log.warn(
          { err: redactText(messageOf(e)) },
          'could not hand the job back; it returns when its visibility timeout ends',
        ),
      );
    } else if (isTransientPgError(err)) {
      c.db.mark(false, err);
      log.warn(
        { err: redactText(messageOf(err)) },
        'lost the database connection; the job returns to the queue when its claim runs out, and resumes from its last committed batch',
      );
    } else {
      const msg = redactText(messageOf(err)) + ((err as OwuiError).hint ? ` (${(err as OwuiError).hint})` : '');
      log.error({ err: msg }, 'sync could not start');
      c.metrics.syncOperations.inc({ client: job.client_name, status: 'failed' });
      await failJob(c.sql, job, c.nodeId, msg).catch((e) =>
        log.warn({ err: redactText(messageOf(e)) }, 'could not record the failure'),
      );
    }
  }

  /** Metrics and the log line of a finished run. */
  private async account(job: ClaimedJob, r: SyncResult, seconds: number, log: Logger): Promise<void> {
    const m = this.c.metrics;
    const status = r.fenced ? 'fenced' : r.status;
    m.syncOperations.inc({ client: job.client_name, status });
    m.syncDuration.observe({ client: job.client_name }, seconds);
    for (const t of r.tables) {
      const n = t.inserted + t.updated + t.tombstoned;
      if (n > 0) m.rowsProcessed.inc({ client: job.client_name, table: t.table }, n);
    }
    if (r.totals.conflicts > 0) {
      try {
        for (const c of await jobConflictCounts(this.c.sql, job.job_id)) {
          m.conflictsDetected.inc({ client: job.client_name, table: c.table_name, type: c.conflict_type }, c.n);
          if (c.resolved) m.conflictsResolved.inc({ client: job.client_name, strategy: c.strategy ?? 'unknown' }, c.n);
        }
      } catch (err) {
        log.warn({ err: redactText(messageOf(err)) }, 'could not read the conflict counts for metrics');
      }
    }
    const t = r.totals;
    const fields = {
      kind: r.kind,
      status,
      seconds: Math.round(seconds * 1000) / 1000,
      inserted: t.inserted,
      updated: t.updated,
      tombstoned: t.tombstoned,
      rejected: t.rejected,
      conflicts: t.conflicts,
    };
    const ev = this.c.events;
    if (r.status === 'success') ev.announce('sync_finished', 'info', 'sync finished', fields, log);
    else if (!r.fenced) ev.announce('sync_failed', 'error', 'sync failed', { ...fields, err: r.error }, log);
    if (r.bookkeeping_error) log.error({ ...fields, err: r.bookkeeping_error }, 'sync run could not record its result');
  }
}
