import { setTimeout as sleep } from 'node:timers/promises';
import { type DeploymentGauge, Metrics } from '../metrics/registry.ts';
import { connect, pgConnectError, type Sql } from '../pg/connect.ts';
import { requireProvisioned } from '../pg/deployments.ts';
import { ConfigError, messageOf } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { packageVersion } from '../util/paths.ts';
import { redactText } from '../util/redact.ts';
import { DbHealth } from './db-health.ts';
import { Elector, type LeaderView } from './elector.ts';
import { AgentEvents } from './events.ts';
import { Lease } from './lease.ts';
import { Listener } from './listener.ts';
import { findHosts, lastSyncs, recordHeartbeat, schemaVersion } from './node-sql.ts';
import { anyToNotify, Notifier, webhookOrigin } from './notifier.ts';
import { enqueueDue, nextDueInMs, purgeHistory } from './queue.ts';
import type { AgentSettings } from './settings.ts';
import { StateCache } from './state.ts';
import { Wakeup } from './wakeup.ts';
import { type Running, Worker } from './worker.ts';

export type { LeaderView } from './elector.ts';

/** The newest migration the agent needs (sql/012_waiting_job.sql: a request made during a run waits for it). */
const NEEDS_MIGRATION = 12;
/**
 * Seconds an on-demand connection (a worker's, the maintenance one) stays open after its last statement: long
 * enough for a worker's next claimed job to reuse it, short enough that an idle node holds only its control
 * connection (the fleet's budget, docs/fleet.md).
 */
const ON_DEMAND_IDLE_S = 1;
/** How long a stopping agent tries to resign its lease (PostgreSQL may be the reason it stops). */
const RESIGN_MS = 2000;
/** The leader purges old job history at most this often. */
const PURGE_EVERY_MS = 3600_000;

/**
 * One node of an HA pair (docs/agent.md). Both nodes run the same loops; the lease
 * decides which one also schedules. Everything shared lives in PostgreSQL: the lease row, the queue, the state.
 * The pieces: the leader elector (elector.ts), the workers (worker.ts), the notification listener
 * (listener.ts), the state cache (state.ts); here they are wired, with the heartbeat and the scheduler.
 */
export class Agent {
  readonly metrics: Metrics;
  /** What this node announces (events.ts): each is also a log line with an `event` field. */
  readonly events: AgentEvents;
  readonly startedAt = Date.now();
  /** The control connection: everything but the syncs themselves, conflict notifications and retention. */
  sql!: Sql;
  private auxSql?: Sql;
  private workerSql: Sql[] = [];
  private listener?: Listener;
  private elector?: Elector;
  state!: StateCache;
  cluster = '';
  hostId: string | null = null;
  hostname = '';
  readonly db: DbHealth;
  lastHeartbeat: Date | null = null;
  readonly running = new Map<string, Running>();
  stopping = false;
  private readonly stop$ = new AbortController();
  /** Fired when a job is queued: by a notification, by this node's scheduler or API, or when it becomes leader. */
  readonly jobsWake = new Wakeup();
  /** A deployment of the cluster changed, or this node became leader: the scheduler looks again at once. */
  private readonly scheduleWake = new Wakeup();
  private loops: Promise<void>[] = [];
  /** The loops still running (named in the shutdown's warning when they outlast its grace). */
  private readonly pendingLoops = new Set<string>();
  private lag: DeploymentGauge[] = [];
  private lastPurge = 0;
  private readonly notifier?: Notifier;
  advertiseUrl: string;

  constructor(
    readonly settings: AgentSettings,
    private readonly databaseUrl: string,
    readonly log: Logger,
  ) {
    this.metrics = new Metrics(settings.nodeId, () => this.lag);
    this.events = new AgentEvents(log);
    this.events.on('elected', () => {
      this.jobsWake.fire();
      this.scheduleWake.fire();
    });
    this.db = new DbHealth((up) => this.metrics.databaseUp.set(up ? 1 : 0));
    this.advertiseUrl = settings.advertiseUrl;
    const hook = settings.notifyUrl;
    if (hook) {
      this.notifier = new Notifier(
        hook,
        (result) => this.metrics.notifications.inc({ result }),
        (msg, fields) => this.events.announce('notification_failed', 'warn', msg, fields),
      );
    }
  }

  get isLeader(): boolean {
    return !!this.elector?.isLeader;
  }

  get leader(): LeaderView {
    return this.elector?.leader ?? { leader_id: null, leader_url: null, term: null, expires_at: null, live: false };
  }

  get nodeId(): string {
    return this.settings.nodeId;
  }

  /**
   * Connect, find this node's host and cluster, and check the schema; every problem is a clear error.
   *
   * The connection budget (docs/fleet.md): one control connection holds everything an idle node does (its
   * LISTEN, the lease, heartbeats, the scheduler, claims, the API's reads); a worker opens its connection when it
   * has claimed a job and the connection closes a second after the run; conflict notifications and history
   * retention borrow one the same way. An idle pair holds 2 connections, a running sync adds 1.
   */
  async open(): Promise<void> {
    const s = this.settings;
    const what = 'the database connection';
    const mode = s.connectionMode;
    this.sql = connect(this.databaseUrl, {
      what,
      max: 1,
      mode,
      applicationName: `owui-sync agent ${s.nodeId}`,
      options: {
        idle_timeout: null,
        max_lifetime: null,
        onnotify: (channel: string, payload: string) => this.listener?.onNotify(channel, payload),
        onclose: () => this.listener?.onClose(),
      },
    });
    const onDemand = (name: string) =>
      connect(this.databaseUrl, {
        what,
        max: 1,
        mode,
        applicationName: `owui-sync agent ${s.nodeId} ${name}`,
        options: { idle_timeout: ON_DEMAND_IDLE_S },
      });
    // Each worker has a connection of its own: in session mode a run keeps its deployment's session lock on it.
    this.workerSql = Array.from({ length: s.concurrency }, (_, i) => onDemand(`worker ${i}`));
    this.auxSql = onDemand('maintenance');
    try {
      await this.sql`select 1`;
    } catch (err) {
      await this.close();
      throw pgConnectError(err, this.databaseUrl, what);
    }
    await requireProvisioned(this.sql);
    const v = await schemaVersion(this.sql);
    if (v < NEEDS_MIGRATION) {
      throw new ConfigError(
        `the sync_metadata schema is at version ${v}; the agent needs ${NEEDS_MIGRATION}`,
        'upgrade it: owui-sync provision (with the admin connection); it is safe to run again',
      );
    }
    const hosts = await findHosts(this.sql, s.host ?? null, s.cluster ?? null);
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
    this.db.mark(true);
  }

  /** Start the loops. `advertiseUrl` is known once the API listens (its port may have been 0). */
  async start(advertiseUrl?: string): Promise<void> {
    if (advertiseUrl) this.advertiseUrl = advertiseUrl;
    const s = this.settings;
    const signal = this.stop$.signal;
    const lease = new Lease(this.sql, this.cluster, s.nodeId, s.leaseSeconds, this.hostId, this.advertiseUrl);
    // The lease's statements share the control connection: one that hangs is cancelled by the renew deadline, when
    // the elector steps down anyway (the timer counts time queued behind the connection's other statements too, so
    // a shorter one would cancel renewals that were only waiting their turn).
    lease.statementMs = Math.max(100, Math.round(s.renewDeadlineSeconds * 1000));
    this.elector = new Elector(lease, s, () => this.advertiseUrl, this.db, this.metrics, this.events);
    this.state = new StateCache(this.sql, this.cluster, s.nodeId, s.cacheTtlSeconds * 1000, {
      hit: () => this.metrics.cacheHits.inc(),
      miss: () => this.metrics.cacheMisses.inc(),
      synced: () => this.metrics.stateSynced(),
    });
    await this.state.startFrom();
    const elector = this.elector;
    this.listener = new Listener(
      this.sql,
      this.cluster,
      this.state,
      { retrySeconds: s.retrySeconds, pollSeconds: s.pollSeconds },
      this.events,
      {
        lease: () => elector.wake.fire(),
        jobs: () => this.jobsWake.fireOne(),
        state: () => this.scheduleWake.fire(),
      },
      signal,
    );
    await this.listener.open();
    const workers = this.workerSql.map(
      (wsql, i) =>
        new Worker(
          {
            sql: this.sql,
            cluster: this.cluster,
            nodeId: s.nodeId,
            settings: s,
            metrics: this.metrics,
            events: this.events,
            db: this.db,
            leaseInstance: lease.instance,
            running: this.running,
            jobsWake: this.jobsWake,
          },
          i,
          wsql,
        ),
    );
    const named = (name: string, p: Promise<void>) => p.finally(() => this.pendingLoops.delete(name));
    const loops: [string, Promise<void>][] = [
      ['elector', elector.run(signal)],
      ['heartbeat', this.heartbeatLoop()],
      ['scheduler', this.schedulerLoop()],
      ['notify', this.notifyLoop()],
      ...workers.map((w, i): [string, Promise<void>] => [`worker ${i}`, w.run(signal)]),
    ];
    for (const [name] of loops) this.pendingLoops.add(name);
    this.loops = loops.map(([name, p]) => named(name, p));
    this.events.announce('started', 'info', 'agent started', {
      cluster: this.cluster,
      host: this.hostname,
      role: s.role,
      url: this.advertiseUrl,
      version: packageVersion(),
      connection_mode: s.connectionMode,
      notifications: s.connectionMode === 'session' ? 'listen' : `poll every ${s.pollSeconds} s`,
    });
  }

  // ---- heartbeat, schedule, retention -----------------------------------------------------------

  private async heartbeatLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.heartbeat();
      } catch (err) {
        this.db.mark(false, err);
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
    await recordHeartbeat(this.sql, this.hostId, this.nodeId, info);
    this.lastHeartbeat = new Date();
    this.db.mark(true);
    this.lag = (await lastSyncs(this.sql, this.cluster)).map((r) => ({
      client: r.client,
      lastSuccess: r.last,
      intervalSeconds: r.interval,
      enabled: r.enabled,
      conflictsPending: r.pending,
    }));
    if (this.isLeader && Date.now() - this.lastPurge > PURGE_EVERY_MS && this.auxSql) {
      const n = await purgeHistory(this.auxSql, this.settings.historyDays);
      this.lastPurge = Date.now();
      if (n > 0) this.log.info({ jobs: n, days: this.settings.historyDays }, 'purged old job history');
    }
  }

  /** The leader posts conflicts that wait for review on notify tables (notifier.ts), once each. */
  private async notifyLoop(): Promise<void> {
    if (!this.notifier) return;
    this.log.info({ webhook: webhookOrigin(this.notifier.url) }, 'conflict notifications on');
    while (!this.stopping) {
      if (this.isLeader && this.auxSql) {
        try {
          // The round holds its rows while it posts: on a connection of its own, taken only when there is work.
          const r = (await anyToNotify(this.sql, this.cluster))
            ? await this.notifier.round(this.auxSql, this.cluster)
            : { sent: 0, failed: 0 };
          if (r.sent) this.log.info({ sent: r.sent }, 'conflict notifications sent');
        } catch (err) {
          this.events.announce(
            'notification_round_failed',
            'warn',
            'conflict notifications: the round failed; retrying',
            {
              err: redactText(messageOf(err)),
            },
          );
        }
      }
      await sleep(Math.min(this.settings.heartbeatSeconds, 10) * 1000, undefined, { signal: this.stop$.signal }).catch(
        () => {},
      );
    }
  }

  /**
   * The leader queues due jobs, waking when the next deployment is due, when a deployment of the cluster changes
   * (a notification, or in transaction mode the poll of cache events), and at least every poll interval (a
   * deployment added since); the NOTIFY of the queueing wakes the cluster's idle workers at once.
   */
  private async schedulerLoop(): Promise<void> {
    const most = this.settings.pollSeconds * 1000;
    while (!this.stopping) {
      let wait = most;
      if (this.isLeader) {
        try {
          const n = await enqueueDue(this.sql, this.cluster);
          if (n > 0) this.log.debug({ jobs: n }, 'queued due syncs');
          // This node's own idle workers go first, without waiting for a notification (none in transaction mode).
          for (let i = 0; i < n; i++) this.jobsWake.fireOne();
          const next = await nextDueInMs(this.sql, this.cluster);
          if (next !== null) wait = Math.max(5, Math.min(most, next + 2));
        } catch (err) {
          this.db.mark(false, err);
          this.log.warn({ err: redactText(messageOf(err)) }, 'scheduling failed; retrying');
        }
      }
      await this.scheduleWake.wait(wait, this.stop$.signal);
    }
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
    this.elector?.wake.fire();
    this.jobsWake.fire();
    for (const r of this.running.values()) r.ac.abort();
    const drained = Promise.all(this.loops).then(() => true);
    // The grace timer is cancelled once the loops are done: a pending timer would keep the process alive (the
    // exit, and so `docker stop`, would wait the whole grace).
    const grace = new AbortController();
    const finished = await Promise.race([
      drained,
      sleep(graceMs, false, { signal: grace.signal }).catch(() => false),
    ]).finally(() => grace.abort());
    if (!finished)
      this.log.warn(
        { jobs: [...this.running.keys()], loops: [...this.pendingLoops] },
        `runs did not stop within ${graceMs} ms; abandoning them (their open batch rolls back)`,
      );
    // Bounded too: with PostgreSQL gone, the resignation would wait out the driver's connect timeout (30 s), and
    // `docker stop` would kill the agent first. Unresigned, the lease simply runs out.
    const resigned = new AbortController();
    await Promise.race([
      this.elector?.resign(),
      sleep(RESIGN_MS, undefined, { signal: resigned.signal }).then(
        () => this.log.warn(`could not resign the lease within ${RESIGN_MS} ms; the peer takes over when it expires`),
        () => {},
      ),
    ]).finally(() => resigned.abort());
    await this.close();
    this.events.announce('stopped', 'info', 'agent stopped', { ms: Date.now() - t0 });
  }

  async close(): Promise<void> {
    await Promise.all([
      ...[this.sql, this.auxSql, ...this.workerSql]
        .filter((s): s is Sql => !!s)
        .map((s) => s.end({ timeout: 1 }).catch(() => {})),
      this.notifier?.close(),
    ]);
  }
}
