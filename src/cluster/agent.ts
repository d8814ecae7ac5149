import { setTimeout as sleep } from 'node:timers/promises';
import { Metrics } from '../metrics/registry.ts';
import { connect, isTransientPgError, pgConnectError, type Sql } from '../pg/connect.ts';
import { getDeployment, requireProvisioned } from '../pg/deployments.ts';
import { runSync, SyncBusyError } from '../sync/engine.ts';
import type { SyncResult } from '../sync/result.ts';
import { ConfigError, messageOf, type OwuiError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { packageVersion } from '../util/paths.ts';
import { redactText } from '../util/redact.ts';
import { LEASE_CHANNEL, Lease } from './lease.ts';
import {
  type ClaimedJob,
  claim,
  enqueue,
  enqueueDue,
  failJob,
  inCluster,
  JOBS_CHANNEL,
  jobFence,
  nextDueInMs,
  purgeHistory,
  releaseJob,
  renewJob,
} from './queue.ts';
import type { AgentSettings } from './settings.ts';
import { STATE_CHANNEL, StateCache } from './state.ts';

/** The newest migration the agent needs (sql/006_agent.sql). */
const NEEDS_MIGRATION = 6;

export interface LeaderView {
  leader_id: string | null;
  leader_url: string | null;
  term: number | null;
  expires_at: Date | null;
  live: boolean;
}

interface Running {
  job: ClaimedJob;
  ac: AbortController;
  startedAt: number;
}

/** A wake-up that can be awaited with a timeout: notifications cut an idle wait short. */
class Wakeup {
  private waiters: (() => void)[] = [];
  fire(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }
}

/**
 * One node of an HA pair (README "High availability: the agent"). Both nodes run the same loops; the lease decides which
 * one also schedules. Everything shared lives in PostgreSQL: the lease row, the queue, the state.
 */
export class Agent {
  readonly metrics: Metrics;
  readonly startedAt = Date.now();
  sql!: Sql;
  private leaseSql!: Sql;
  private workerSql: Sql[] = [];
  private listenSql!: Sql;
  lease!: Lease;
  state!: StateCache;
  cluster = '';
  hostId: string | null = null;
  hostname = '';
  leader: LeaderView = { leader_id: null, leader_url: null, term: null, expires_at: null, live: false };
  /** Local monotonic time of the last renewal we sent that succeeded: the step-down deadline counts from it. */
  private renewedAt = 0;
  db = {
    reachable: false,
    lastOkAt: null as Date | null,
    failingSince: null as number | null,
    error: null as string | null,
  };
  lastHeartbeat: Date | null = null;
  readonly running = new Map<string, Running>();
  stopping = false;
  private readonly stop$ = new AbortController();
  private readonly leaseWake = new Wakeup();
  private readonly jobsWake = new Wakeup();
  private loops: Promise<void>[] = [];
  private lag: { client: string; lastSuccess: Date | null }[] = [];
  private lastPurge = 0;
  advertiseUrl: string;

  constructor(
    readonly settings: AgentSettings,
    private readonly databaseUrl: string,
    readonly log: Logger,
  ) {
    this.metrics = new Metrics(settings.nodeId, () => this.lag);
    this.advertiseUrl = settings.advertiseUrl;
  }

  get isLeader(): boolean {
    return !!this.lease?.current;
  }

  get nodeId(): string {
    return this.settings.nodeId;
  }

  /** Connect, find this node's host and cluster, and check the schema; every problem is a clear error. */
  async open(): Promise<void> {
    const s = this.settings;
    const what = 'the database connection';
    // A batch of a paused process between its fencing check and its COMMIT holds the lease row and would
    // block a takeover for as long as the pause: the server ends a transaction idle for the renew interval.
    const idleTx = String(Math.max(1000, Math.round(s.renewSeconds * 1000)));
    const batchLimits = { idle_in_transaction_session_timeout: idleTx };
    this.sql = connect(this.databaseUrl, {
      what,
      max: 3,
      applicationName: `owui-sync agent ${s.nodeId}`,
      settings: { idle_in_transaction_session_timeout: idleTx },
    });
    // Each worker has a connection of its own: a run keeps its deployment's session lock on one connection.
    this.workerSql = Array.from({ length: s.concurrency }, (_, i) =>
      connect(this.databaseUrl, {
        what,
        max: 1,
        applicationName: `owui-sync agent ${s.nodeId} worker ${i}`,
        settings: batchLimits,
      }),
    );
    this.leaseSql = connect(this.databaseUrl, {
      what,
      max: 1,
      applicationName: `owui-sync lease ${s.nodeId}`,
      settings: {
        statement_timeout: String(Math.max(100, Math.round(s.renewSeconds * 1000))),
        idle_in_transaction_session_timeout: idleTx,
      },
    });
    try {
      await this.sql`select 1`;
    } catch (err) {
      await this.close();
      throw pgConnectError(err, this.databaseUrl, what);
    }
    await requireProvisioned(this.sql);
    const [v] = await this.sql<
      { v: number }[]
    >`select coalesce(max(version), 0)::int as v from sync_metadata.schema_migrations`;
    if (v!.v < NEEDS_MIGRATION) {
      throw new ConfigError(
        `the sync_metadata schema is at version ${v!.v}; the agent needs ${NEEDS_MIGRATION}`,
        'upgrade it: owui-sync provision (with the admin connection); it is safe to run again',
      );
    }
    const hosts = await this.sql<{ host_id: string; hostname: string; cluster_name: string }[]>`
      select host_id, hostname, cluster_name from sync_metadata.hosts
      where (${s.host ?? null}::text is null or hostname = ${s.host ?? null}) and (${s.cluster ?? null}::text is null or cluster_name = ${s.cluster ?? null})
      order by hostname`;
    if (hosts.length === 0) {
      throw new ConfigError(
        `no registered host matches${s.host ? ` host ${s.host}` : ''}${s.cluster ? ` in cluster ${s.cluster}` : ''} (among the hosts this login may see)`,
        "register it: owui-sync provision --host NAME --cluster CLUSTER (admin connection); then start the agent with --host NAME and that host's password file",
      );
    }
    if (hosts.length > 1) {
      throw new ConfigError(
        `this login sees ${hosts.length} hosts (${hosts.map((h) => `${h.hostname}/${h.cluster_name}`).join(', ')}): which one is this?`,
        "pass --host NAME (or OWUI_SYNC_HOST); better, log in with the host's own role",
      );
    }
    const h = hosts[0]!;
    this.hostId = h.host_id;
    this.hostname = h.hostname;
    this.cluster = h.cluster_name;
    this.markDb(true);
  }

  /** Start the loops. `advertiseUrl` is known once the API listens (its port may have been 0). */
  async start(advertiseUrl?: string): Promise<void> {
    if (advertiseUrl) this.advertiseUrl = advertiseUrl;
    const s = this.settings;
    this.lease = new Lease(this.leaseSql, this.cluster, s.nodeId, s.leaseSeconds, this.hostId, this.advertiseUrl);
    this.state = new StateCache(this.sql, this.cluster, s.nodeId, s.cacheTtlSeconds * 1000, {
      hit: () => this.metrics.cacheHits.inc(),
      miss: () => this.metrics.cacheMisses.inc(),
      synced: () => this.metrics.stateSynced(),
    });
    await this.state.startFrom();
    await this.openListener();
    this.loops = [
      this.leaseLoop(),
      this.heartbeatLoop(),
      this.schedulerLoop(),
      ...Array.from({ length: s.concurrency }, (_, i) => this.workerLoop(i)),
    ];
    this.log.info(
      { cluster: this.cluster, host: this.hostname, role: s.role, url: this.advertiseUrl, version: packageVersion() },
      'agent started',
    );
  }

  // ---- notifications -------------------------------------------------------------------------

  /**
   * One session-mode connection LISTENs on the lease, job and state channels. When it drops, the state
   * cache stops counting as fresh, and the connection is re-established with the retry interval; on
   * every (re)connect the cache_events written meanwhile are applied.
   */
  private async openListener(): Promise<void> {
    this.listenSql = connect(this.databaseUrl, {
      what: 'the notification connection',
      max: 1,
      applicationName: `owui-sync listen ${this.nodeId}`,
      options: {
        idle_timeout: null,
        max_lifetime: null,
        onnotify: (channel: string, payload: string) => this.onNotify(channel, payload),
        onclose: () => {
          if (this.stopping || !this.state.listening) return;
          this.state.listening = false;
          this.log.warn('notification connection lost; state is read from PostgreSQL until it is back');
          void this.relisten();
        },
      },
    });
    await this.listenNow();
  }

  private async listenNow(): Promise<void> {
    await this.listenSql.unsafe(`LISTEN ${LEASE_CHANNEL}; LISTEN ${JOBS_CHANNEL}; LISTEN ${STATE_CHANNEL}`);
    this.state.listening = true;
    const n = await this.state.catchUp();
    if (n > 0) this.log.info({ events: n }, 'applied cache events written while not listening');
  }

  private async relisten(): Promise<void> {
    while (!this.stopping && !this.state.listening) {
      await sleep(this.jitter(this.settings.retrySeconds), undefined, { signal: this.stop$.signal }).catch(() => {});
      if (this.stopping) return;
      try {
        await this.listenNow();
        this.log.info('notification connection back');
      } catch (err) {
        this.state.listening = false;
        this.log.debug({ err: messageOf(err) }, 'notification connection still down');
      }
    }
  }

  private onNotify(channel: string, payload: string): void {
    if (channel === LEASE_CHANNEL) this.leaseWake.fire();
    else if (channel === JOBS_CHANNEL) this.jobsWake.fire();
    else if (channel === STATE_CHANNEL) {
      this.state.invalidate();
      void this.state
        .catchUp()
        .catch((err) =>
          this.log.warn(
            { err: messageOf(err) },
            'could not mark cache events processed; they are applied again on reconnect',
          ),
        );
      this.log.debug({ payload }, 'state invalidated by notification');
    }
  }

  // ---- lease -----------------------------------------------------------------------------------

  private jitter(seconds: number): number {
    return Math.round(seconds * 1000 * (0.8 + Math.random() * 0.4));
  }

  private markDb(ok: boolean, err?: unknown): void {
    if (ok) {
      this.db = { reachable: true, lastOkAt: new Date(), failingSince: null, error: null };
    } else {
      this.db = {
        ...this.db,
        reachable: false,
        failingSince: this.db.failingSince ?? Date.now(),
        error: redactText(messageOf(err)),
      };
    }
    this.metrics.databaseUp.set(ok ? 1 : 0);
  }

  private async leaseLoop(): Promise<void> {
    const s = this.settings;
    // The secondary lets the primary go first, so a fresh pair starts with the primary leading.
    if (s.role === 'secondary') await this.leaseWake.wait(s.retrySeconds * 1000, this.stop$.signal);
    while (!this.stopping) {
      const wasLeader = this.isLeader;
      const sent = performance.now();
      try {
        const got = await this.lease.tryAcquire();
        this.markDb(true);
        if (this.stopping) {
          // stop() resigns; a renewal that raced it must not leave us holding the lease.
          if (got) await this.lease.resign().catch(() => {});
          return;
        }
        if (got) {
          this.renewedAt = sent;
          this.leader = {
            leader_id: this.nodeId,
            leader_url: this.advertiseUrl,
            term: got.term,
            expires_at: got.expiresAt,
            live: true,
          };
          this.metrics.term.set(got.term);
          if (!wasLeader) {
            this.metrics.leaderElections.inc({ result: 'won' });
            this.metrics.isLeader.set({ node_id: this.nodeId }, 1);
            this.log.info({ term: got.term }, 'became leader');
            this.jobsWake.fire();
          }
        } else {
          if (wasLeader) this.stepDown('another node holds the lease');
          await this.readLeader();
        }
      } catch (err) {
        this.markDb(false, err);
        if (this.isLeader && performance.now() - this.renewedAt > s.renewDeadlineSeconds * 1000) {
          this.stepDown(`could not renew the lease within ${s.renewDeadlineSeconds} s: ${redactText(messageOf(err))}`);
        } else {
          this.log.warn(
            { err: redactText(messageOf(err)) },
            this.isLeader ? 'lease renewal failed; retrying' : 'lease attempt failed; retrying',
          );
        }
      }
      if (this.stopping) return;
      // A leader that misses its deadline steps down even while its renewal hangs.
      const delay = this.isLeader
        ? this.db.reachable
          ? s.renewSeconds * 1000
          : this.jitter(s.retrySeconds)
        : this.jitter(s.retrySeconds);
      await this.leaseWake.wait(delay, this.stop$.signal);
      if (this.isLeader && performance.now() - this.renewedAt > s.renewDeadlineSeconds * 1000) {
        this.stepDown(`the lease was not renewed within ${s.renewDeadlineSeconds} s`);
      }
    }
  }

  private stepDown(why: string): void {
    if (!this.isLeader) return;
    this.lease.drop();
    this.metrics.leaderElections.inc({ result: 'lost' });
    this.metrics.isLeader.set({ node_id: this.nodeId }, 0);
    this.leader = { ...this.leader, live: false };
    this.log.warn({ term: this.leader.term }, `stepped down: ${why}`);
  }

  private async readLeader(): Promise<void> {
    const [r] = await this.leaseSql<
      { leader_id: string; leader_url: string | null; term: string; expires_at: Date; live: boolean }[]
    >`
      select leader_id, leader_url, term::text, expires_at, expires_at > now() as live from sync_metadata.leader_election where cluster_name = ${this.cluster}`;
    this.leader = r
      ? {
          leader_id: r.leader_id,
          leader_url: r.leader_url,
          term: Number(r.term),
          expires_at: r.expires_at,
          live: r.live,
        }
      : { leader_id: null, leader_url: null, term: null, expires_at: null, live: false };
    if (r) this.metrics.term.set(Number(r.term));
  }

  // ---- heartbeat, schedule, retention -----------------------------------------------------------

  private async heartbeatLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.heartbeat();
      } catch (err) {
        this.markDb(false, err);
        this.log.warn({ err: redactText(messageOf(err)) }, 'heartbeat failed; retrying');
      }
      await sleep(this.settings.heartbeatSeconds * 1000, undefined, { signal: this.stop$.signal }).catch(() => {});
    }
  }

  private async heartbeat(): Promise<void> {
    const info = {
      role: this.settings.role,
      url: this.advertiseUrl,
      is_leader: this.isLeader,
      term: this.leader.term,
      version: packageVersion(),
      pid: process.pid,
    };
    await this.sql`
      update sync_metadata.hosts set last_heartbeat = now(), updated_at = now(),
        metadata = jsonb_set(coalesce(metadata, '{}'::jsonb), '{agents}',
          coalesce(metadata->'agents', '{}'::jsonb) || jsonb_build_object(${this.nodeId}::text, ${JSON.stringify(info)}::text::jsonb || jsonb_build_object('last_seen', now())))
      where host_id = ${this.hostId}`;
    this.lastHeartbeat = new Date();
    this.markDb(true);
    const rows = await this.sql<{ client: string; last: Date | null }[]>`
      select client_name as client, last_sync_at at time zone current_setting('TimeZone') as last
      from sync_metadata.client_deployments where deployment_id in (${inCluster(this.sql, this.cluster)})`;
    this.lag = rows.map((r) => ({ client: r.client, lastSuccess: r.last }));
    if (this.isLeader && Date.now() - this.lastPurge > 3600_000) {
      const n = await purgeHistory(this.sql, this.settings.historyDays);
      this.lastPurge = Date.now();
      if (n > 0) this.log.info({ jobs: n, days: this.settings.historyDays }, 'purged old job history');
    }
  }

  /**
   * The leader queues due jobs, waking when the next deployment is due (at least once a second, so new
   * deployments and changed intervals are seen); the NOTIFY of the queueing wakes idle workers at once.
   */
  private async schedulerLoop(): Promise<void> {
    const most = Math.min(1000, this.settings.pollSeconds * 1000);
    while (!this.stopping) {
      let wait = most;
      if (this.isLeader) {
        try {
          const n = await enqueueDue(this.sql, this.cluster);
          if (n > 0) this.log.debug({ jobs: n }, 'queued due syncs');
          const next = await nextDueInMs(this.sql, this.cluster);
          if (next !== null) wait = Math.max(5, Math.min(most, next + 2));
        } catch (err) {
          this.markDb(false, err);
          this.log.warn({ err: redactText(messageOf(err)) }, 'scheduling failed; retrying');
        }
      }
      await sleep(wait, undefined, { signal: this.stop$.signal }).catch(() => {});
    }
  }

  // ---- jobs --------------------------------------------------------------------------------------

  private async workerLoop(worker: number): Promise<void> {
    const s = this.settings;
    while (!this.stopping) {
      let job: ClaimedJob | null = null;
      try {
        job = await claim(this.sql, this.cluster, this.nodeId, s.visibilitySeconds);
      } catch (err) {
        this.markDb(false, err);
        this.log.warn({ err: redactText(messageOf(err)), worker }, 'could not claim a job; retrying');
      }
      if (!job) {
        await this.jobsWake.wait(this.jitter(s.pollSeconds), this.stop$.signal);
        continue;
      }
      await this.runJob(job, this.workerSql[worker]!);
    }
  }

  /** Run one claimed job; whatever happens, the job row says how it ended (or it goes back to the queue). */
  private async runJob(job: ClaimedJob, wsql: Sql): Promise<void> {
    const s = this.settings;
    const log = this.log.child({ job_id: job.job_id, client: job.client_name, claim: job.claims, term: job.term });
    this.metrics.jobsClaimed.inc({ kind: job.reclaimed_from ? 'reclaimed' : 'new' });
    if (job.reclaimed_from) log.warn({ from: job.reclaimed_from }, 'reclaimed a job whose node stopped renewing it');
    const ac = new AbortController();
    const run: Running = { job, ac, startedAt: Date.now() };
    this.running.set(job.job_id, run);
    const renew = setInterval(() => {
      renewJob(this.sql, job, this.nodeId, s.visibilitySeconds)
        .then((mine) => {
          if (!mine && !ac.signal.aborted) {
            log.warn('the job is no longer ours (reclaimed); stopping it');
            ac.abort();
          }
        })
        .catch((err) =>
          log.warn({ err: redactText(messageOf(err)) }, 'could not renew the job; the fence decides at the next batch'),
        );
    }, s.renewSeconds * 1000);
    const t0 = performance.now();
    let result: SyncResult | undefined;
    try {
      const dep = await getDeployment(this.sql, job.client_name);
      log.info({ full: job.full_sync, due_at: job.due_at, triggered_by: job.triggered_by }, 'sync started');
      result = await runSync(wsql, dep, {
        full: job.full_sync,
        batchRows: s.batchRows,
        triggeredBy: job.triggered_by ?? 'agent',
        signal: ac.signal,
        job: { id: job.job_id, fence: jobFence(this.cluster, this.nodeId, job, this.lease.instance) },
      });
    } catch (err) {
      if (err instanceof SyncBusyError) {
        log.info('its deployment is busy with another run; handed back to the queue');
        await releaseJob(this.sql, this.cluster, job, this.nodeId, s.retrySeconds, 'deployment busy').catch((e) =>
          log.warn(
            { err: redactText(messageOf(e)) },
            'could not hand the job back; it returns when its visibility timeout ends',
          ),
        );
      } else if (isTransientPgError(err)) {
        this.markDb(false, err);
        log.warn(
          { err: redactText(messageOf(err)) },
          'lost the database connection; the job returns to the queue when its claim runs out, and resumes from its last committed batch',
        );
      } else {
        const msg = redactText(messageOf(err)) + ((err as OwuiError).hint ? ` (${(err as OwuiError).hint})` : '');
        log.error({ err: msg }, 'sync could not start');
        this.metrics.syncOperations.inc({ client: job.client_name, status: 'failed' });
        await failJob(this.sql, job, this.nodeId, msg).catch((e) =>
          log.warn({ err: redactText(messageOf(e)) }, 'could not record the failure'),
        );
      }
    } finally {
      clearInterval(renew);
      this.running.delete(job.job_id);
    }
    if (!result) return;
    const seconds = (performance.now() - t0) / 1000;
    await this.account(job, result, seconds, log);
    if (result.fenced) {
      this.metrics.fencedBatches.inc();
      log.warn({ err: result.error }, 'run stopped by fencing: its claim or term is over, nothing more of it landed');
      await releaseJob(this.sql, this.cluster, job, this.nodeId, 0, 'fenced').catch(() => false);
    } else if (result.status === 'cancelled' && this.stopping) {
      // Shutting down mid-run: the peer carries on from the last committed batch.
      await enqueue(this.sql, this.cluster, job.client_name, {
        full: job.full_sync,
        triggeredBy: `handover:${this.nodeId}`,
      })
        .then((e) => log.info({ next_job: e.job_id }, 'run stopped for shutdown; queued again for the peer'))
        .catch((e) =>
          log.warn({ err: redactText(messageOf(e)) }, 'could not queue the interrupted run again; the schedule will'),
        );
    }
  }

  private async account(job: ClaimedJob, r: SyncResult, seconds: number, log: Logger): Promise<void> {
    const m = this.metrics;
    const status = r.fenced ? 'fenced' : r.status;
    m.syncOperations.inc({ client: job.client_name, status });
    m.syncDuration.observe({ client: job.client_name }, seconds);
    for (const t of r.tables) {
      const n = t.inserted + t.updated + t.tombstoned;
      if (n > 0) m.rowsProcessed.inc({ client: job.client_name, table: t.table }, n);
    }
    if (r.totals.conflicts > 0) {
      try {
        const rows = await this.sql<
          { table_name: string; conflict_type: string; strategy: string | null; resolved: boolean; n: number }[]
        >`
          select table_name, conflict_type, resolution_strategy as strategy, resolved_at is not null as resolved, count(*)::int as n
          from sync_metadata.conflict_log where sync_job_id = ${job.job_id}
          group by 1, 2, 3, 4`;
        for (const c of rows) {
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
    if (r.status === 'success') log.info(fields, 'sync finished');
    else if (!r.fenced) log.error({ ...fields, err: r.error }, 'sync failed');
    if (r.bookkeeping_error) log.error({ ...fields, err: r.bookkeeping_error }, 'sync run could not record its result');
  }

  // ---- shutdown ----------------------------------------------------------------------------------

  /**
   * SIGTERM/SIGINT: running syncs stop after their current batch (and are queued again for the peer),
   * then the lease is given up at once and the followers are told. Bounded: a batch that does not
   * finish in `graceMs` is abandoned (its transaction rolls back when the connection closes).
   */
  async stop(graceMs = 2500): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const t0 = Date.now();
    this.stop$.abort();
    this.leaseWake.fire();
    this.jobsWake.fire();
    for (const r of this.running.values()) r.ac.abort();
    const drained = Promise.all(this.loops).then(() => true);
    const finished = await Promise.race([drained, sleep(graceMs).then(() => false)]);
    if (!finished)
      this.log.warn(
        { jobs: [...this.running.keys()] },
        `runs did not stop within ${graceMs} ms; abandoning them (their open batch rolls back)`,
      );
    if (this.lease?.current) {
      const term = this.lease.current.term;
      await this.lease.resign().then(
        () => {
          this.metrics.leaderElections.inc({ result: 'resigned' });
          this.log.info({ term }, 'resigned the lease');
        },
        (err) =>
          this.log.warn(
            { err: redactText(messageOf(err)) },
            'could not resign the lease; the peer takes over when it expires',
          ),
      );
    }
    await this.close();
    this.log.info({ ms: Date.now() - t0 }, 'agent stopped');
  }

  async close(): Promise<void> {
    await Promise.all(
      [this.sql, this.leaseSql, this.listenSql, ...this.workerSql]
        .filter(Boolean)
        .map((s) => s.end({ timeout: 1 }).catch(() => {})),
    );
  }
}
