import client from 'prom-client';

/**
 * The agent's Prometheus metrics: every metric the specification lists, with its names and labels,
 * plus per-deployment lag, last success, the current term and the process metrics. One registry per
 * agent (not prom-client's global one), so tests can run several.
 */
/** What the agent last read of each deployment of its cluster (at each heartbeat). */
export interface DeploymentGauge {
  client: string;
  lastSuccess: Date | null;
  intervalSeconds: number;
  enabled: boolean;
  conflictsPending: number;
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly syncOperations: client.Counter<'client' | 'status'>;
  readonly syncDuration: client.Histogram<'client'>;
  readonly rowsProcessed: client.Counter<'client' | 'table'>;
  readonly conflictsDetected: client.Counter<'client' | 'table' | 'type'>;
  readonly conflictsResolved: client.Counter<'client' | 'strategy'>;
  readonly leaderElections: client.Counter<'result'>;
  readonly isLeader: client.Gauge<'node_id'>;
  readonly cacheHits: client.Counter;
  readonly cacheMisses: client.Counter;
  readonly stateLag: client.Gauge;
  readonly deploymentLag: client.Gauge<'client'>;
  readonly lastSuccess: client.Gauge<'client'>;
  readonly term: client.Gauge;
  readonly jobsClaimed: client.Counter<'kind'>;
  readonly claimAttempts: client.Counter<'result'>;
  readonly fencedBatches: client.Counter;
  readonly notifications: client.Counter<'result'>;
  readonly interval: client.Gauge<'client'>;
  readonly pending: client.Gauge<'client'>;
  readonly databaseUp: client.Gauge;
  private lastStateSync = Date.now();

  constructor(nodeId: string, lagSource: () => DeploymentGauge[]) {
    const r = [this.registry];
    this.syncOperations = new client.Counter({
      name: 'sync_operations_total',
      help: 'Total number of sync operations',
      labelNames: ['client', 'status'],
      registers: r,
    });
    this.syncDuration = new client.Histogram({
      name: 'sync_duration_seconds',
      help: 'Sync operation duration',
      labelNames: ['client'],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600],
      registers: r,
    });
    this.rowsProcessed = new client.Counter({
      name: 'sync_rows_processed_total',
      help: 'Total rows synchronized',
      labelNames: ['client', 'table'],
      registers: r,
    });
    this.conflictsDetected = new client.Counter({
      name: 'conflicts_detected_total',
      help: 'Total conflicts detected',
      labelNames: ['client', 'table', 'type'],
      registers: r,
    });
    this.conflictsResolved = new client.Counter({
      name: 'conflicts_resolved_total',
      help: 'Total conflicts resolved',
      labelNames: ['client', 'strategy'],
      registers: r,
    });
    this.leaderElections = new client.Counter({
      name: 'leader_elections_total',
      help: 'Total leader elections',
      labelNames: ['result'],
      registers: r,
    });
    this.isLeader = new client.Gauge({
      name: 'sync_container_is_leader',
      help: 'Whether this container is currently leader',
      labelNames: ['node_id'],
      registers: r,
    });
    this.cacheHits = new client.Counter({ name: 'state_cache_hits_total', help: 'Cache hit count', registers: r });
    this.cacheMisses = new client.Counter({ name: 'state_cache_misses_total', help: 'Cache miss count', registers: r });
    const self = this;
    this.stateLag = new client.Gauge({
      name: 'state_sync_lag_seconds',
      help: 'Time since last state sync with Supabase',
      registers: r,
      collect() {
        this.set((Date.now() - self.lastStateSync) / 1000);
      },
    });
    this.deploymentLag = new client.Gauge({
      name: 'owui_sync_deployment_lag_seconds',
      help: 'Seconds since the last successful sync of each deployment (absent until its first success)',
      labelNames: ['client'],
      registers: r,
      collect() {
        this.reset();
        self.lastSuccess.reset();
        self.interval.reset();
        self.pending.reset();
        for (const d of lagSource()) {
          self.interval.set({ client: d.client }, d.enabled ? d.intervalSeconds : 0);
          self.pending.set({ client: d.client }, d.conflictsPending);
          if (!d.lastSuccess) continue;
          this.set({ client: d.client }, Math.max(0, (Date.now() - d.lastSuccess.getTime()) / 1000));
          self.lastSuccess.set({ client: d.client }, d.lastSuccess.getTime() / 1000);
        }
      },
    });
    this.interval = new client.Gauge({
      name: 'owui_sync_deployment_interval_seconds',
      help: 'The sync interval of each deployment; 0 while it is paused (the lag alert compares against it)',
      labelNames: ['client'],
      registers: r,
    });
    this.pending = new client.Gauge({
      name: 'owui_sync_conflicts_pending',
      help: 'Conflicts of each deployment that wait for review',
      labelNames: ['client'],
      registers: r,
    });
    this.lastSuccess = new client.Gauge({
      name: 'owui_sync_last_success_timestamp_seconds',
      help: 'Unix time of the last successful sync of each deployment',
      labelNames: ['client'],
      registers: r,
    });
    this.term = new client.Gauge({
      name: 'owui_sync_leader_term',
      help: 'The cluster leader term this node last saw (fencing token)',
      registers: r,
    });
    this.jobsClaimed = new client.Counter({
      name: 'owui_sync_jobs_claimed_total',
      help: 'Jobs this node claimed from the queue; kind=reclaimed when another node had died holding it',
      labelNames: ['kind'],
      registers: r,
    });
    this.claimAttempts = new client.Counter({
      name: 'owui_sync_claim_attempts_total',
      help: 'Claims this node tried (each one query): result=claimed when it got a job, empty when the queue had none for it',
      labelNames: ['result'],
      registers: r,
    });
    this.fencedBatches = new client.Counter({
      name: 'owui_sync_fenced_runs_total',
      help: 'Runs stopped because their claim or leader term was over (nothing of theirs landed after that)',
      registers: r,
    });
    this.notifications = new client.Counter({
      name: 'owui_sync_conflict_notifications_total',
      help: 'Conflict notifications posted to the webhook (OWUI_SYNC_NOTIFY_URL): result=sent, or failed after its retries',
      labelNames: ['result'],
      registers: r,
    });
    this.databaseUp = new client.Gauge({
      name: 'owui_sync_database_up',
      help: '1 when this node reached PostgreSQL at its last attempt',
      registers: r,
    });
    this.isLeader.set({ node_id: nodeId }, 0);
    client.collectDefaultMetrics({ register: this.registry });
    // prom-client's nodejs_active_{handles,requests,resources}_total are gauges named like counters, which
    // promtool check metrics warns about; the same counts stay, by type, in nodejs_active_{handles,requests,resources}.
    for (const m of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      this.registry.removeSingleMetric(m);
  }

  stateSynced(): void {
    this.lastStateSync = Date.now();
  }
}
