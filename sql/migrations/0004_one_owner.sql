-- Migration 4: one owner per job (tables and columns only; the functions that use them
-- live in sql/functions/, re-applied by `migrate` whenever their text changes).

-- Takeovers a task survived: a lost attempt does not use up max_attempts, this bound
-- (daemon.max_takeovers) stops a crash loop instead.
ALTER TABLE engine_v2.job_tasks
  ADD COLUMN takeovers int NOT NULL DEFAULT 0;

-- The publish intent: the staged commit publish_prep is about to swap into production,
-- recorded (and committed) before the swap under the job's publish lock. While it is set
-- and the run is still running, production may already hold the commit: only a look at
-- production (a takeover) decides, never a cancel or a failure.
-- cancel_pending: a cancel that arrived while the publish was in doubt (its reason); the
-- takeover applies it when production does not hold the commit.
ALTER TABLE engine_v2.job_runs
  ADD COLUMN publish_commit text,
  ADD COLUMN cancel_pending text;

-- Fallbacks the host server decided itself (engine_v2.log_fallback): its own output
-- validation said no, its deadline passed, submit failed. No foreign key: a failed
-- submit may have no run, and the SLO counts these jobs too.
CREATE TABLE engine_v2.server_fallbacks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id uuid NOT NULL,
  error_code text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_server_fallbacks_job ON engine_v2.server_fallbacks(job_id);
CREATE INDEX idx_server_fallbacks_created ON engine_v2.server_fallbacks(created_at);

ALTER TABLE engine_v2.server_fallbacks ENABLE ROW LEVEL SECURITY;
CREATE POLICY "owner_select" ON engine_v2.server_fallbacks FOR SELECT USING (
  EXISTS (
    SELECT 1 FROM public.jobs
     WHERE jobs.id = server_fallbacks.job_id AND jobs.user_id = auth.uid()
  )
);

-- Supabase's client roles read it like the other tables (RLS limits them to their jobs).
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['authenticated', 'anon'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('GRANT SELECT ON engine_v2.server_fallbacks TO %I', r);
    END IF;
  END LOOP;
END;
$$;
