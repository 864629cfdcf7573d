-- Migration 7: compress the large jsonb columns with lz4 (issue 17, "less per task").
--
-- A codegen or fix hand-off stores the game's files in its code artifacts and its inline
-- partialResult event, and the finished job its v1 response: values of 10-60 KB that
-- PostgreSQL compresses on the way in. With the default method (pglz) that compression
-- was 2-4 % of PostgreSQL's CPU in `make bench`'s throughput run; lz4 compresses several
-- times faster at a similar ratio. Only new values use it (existing rows keep theirs, and
-- both are read transparently), and nothing is rewritten: the change is instant.
--
-- lz4 is optional at build time (--with-lz4; the Debian, Ubuntu and Supabase builds have
-- it). A server without it keeps pglz: the migration then changes nothing.
DO $$
BEGIN
  ALTER TABLE engine_v2.job_task_events ALTER COLUMN data SET COMPRESSION lz4;
  ALTER TABLE engine_v2.job_task_artifacts ALTER COLUMN content SET COMPRESSION lz4;
  ALTER TABLE engine_v2.job_tasks ALTER COLUMN input SET COMPRESSION lz4,
                                  ALTER COLUMN output SET COMPRESSION lz4;
  ALTER TABLE engine_v2.job_runs ALTER COLUMN result SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'lz4 is not supported by this server: jsonb columns keep pglz';
END;
$$;
