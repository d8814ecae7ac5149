-- Row level security at fleet size (docs/fleet.md). The policies compared each row with
-- `host_id = ANY (sync_metadata.my_host_ids())`: a SECURITY DEFINER function is never inlined, so PostgreSQL
-- called it once per row, and every statement of a host role on client_deployments (and, through the
-- deployment policies, on sync_jobs and the rest) read every deployment of the fleet and looked the role up once
-- for each: 4,000 deployments (200 hosts) cost 340 ms of CPU per statement, a PK lookup included. Wrapped in a
-- scalar subquery (cast, so that ANY reads it as one array, not as a subquery's rows) the call is an InitPlan,
-- evaluated once per statement, and the index on host_id answers it.
CREATE INDEX IF NOT EXISTS client_deployments_host ON sync_metadata.client_deployments (host_id);
CREATE INDEX IF NOT EXISTS hosts_cluster ON sync_metadata.hosts (cluster_name);

DROP POLICY IF EXISTS own_host ON sync_metadata.hosts;
CREATE POLICY own_host ON sync_metadata.hosts TO sync_service
    USING (host_id = ANY ((SELECT sync_metadata.my_host_ids())::uuid[]))
    WITH CHECK (host_id = ANY ((SELECT sync_metadata.my_host_ids())::uuid[]));
DROP POLICY IF EXISTS own_host ON sync_metadata.client_deployments;
CREATE POLICY own_host ON sync_metadata.client_deployments TO sync_service
    USING (host_id = ANY ((SELECT sync_metadata.my_host_ids())::uuid[]))
    WITH CHECK (host_id = ANY ((SELECT sync_metadata.my_host_ids())::uuid[]));
DROP POLICY IF EXISTS own_cluster ON sync_metadata.leader_election;
CREATE POLICY own_cluster ON sync_metadata.leader_election TO sync_service
    USING (cluster_name::text = ANY ((SELECT sync_metadata.my_cluster_names())::text[]))
    WITH CHECK (cluster_name::text = ANY ((SELECT sync_metadata.my_cluster_names())::text[]));
DROP POLICY IF EXISTS own_host ON sync_metadata.cache_events;
CREATE POLICY own_host ON sync_metadata.cache_events TO sync_service
    USING (host_id = ANY ((SELECT sync_metadata.my_host_ids())::uuid[]))
    WITH CHECK (host_id = ANY ((SELECT sync_metadata.my_host_ids())::uuid[]));
