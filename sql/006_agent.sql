-- The agent (docs/agent.md): sync_jobs becomes a work queue as well as the job history, the lease row
-- names where the leader answers, and cache_events get an order a node can resume from.

-- Queue columns. A job the agent queues starts 'pending'; legacy and command-line runs never are.
ALTER TABLE sync_metadata.sync_jobs
    ADD COLUMN IF NOT EXISTS queued_at    TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS available_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS locked_by    VARCHAR(100),
    ADD COLUMN IF NOT EXISTS locked_until TIMESTAMPTZ,
    -- Grows at every claim: the claim a node holds is its fencing token for the job.
    ADD COLUMN IF NOT EXISTS claims       INTEGER NOT NULL DEFAULT 0,
    -- The cluster's leader term the job was claimed under: a batch lands only while that term is current.
    ADD COLUMN IF NOT EXISTS term         BIGINT,
    ADD COLUMN IF NOT EXISTS full_sync    BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE sync_metadata.sync_jobs DROP CONSTRAINT IF EXISTS sync_jobs_status_check;
ALTER TABLE sync_metadata.sync_jobs ADD CONSTRAINT sync_jobs_status_check
    CHECK (status IN ('pending', 'running', 'success', 'failed', 'cancelled'));

-- At most one active queued job per deployment (legacy rows, without queued_at, are not counted).
CREATE UNIQUE INDEX IF NOT EXISTS sync_jobs_one_active
    ON sync_metadata.sync_jobs (deployment_id) WHERE queued_at IS NOT NULL AND status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS sync_jobs_queue
    ON sync_metadata.sync_jobs (queued_at) WHERE queued_at IS NOT NULL AND status IN ('pending', 'running');

-- Where the leader's API answers, so a follower can forward to it; and which process of that node holds
-- the lease (a restarted node, or two started with the same node id by mistake, is not the holder).
ALTER TABLE sync_metadata.leader_election
    ADD COLUMN IF NOT EXISTS leader_url      TEXT,
    ADD COLUMN IF NOT EXISTS leader_instance TEXT;

-- cache_events: a node resumes after the last sequence number it processed; origin is the node that wrote it.
ALTER TABLE sync_metadata.cache_events
    ADD COLUMN IF NOT EXISTS seq         BIGSERIAL,
    ADD COLUMN IF NOT EXISTS origin_node VARCHAR(100);
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA sync_metadata TO sync_service;
CREATE INDEX IF NOT EXISTS cache_events_seq ON sync_metadata.cache_events (seq);

-- Job history retention must never remove a queued job that has not run yet.
CREATE OR REPLACE FUNCTION sync_metadata.purge_job_history(retention_days integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sync_metadata AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM sync_metadata.sync_jobs j
    WHERE j.status NOT IN ('running', 'pending')
      AND coalesce(j.completed_at, j.started_at) < now() - make_interval(days => greatest(retention_days, 1))
      AND j.deployment_id IN (SELECT d.deployment_id FROM sync_metadata.client_deployments d
                              WHERE d.host_id = ANY (sync_metadata.my_host_ids()));
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM sync_metadata.rejected_rows r
    WHERE r.resolved_at < now() - make_interval(days => greatest(retention_days, 1))
      AND r.deployment_id IN (SELECT d.deployment_id FROM sync_metadata.client_deployments d
                              WHERE d.host_id = ANY (sync_metadata.my_host_ids()));
    DELETE FROM sync_metadata.cache_events e
    WHERE coalesce(e.processed_at, e.created_at) < now() - make_interval(days => greatest(retention_days, 1))
      AND e.host_id = ANY (sync_metadata.my_host_ids());
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION sync_metadata.purge_job_history(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sync_metadata.purge_job_history(integer) TO sync_service;

-- The legacy trigger closes a job when it leaves 'running'; a queued job handed back (running -> pending)
-- is not finished, so only the end states close it.
CREATE OR REPLACE FUNCTION sync_metadata.finish_sync_job() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sync_metadata AS $$
BEGIN
    IF NEW.status IN ('success', 'failed', 'cancelled') AND OLD.status IN ('running', 'pending') THEN
        NEW.completed_at := COALESCE(NEW.completed_at, NOW());
        NEW.duration_seconds := EXTRACT(EPOCH FROM (NEW.completed_at - NEW.started_at));
    END IF;
    RETURN NEW;
END $$;
