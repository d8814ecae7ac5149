-- State the sync engine keeps next to the legacy tables.

ALTER TABLE sync_metadata.client_deployments
    ADD COLUMN IF NOT EXISTS reconcile_every      INTEGER NOT NULL DEFAULT 12 CHECK (reconcile_every >= 1),
    ADD COLUMN IF NOT EXISTS runs_since_reconcile INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS source_fingerprint   TEXT;

-- Per-table position of the sync. Written in the same transaction as the rows it describes.
CREATE TABLE IF NOT EXISTS sync_metadata.table_checkpoints (
    deployment_id       UUID NOT NULL REFERENCES sync_metadata.client_deployments (deployment_id) ON DELETE CASCADE,
    table_name          TEXT NOT NULL,
    cursor_updated_at   BIGINT,          -- (updated_at, key) keyset position of the incremental reader
    cursor_key          JSONB,
    cursor_rowid        BIGINT,          -- highest rowid seen: finds inserts with old timestamps (imports)
    scan_key            JSONB,           -- position of an unfinished full scan / reconciliation pass
    scan_started_rowid  BIGINT,
    scan_max_updated_at BIGINT,
    last_full_at        TIMESTAMPTZ,
    rows_written        BIGINT NOT NULL DEFAULT 0,
    rows_tombstoned     BIGINT NOT NULL DEFAULT 0,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, table_name)
);

-- Rows PostgreSQL refused, set aside with the reason. Never silently dropped: counted in every
-- run's result until a later run stores them (resolved_at) or an operator looks at them.
CREATE TABLE IF NOT EXISTS sync_metadata.rejected_rows (
    rejected_id   BIGSERIAL PRIMARY KEY,
    deployment_id UUID NOT NULL REFERENCES sync_metadata.client_deployments (deployment_id) ON DELETE CASCADE,
    client_name   VARCHAR(100) NOT NULL,
    table_name    TEXT NOT NULL,
    record_id     JSONB NOT NULL,
    reason        TEXT NOT NULL,
    row_data      JSONB,
    sync_job_id   UUID,
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts      INTEGER NOT NULL DEFAULT 1,
    resolved_at   TIMESTAMPTZ,
    UNIQUE (deployment_id, table_name, record_id)
);

DROP VIEW IF EXISTS sync_metadata.v_last_completed_sync_jobs;
CREATE VIEW sync_metadata.v_last_completed_sync_jobs AS
SELECT DISTINCT ON (j.deployment_id)
       j.deployment_id, j.client_name, j.job_id, j.status, j.sync_type, j.triggered_by,
       j.started_at, j.completed_at, j.tables_synced, j.tables_total, j.rows_synced, j.rows_failed,
       j.duration_seconds, NOW() - j.completed_at AS time_since_last_completed
FROM sync_metadata.sync_jobs j
WHERE j.status <> 'running'
ORDER BY j.deployment_id, j.completed_at DESC NULLS LAST;

DROP VIEW IF EXISTS sync_metadata.v_active_sync_jobs;
CREATE VIEW sync_metadata.v_active_sync_jobs AS
SELECT j.job_id, j.client_name, j.started_at, j.sync_type, j.triggered_by, j.tables_synced, j.tables_total,
       j.rows_synced, NOW() - j.started_at AS running_for
FROM sync_metadata.sync_jobs j WHERE j.status = 'running';

DROP VIEW IF EXISTS sync_metadata.v_recent_conflicts;
CREATE VIEW sync_metadata.v_recent_conflicts AS
SELECT * FROM sync_metadata.conflict_log WHERE detected_at > NOW() - INTERVAL '24 hours';

DROP VIEW IF EXISTS sync_metadata.v_cluster_health;
CREATE VIEW sync_metadata.v_cluster_health AS
SELECT h.cluster_name, h.hostname, h.status AS host_status, h.last_heartbeat,
       EXTRACT(EPOCH FROM (NOW() - h.last_heartbeat))::int AS seconds_since_heartbeat,
       l.leader_id,
       CASE WHEN l.expires_at > NOW() THEN 'active' WHEN l.leader_id IS NULL THEN 'none' ELSE 'expired' END AS leader_status,
       l.expires_at AS leader_lease_expires,
       (SELECT count(*) FROM sync_metadata.client_deployments d WHERE d.host_id = h.host_id) AS deployments_count,
       (SELECT count(*) FROM sync_metadata.client_deployments d WHERE d.host_id = h.host_id AND d.sync_enabled) AS sync_enabled_count
FROM sync_metadata.hosts h
LEFT JOIN sync_metadata.leader_election l ON l.cluster_name = h.cluster_name;
