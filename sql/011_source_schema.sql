-- Restore (docs/restore.md): the tenant's own schema, kept beside its mirror. A run that reads the tenant records
-- the schema it found (every sqlite_master entry with its DDL, in file order; alembic_version, user_version, the
-- journal mode) when it differs from the one recorded last: nothing is written while the schema stays the same.
-- Each distinct schema is kept (an Open WebUI upgrade adds one), so a restore rebuilds the file as it was at the
-- last sync, and says which schema revision that is.
CREATE TABLE IF NOT EXISTS sync_metadata.source_schemas (
    deployment_id   UUID        NOT NULL REFERENCES sync_metadata.client_deployments (deployment_id) ON DELETE CASCADE,
    schema_hash     TEXT        NOT NULL,
    captured_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    alembic_version TEXT,
    user_version    BIGINT      NOT NULL DEFAULT 0,
    journal_mode    TEXT        NOT NULL,
    objects         JSONB       NOT NULL,
    PRIMARY KEY (deployment_id, schema_hash)
);
ALTER TABLE sync_metadata.client_deployments ADD COLUMN IF NOT EXISTS source_schema_hash TEXT;

GRANT SELECT, INSERT, UPDATE ON sync_metadata.source_schemas TO sync_service;
ALTER TABLE sync_metadata.source_schemas ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS own_deployments ON sync_metadata.source_schemas;
CREATE POLICY own_deployments ON sync_metadata.source_schemas TO sync_service
    USING (deployment_id IN (SELECT deployment_id FROM sync_metadata.client_deployments))
    WITH CHECK (deployment_id IN (SELECT deployment_id FROM sync_metadata.client_deployments));
