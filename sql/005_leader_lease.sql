-- Leader election on a lease row timed by the database clock, with a fencing term that grows at every
-- takeover (docs/agent.md "Leader election and fencing"). leader_election keeps the legacy columns.
ALTER TABLE sync_metadata.leader_election
    ADD COLUMN IF NOT EXISTS term BIGINT NOT NULL DEFAULT 0;
