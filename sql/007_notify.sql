-- Notifications (docs/conflicts.md "Conflicts: notify"): a conflict that waits for review, on a table whose configuration says
-- "notify": true, is posted once to the webhook (OWUI_SYNC_NOTIFY_URL). notified_at records the post that was
-- answered with 2xx; notify_attempts counts the rounds that failed, so a broken webhook is not hammered forever.
ALTER TABLE sync_metadata.conflict_log
    ADD COLUMN IF NOT EXISTS notified_at     TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS notify_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS conflict_log_to_notify ON sync_metadata.conflict_log (detected_at)
    WHERE resolved_at IS NULL AND notified_at IS NULL;
