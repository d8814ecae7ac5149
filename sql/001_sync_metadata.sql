-- sync_metadata: the legacy toolkit's seven tables (its mt/SYNC/sql/01-init-sync-schema.sql), same table and column
-- names, created only where missing so an existing legacy schema is adopted in place.
CREATE SCHEMA IF NOT EXISTS sync_metadata;

CREATE TABLE IF NOT EXISTS sync_metadata.hosts (
    host_id        UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    hostname       VARCHAR(255) NOT NULL,
    ip_address     INET,
    cluster_name   VARCHAR(100) NOT NULL,
    status         VARCHAR(20) DEFAULT 'active' CHECK (status IN ('active', 'maintenance', 'offline')),
    last_heartbeat TIMESTAMP DEFAULT NOW(),
    created_at     TIMESTAMP DEFAULT NOW(),
    updated_at     TIMESTAMP DEFAULT NOW(),
    metadata       JSONB DEFAULT '{}',
    UNIQUE (hostname, cluster_name)
);

CREATE TABLE IF NOT EXISTS sync_metadata.client_deployments (
    deployment_id    UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    host_id          UUID REFERENCES sync_metadata.hosts (host_id) ON DELETE CASCADE,
    client_name      VARCHAR(100) NOT NULL UNIQUE,
    container_name   VARCHAR(255) NOT NULL UNIQUE,
    fqdn             VARCHAR(255),
    port             INTEGER,
    database_type    VARCHAR(20) DEFAULT 'sqlite' CHECK (database_type IN ('sqlite', 'postgresql')),
    sync_enabled     BOOLEAN DEFAULT false,
    sync_interval    INTEGER DEFAULT 300,
    last_sync_at     TIMESTAMP,
    last_sync_status VARCHAR(20) CHECK (last_sync_status IN ('success', 'failed', 'running', 'pending')),
    next_sync_at     TIMESTAMP,
    status           VARCHAR(20) DEFAULT 'active' CHECK (status IN ('active', 'paused', 'migrating', 'stopped')),
    created_at       TIMESTAMP DEFAULT NOW(),
    updated_at       TIMESTAMP DEFAULT NOW(),
    config           JSONB DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS sync_metadata.leader_election (
    cluster_name    VARCHAR(100) PRIMARY KEY,
    leader_id       VARCHAR(100) NOT NULL,
    leader_host_id  UUID REFERENCES sync_metadata.hosts (host_id) ON DELETE CASCADE,
    acquired_at     TIMESTAMP NOT NULL DEFAULT NOW(),
    expires_at      TIMESTAMP NOT NULL,
    heartbeat_count INTEGER DEFAULT 0,
    CHECK (expires_at > acquired_at)
);

CREATE TABLE IF NOT EXISTS sync_metadata.conflict_log (
    log_id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    deployment_id       UUID REFERENCES sync_metadata.client_deployments (deployment_id) ON DELETE CASCADE,
    client_name         VARCHAR(100),
    table_name          VARCHAR(100) NOT NULL,
    record_id           TEXT,
    conflict_type       VARCHAR(50) NOT NULL
                        CHECK (conflict_type IN ('update_conflict', 'delete_conflict', 'constraint_violation', 'type_mismatch', 'custom')),
    source_data         JSONB,
    target_data         JSONB,
    resolved_data       JSONB,
    resolution_strategy VARCHAR(50) CHECK (resolution_strategy IN ('newest_wins', 'source_wins', 'target_wins', 'merge', 'manual')),
    detected_at         TIMESTAMP DEFAULT NOW(),
    resolved_at         TIMESTAMP,
    resolved_by         VARCHAR(100),
    resolution_notes    TEXT,
    sync_job_id         UUID
);

CREATE TABLE IF NOT EXISTS sync_metadata.cache_events (
    event_id     UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    host_id      UUID REFERENCES sync_metadata.hosts (host_id) ON DELETE CASCADE,
    cache_key    VARCHAR(255) NOT NULL,
    action       VARCHAR(20) NOT NULL CHECK (action IN ('invalidate', 'refresh', 'delete')),
    created_at   TIMESTAMP DEFAULT NOW(),
    processed_at TIMESTAMP,
    processed_by VARCHAR(100)
);

CREATE TABLE IF NOT EXISTS sync_metadata.sync_jobs (
    job_id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    deployment_id      UUID REFERENCES sync_metadata.client_deployments (deployment_id) ON DELETE CASCADE,
    client_name        VARCHAR(100) NOT NULL,
    started_at         TIMESTAMP DEFAULT NOW(),
    completed_at       TIMESTAMP,
    status             VARCHAR(20) DEFAULT 'running' CHECK (status IN ('running', 'success', 'failed', 'cancelled')),
    tables_synced      INTEGER DEFAULT 0,
    tables_total       INTEGER DEFAULT 0,
    rows_synced        BIGINT DEFAULT 0,
    rows_failed        BIGINT DEFAULT 0,
    duration_seconds   NUMERIC(10, 2),
    bytes_transferred  BIGINT DEFAULT 0,
    error_message      TEXT,
    error_details      JSONB,
    conflicts_detected INTEGER DEFAULT 0,
    conflicts_resolved INTEGER DEFAULT 0,
    triggered_by       VARCHAR(100),
    sync_type          VARCHAR(20) CHECK (sync_type IN ('full', 'incremental', 'manual')),
    metadata           JSONB DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS sync_metadata.sync_progress (
    progress_id    UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id         UUID REFERENCES sync_metadata.sync_jobs (job_id) ON DELETE CASCADE,
    table_name     VARCHAR(100) NOT NULL,
    rows_total     BIGINT DEFAULT 0,
    rows_processed BIGINT DEFAULT 0,
    rows_failed    BIGINT DEFAULT 0,
    started_at     TIMESTAMP DEFAULT NOW(),
    updated_at     TIMESTAMP DEFAULT NOW(),
    completed_at   TIMESTAMP,
    status         VARCHAR(20) DEFAULT 'running',
    error_message  TEXT,
    UNIQUE (job_id, table_name)
);

-- The legacy trigger: completed_at and duration_seconds are filled when a job leaves 'running'.
CREATE OR REPLACE FUNCTION sync_metadata.finish_sync_job() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sync_metadata AS $$
BEGIN
    IF NEW.status <> 'running' AND OLD.status = 'running' THEN
        NEW.completed_at := COALESCE(NEW.completed_at, NOW());
        NEW.duration_seconds := EXTRACT(EPOCH FROM (NEW.completed_at - NEW.started_at));
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS trg_finish_sync_job ON sync_metadata.sync_jobs;
CREATE TRIGGER trg_finish_sync_job BEFORE UPDATE ON sync_metadata.sync_jobs
    FOR EACH ROW EXECUTE FUNCTION sync_metadata.finish_sync_job();

CREATE INDEX IF NOT EXISTS idx_sync_jobs_deployment_started ON sync_metadata.sync_jobs (deployment_id, started_at DESC);
CREATE INDEX IF NOT EXISTS idx_conflicts_client ON sync_metadata.conflict_log (client_name, detected_at DESC);
CREATE INDEX IF NOT EXISTS idx_cache_events_unprocessed ON sync_metadata.cache_events (host_id, processed_at) WHERE processed_at IS NULL;
