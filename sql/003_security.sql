-- Restricted roles and row level security (docs/security.md).
--  * sync_service: NOLOGIN group role with SELECT/INSERT/UPDATE on sync_metadata; never DELETE, TRUNCATE,
--    DROP, CREATE or ALTER. Each host logs in as its own member role sync_service_<host> (provision --host).
--  * Row level security keys on the login role (session_user), looked up in hosts.role_name by a
--    SECURITY DEFINER function: no setting a session can change (SET app.current_host_id ...) matters.
--  * The legacy toolkit's policies keyed on app.* settings are dropped; its LOGIN sync_service becomes a
--    group role.

ALTER TABLE sync_metadata.hosts ADD COLUMN IF NOT EXISTS role_name NAME;
CREATE UNIQUE INDEX IF NOT EXISTS hosts_role_name_key ON sync_metadata.hosts (role_name);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sync_service') THEN
        CREATE ROLE sync_service NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created meanwhile by a provision of another database of this cluster
END $$;
-- Only when needed: roles are shared by every database of the server, and two sessions altering the
-- same role at once fail ("tuple concurrently updated"). A NOLOGIN role's old password cannot be used.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sync_service' AND rolcanlogin) THEN
        ALTER ROLE sync_service NOLOGIN PASSWORD NULL;
    END IF;
END $$;

-- Which hosts (and clusters) the logged-in role belongs to. SECURITY DEFINER so the lookup itself is
-- not filtered by the policies it serves; session_user is the role that logged in, whatever SET ROLE says.
CREATE OR REPLACE FUNCTION sync_metadata.my_host_ids() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, sync_metadata AS $$
    SELECT coalesce(array_agg(host_id), '{}') FROM sync_metadata.hosts WHERE role_name = session_user
$$;
CREATE OR REPLACE FUNCTION sync_metadata.my_cluster_names() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, sync_metadata AS $$
    SELECT coalesce(array_agg(cluster_name::text), '{}') FROM sync_metadata.hosts WHERE role_name = session_user
$$;

-- Retention without DELETE for the host roles: bounded deletes of the caller's own host's history.
CREATE OR REPLACE FUNCTION sync_metadata.purge_conflict_log(retention_days integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sync_metadata AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM sync_metadata.conflict_log c
    WHERE c.detected_at < now() - make_interval(days => greatest(retention_days, 1))
      AND c.deployment_id IN (SELECT d.deployment_id FROM sync_metadata.client_deployments d
                              WHERE d.host_id = ANY (sync_metadata.my_host_ids()));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION sync_metadata.purge_job_history(retention_days integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sync_metadata AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM sync_metadata.sync_jobs j
    WHERE j.status <> 'running'
      AND coalesce(j.completed_at, j.started_at) < now() - make_interval(days => greatest(retention_days, 1))
      AND j.deployment_id IN (SELECT d.deployment_id FROM sync_metadata.client_deployments d
                              WHERE d.host_id = ANY (sync_metadata.my_host_ids()));
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM sync_metadata.rejected_rows r
    WHERE r.resolved_at < now() - make_interval(days => greatest(retention_days, 1))
      AND r.deployment_id IN (SELECT d.deployment_id FROM sync_metadata.client_deployments d
                              WHERE d.host_id = ANY (sync_metadata.my_host_ids()));
    DELETE FROM sync_metadata.cache_events e
    WHERE e.processed_at < now() - make_interval(days => greatest(retention_days, 1))
      AND e.host_id = ANY (sync_metadata.my_host_ids());
    RETURN n;
END $$;

REVOKE ALL ON FUNCTION sync_metadata.my_host_ids(), sync_metadata.my_cluster_names(),
    sync_metadata.purge_conflict_log(integer), sync_metadata.purge_job_history(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sync_metadata.my_host_ids(), sync_metadata.my_cluster_names(),
    sync_metadata.purge_conflict_log(integer), sync_metadata.purge_job_history(integer) TO sync_service;

-- Privileges: start from nothing, then grant exactly what the sync needs.
REVOKE ALL ON ALL TABLES IN SCHEMA sync_metadata FROM sync_service;
REVOKE ALL ON ALL TABLES IN SCHEMA sync_metadata FROM PUBLIC;
GRANT USAGE ON SCHEMA sync_metadata TO sync_service;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA sync_metadata TO sync_service;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA sync_metadata TO sync_service;
REVOKE INSERT, UPDATE ON sync_metadata.schema_migrations FROM sync_service;
-- A host registers and re-keys itself only through provision (the admin); it may report on itself.
REVOKE INSERT, UPDATE ON sync_metadata.hosts FROM sync_service;
GRANT UPDATE (status, last_heartbeat, ip_address, metadata, updated_at) ON sync_metadata.hosts TO sync_service;
-- Deployments are registered by client add (the admin); a host updates its own deployments' state.
REVOKE INSERT ON sync_metadata.client_deployments FROM sync_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA sync_metadata GRANT SELECT, INSERT, UPDATE ON TABLES TO sync_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA sync_metadata GRANT USAGE, SELECT ON SEQUENCES TO sync_service;

-- Policies: drop whatever is there (the legacy ones trust app.* settings), then key on the login role.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT policyname, tablename FROM pg_policies WHERE schemaname = 'sync_metadata' LOOP
        EXECUTE format('DROP POLICY %I ON sync_metadata.%I', r.policyname, r.tablename);
    END LOOP;
END $$;

ALTER TABLE sync_metadata.hosts ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_metadata.client_deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_metadata.leader_election ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_metadata.conflict_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_metadata.cache_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_metadata.sync_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_metadata.sync_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_metadata.table_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_metadata.rejected_rows ENABLE ROW LEVEL SECURITY;

CREATE POLICY own_host ON sync_metadata.hosts TO sync_service
    USING (host_id = ANY (sync_metadata.my_host_ids())) WITH CHECK (host_id = ANY (sync_metadata.my_host_ids()));
CREATE POLICY own_host ON sync_metadata.client_deployments TO sync_service
    USING (host_id = ANY (sync_metadata.my_host_ids())) WITH CHECK (host_id = ANY (sync_metadata.my_host_ids()));
CREATE POLICY own_cluster ON sync_metadata.leader_election TO sync_service
    USING (cluster_name = ANY (sync_metadata.my_cluster_names())) WITH CHECK (cluster_name = ANY (sync_metadata.my_cluster_names()));
CREATE POLICY own_host ON sync_metadata.cache_events TO sync_service
    USING (host_id = ANY (sync_metadata.my_host_ids())) WITH CHECK (host_id = ANY (sync_metadata.my_host_ids()));
-- Rows of a deployment: visible through client_deployments, whose own policy does the filtering.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sync_jobs', 'conflict_log', 'table_checkpoints', 'rejected_rows'] LOOP
        EXECUTE format(
            'CREATE POLICY own_deployments ON sync_metadata.%I TO sync_service
                 USING (deployment_id IN (SELECT deployment_id FROM sync_metadata.client_deployments))
                 WITH CHECK (deployment_id IN (SELECT deployment_id FROM sync_metadata.client_deployments))', t);
    END LOOP;
END $$;
CREATE POLICY own_jobs ON sync_metadata.sync_progress TO sync_service
    USING (job_id IN (SELECT job_id FROM sync_metadata.sync_jobs))
    WITH CHECK (job_id IN (SELECT job_id FROM sync_metadata.sync_jobs));

-- Views run with their owner's rights unless told otherwise: then a host role would see every host.
ALTER VIEW sync_metadata.v_last_completed_sync_jobs SET (security_invoker = true);
ALTER VIEW sync_metadata.v_active_sync_jobs SET (security_invoker = true);
ALTER VIEW sync_metadata.v_recent_conflicts SET (security_invoker = true);
ALTER VIEW sync_metadata.v_cluster_health SET (security_invoker = true);
