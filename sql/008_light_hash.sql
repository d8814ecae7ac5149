-- The light pass (docs/how-a-sync-works.md): every run compares each table's keys and light columns with the
-- mirror, through a light hash kept beside the full one. New mirror tables get the column from `schema apply`;
-- this adds it to the mirror tables made before, in every registered client's schema. Nullable: a row gets its
-- light hash the next time a run reads it (the first light pass after the upgrade reads each row of the tables
-- with large columns once).
-- per-client: sync_metadata.migrate_008_light_hash
-- One client's schema a transaction (src/pg/migrate.ts): at fleet size, thousands of schemas.
CREATE OR REPLACE FUNCTION sync_metadata.migrate_008_light_hash(schema_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.relname AS table_name
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = '_sync_hash' AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'p') AND n.nspname = schema_name
    LOOP
        EXECUTE format('ALTER TABLE %I.%I ADD COLUMN IF NOT EXISTS _sync_light text', schema_name, r.table_name);
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION sync_metadata.migrate_008_light_hash(text) FROM PUBLIC;
