-- A fleet on one database (docs: "A fleet on one PostgreSQL"): what a run, the scheduler and the menu read of a
-- deployment's history costs the same with 100 jobs or 100,000. Each per-run and per-screen query has an index
-- that answers it without a sequential scan (test/fleet-history.test.ts checks the plans), and the facts a run
-- needs of the runs before it are kept on the deployment's own row, which every run reads anyway.

-- A deployment's active jobs: markAbandoned (still marked running), the cluster status's counts.
CREATE INDEX IF NOT EXISTS sync_jobs_active ON sync_metadata.sync_jobs (deployment_id) WHERE status IN ('pending', 'running');
-- The cluster status's jobs finished within the last hour, per deployment.
CREATE INDEX IF NOT EXISTS sync_jobs_deployment_completed ON sync_metadata.sync_jobs (deployment_id, completed_at);
-- The rows a run tries again first: the unresolved ones of its deployment.
CREATE INDEX IF NOT EXISTS rejected_rows_unresolved ON sync_metadata.rejected_rows (deployment_id) WHERE resolved_at IS NULL;
-- The conflict log's retention (purge_conflict_log, hourly).
CREATE INDEX IF NOT EXISTS conflict_log_detected ON sync_metadata.conflict_log (detected_at);

-- The last run of the deployment as its next run needs it: kind, job, status, when it started (an interrupted full
-- or reconciliation pass is finished by the next run), written when a run starts and when it ends; the tables the
-- last successful run skipped (an unchanged run reports them again); when the conflict log was last purged.
ALTER TABLE sync_metadata.client_deployments
    ADD COLUMN IF NOT EXISTS last_run            JSONB,
    ADD COLUMN IF NOT EXISTS last_skipped_tables JSONB,
    ADD COLUMN IF NOT EXISTS conflicts_purged_at TIMESTAMPTZ;

-- Existing deployments: the same facts, read once from their history.
UPDATE sync_metadata.client_deployments d SET last_run = j.fact
FROM (
    SELECT DISTINCT ON (deployment_id) deployment_id,
           jsonb_build_object('job_id', job_id, 'kind', metadata->>'kind', 'status', status, 'started_at', started_at) AS fact
    FROM sync_metadata.sync_jobs WHERE status <> 'pending'
    ORDER BY deployment_id, started_at DESC NULLS LAST
) j
WHERE j.deployment_id = d.deployment_id AND d.last_run IS NULL;
UPDATE sync_metadata.client_deployments d SET last_skipped_tables = j.skipped
FROM (
    SELECT DISTINCT ON (deployment_id) deployment_id, metadata->'skipped_tables' AS skipped
    FROM sync_metadata.sync_jobs WHERE status = 'success' AND metadata ? 'skipped_tables'
    ORDER BY deployment_id, completed_at DESC NULLS LAST
) j
WHERE j.deployment_id = d.deployment_id AND d.last_skipped_tables IS NULL;

-- A job's progress rows are the host's when their job is. As `job_id IN (SELECT job_id FROM sync_jobs)` the
-- policy was planned as a hashed subplan: every statement of a batch on sync_progress read every job of the
-- host first (100,000 jobs: a sequential scan per batch). Correlated, it is one index probe per row.
DROP POLICY IF EXISTS own_jobs ON sync_metadata.sync_progress;
CREATE POLICY own_jobs ON sync_metadata.sync_progress TO sync_service
    USING (EXISTS (SELECT 1 FROM sync_metadata.sync_jobs j WHERE j.job_id = sync_progress.job_id))
    WITH CHECK (EXISTS (SELECT 1 FROM sync_metadata.sync_jobs j WHERE j.job_id = sync_progress.job_id));
