-- A sync asked for while a queued run of the same client is already running (the API's trigger, the menu's
-- "Sync now"): that run read the tenant before the request, so it cannot cover it. The request waits as a job of
-- its own, status 'waiting' (at most one per deployment: later requests join it), and becomes 'pending' in the
-- same transaction that ends the running job, whichever way it ends (finished, failed, cancelled, abandoned,
-- deleted). A pending job has not read anything yet, so a request joins it instead.
ALTER TABLE sync_metadata.sync_jobs DROP CONSTRAINT IF EXISTS sync_jobs_status_check;
ALTER TABLE sync_metadata.sync_jobs ADD CONSTRAINT sync_jobs_status_check
    CHECK (status IN ('waiting', 'pending', 'running', 'success', 'failed', 'cancelled'));
CREATE UNIQUE INDEX IF NOT EXISTS sync_jobs_one_waiting ON sync_metadata.sync_jobs (deployment_id)
    WHERE status = 'waiting';

CREATE OR REPLACE FUNCTION sync_metadata.start_waiting_job() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    promoted sync_metadata.sync_jobs.deployment_id%TYPE;
    cluster  TEXT;
BEGIN
    UPDATE sync_metadata.sync_jobs SET status = 'pending', available_at = now()
    WHERE deployment_id = OLD.deployment_id AND status = 'waiting'
    RETURNING deployment_id INTO promoted;
    IF promoted IS NOT NULL THEN
        SELECT h.cluster_name INTO cluster
        FROM sync_metadata.client_deployments d JOIN sync_metadata.hosts h ON h.host_id = d.host_id
        WHERE d.deployment_id = promoted;
        -- The agents' job channel of the cluster (src/cluster/channels.ts).
        IF cluster IS NOT NULL THEN
            PERFORM pg_notify('owui_sync_jobs_' || left(encode(sha256(convert_to(cluster, 'UTF8')), 'hex'), 16), cluster);
        END IF;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS start_waiting_job ON sync_metadata.sync_jobs;
CREATE TRIGGER start_waiting_job AFTER UPDATE OF status ON sync_metadata.sync_jobs
    FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status NOT IN ('pending', 'running') AND OLD.queued_at IS NOT NULL)
    EXECUTE FUNCTION sync_metadata.start_waiting_job();
DROP TRIGGER IF EXISTS start_waiting_job_deleted ON sync_metadata.sync_jobs;
CREATE TRIGGER start_waiting_job_deleted AFTER DELETE ON sync_metadata.sync_jobs
    FOR EACH ROW WHEN (OLD.status IN ('pending', 'running') AND OLD.queued_at IS NOT NULL)
    EXECUTE FUNCTION sync_metadata.start_waiting_job();

-- Job history retention keeps a waiting job, as it keeps a pending one (sql/006_agent.sql).
CREATE OR REPLACE FUNCTION sync_metadata.purge_job_history(retention_days integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sync_metadata AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM sync_metadata.sync_jobs j
    WHERE j.status NOT IN ('running', 'pending', 'waiting')
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
