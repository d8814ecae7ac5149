-- Conflict detection (issue: conflicts). A mirror row changed by anyone but the sync carries a marker,
-- _target_changed_at, set by a trigger; the sync marks its own transactions with
-- SET LOCAL owui_sync.writer = 'sync' and decides the marker itself. The marker is for detection, not a
-- security boundary: whoever may write the mirror could set the setting too.
CREATE OR REPLACE FUNCTION sync_metadata.mark_target_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF current_setting('owui_sync.writer', true) IS DISTINCT FROM 'sync' THEN
        NEW._target_changed_at := clock_timestamp();
    END IF;
    RETURN NEW;
END $$;

-- Snapshots of rows whose JSON jsonb cannot hold (\u0000, lone surrogates) are kept as a JSON string.
CREATE OR REPLACE FUNCTION sync_metadata.safe_jsonb(j json) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN j::jsonb;
EXCEPTION WHEN others THEN
    RETURN to_jsonb(j::text);
END $$;

ALTER TABLE sync_metadata.conflict_log
    ADD COLUMN IF NOT EXISTS source_hash TEXT,
    ADD COLUMN IF NOT EXISTS winner TEXT CHECK (winner IN ('source', 'target', 'merged'));
ALTER TABLE sync_metadata.conflict_log DROP CONSTRAINT IF EXISTS conflict_log_conflict_type_check;
ALTER TABLE sync_metadata.conflict_log ADD CONSTRAINT conflict_log_conflict_type_check
    CHECK (conflict_type IN ('update_conflict', 'delete_conflict', 'insert_exists', 'constraint_violation', 'type_mismatch', 'custom'));
-- A conflict is logged once per source version of a row: a kept target does not log again every run.
CREATE UNIQUE INDEX IF NOT EXISTS conflict_log_once ON sync_metadata.conflict_log (deployment_id, table_name, record_id, source_hash)
    WHERE source_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS conflict_log_pending ON sync_metadata.conflict_log (deployment_id, detected_at) WHERE resolved_at IS NULL;
GRANT EXECUTE ON FUNCTION sync_metadata.safe_jsonb(json) TO sync_service;
