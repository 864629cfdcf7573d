-- Migration 5: engine_v2_server, the host (Node) server's role. NOLOGIN: the server's
-- own login role is made a member (GRANT engine_v2_server TO my_server_login).
--
-- What the role may do, and nothing else:
--   * read job_runs, job_task_events and job_task_artifacts (the outcome, the event
--     stream, the files a partialResult or a result names by URI), every row of them;
--   * EXECUTE submit_job, cancel_job and log_fallback: those grants live in the
--     repeatable sql/functions/90_grants.sql, because a function file that changes may
--     drop and re-create its functions (and their grants with them).
--
-- Roles belong to the cluster, not to the database: created only when missing (another
-- database of the cluster may have created it, or an administrator ahead of time when
-- the migrating role may not create roles). The comment marks the role as ours, so
-- `enginev2d uninstall` drops only a role this migration created.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'engine_v2_server') THEN
    BEGIN
      CREATE ROLE engine_v2_server NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN
        NULL;  -- another database's migration created it at the same moment
      WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'migration 0005: role % may not create role engine_v2_server',
          current_user
          USING ERRCODE = '42501',
                HINT = 'as a superuser run: CREATE ROLE engine_v2_server NOLOGIN; '
                       'then run enginev2d migrate again';
    END;
    COMMENT ON ROLE engine_v2_server IS
      'enginev2d: the host server''s role (migration 0005); enginev2d uninstall drops it';
  END IF;
END;
$$;

GRANT USAGE ON SCHEMA engine_v2 TO engine_v2_server;
GRANT SELECT ON engine_v2.job_runs, engine_v2.job_task_events, engine_v2.job_task_artifacts
  TO engine_v2_server;

-- Row-level security is on for these tables (design 3.9: a user sees their own jobs
-- through auth.uid()). The server is not a user: it reads every job it submitted.
CREATE POLICY "server_select" ON engine_v2.job_runs
  FOR SELECT TO engine_v2_server USING (true);
CREATE POLICY "server_select" ON engine_v2.job_task_events
  FOR SELECT TO engine_v2_server USING (true);
CREATE POLICY "server_select" ON engine_v2.job_task_artifacts
  FOR SELECT TO engine_v2_server USING (true);
