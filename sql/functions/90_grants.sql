-- The host server's three entry points, for role engine_v2_server (migration 0005).
--
-- Last in name order, and re-applied whenever an earlier function file is (see
-- enginev2d/migrations.py): a changed function file may DROP and re-create a function,
-- which loses its grants, and CREATE OR REPLACE resets SECURITY DEFINER.
--
-- SECURITY DEFINER: the three run as their owner (the role that ran `migrate`, the
-- daemon's), so the server needs no write privilege on any engine_v2 table and no
-- EXECUTE on the internal functions they call; everything inside is schema-qualified and
-- search_path is pinned so nothing can be shadowed.

ALTER FUNCTION engine_v2.submit_job(uuid, uuid, text, text, jsonb)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION engine_v2.cancel_job(uuid, text)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION engine_v2.log_fallback(uuid, text, jsonb)
  SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION engine_v2.submit_job(uuid, uuid, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.cancel_job(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.log_fallback(uuid, text, jsonb) FROM PUBLIC;
-- The updated_at trigger function of migration 0001 (a trigger never needs its EXECUTE).
REVOKE ALL ON FUNCTION engine_v2.set_updated_at() FROM PUBLIC;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'engine_v2_server') THEN
    GRANT EXECUTE ON FUNCTION engine_v2.submit_job(uuid, uuid, text, text, jsonb)
      TO engine_v2_server;
    GRANT EXECUTE ON FUNCTION engine_v2.cancel_job(uuid, text) TO engine_v2_server;
    GRANT EXECUTE ON FUNCTION engine_v2.log_fallback(uuid, text, jsonb) TO engine_v2_server;
  END IF;
END;
$$;
