-- Migration 1: the design's section 3, as frozen.
--
-- One deliberate deviation: pgcrypto is created WITH SCHEMA engine_v2 and after the
-- schema. Created without a schema it would put its functions into public, and
-- `DROP SCHEMA engine_v2 CASCADE` would then leave traces there (design 16 step 4).
-- Where pgcrypto already exists (Supabase keeps it in `extensions`) nothing happens;
-- gen_random_uuid() is built into PostgreSQL >= 13 either way.

-- Schema creation
CREATE SCHEMA IF NOT EXISTS engine_v2;

-- Prerequisite extensions
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA engine_v2;

-- Auto-update trigger function
CREATE OR REPLACE FUNCTION engine_v2.set_updated_at()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- 3.2 job_runs (v2 job tracking)
CREATE TABLE engine_v2.job_runs (
  job_id uuid PRIMARY KEY REFERENCES public.jobs(id) ON DELETE CASCADE,
  engine_version text NOT NULL DEFAULT 'v2',
  scheduler_version text,
  status text NOT NULL DEFAULT 'running'
    CHECK (status IN ('running','succeeded','failed','canceled')),
  fallback_triggered boolean DEFAULT false,
  error_code text,
  created_at timestamptz DEFAULT now(),
  finished_at timestamptz
);

-- 3.3 job_tasks (core)
CREATE TABLE engine_v2.job_tasks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id uuid NOT NULL REFERENCES public.jobs(id) ON DELETE CASCADE,
  task_key text NOT NULL,
  agent_role text NOT NULL,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending','ready','running','succeeded',
                      'failed','blocked','canceled','skipped')),
  input jsonb DEFAULT '{}',
  output jsonb DEFAULT '{}',
  progress int DEFAULT 0,
  attempt_count int DEFAULT 0,
  max_attempts int DEFAULT 2,
  display_label text,
  weight int DEFAULT 1,
  template_id text,
  error_code text,
  error_message text,
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  UNIQUE(job_id, task_key)
);

CREATE TRIGGER trg_job_tasks_updated_at
  BEFORE UPDATE ON engine_v2.job_tasks
  FOR EACH ROW EXECUTE FUNCTION engine_v2.set_updated_at();

-- 3.4 job_task_dependencies (DAG edges)
CREATE TABLE engine_v2.job_task_dependencies (
  predecessor_task_id uuid NOT NULL
    REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE,
  successor_task_id uuid NOT NULL
    REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE,
  PRIMARY KEY (predecessor_task_id, successor_task_id),
  CHECK (predecessor_task_id <> successor_task_id)
);

-- 3.5 job_task_attempts (execution history)
CREATE TABLE engine_v2.job_task_attempts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  task_id uuid NOT NULL
    REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE,
  attempt_no int NOT NULL DEFAULT 1,
  status text NOT NULL
    CHECK (status IN ('running','succeeded','failed','canceled')),
  tokens_in int,
  tokens_out int,
  latency_ms int,
  cost_usd numeric(10,4),
  error jsonb,
  started_at timestamptz DEFAULT now(),
  ended_at timestamptz,
  created_at timestamptz DEFAULT now(),
  UNIQUE(task_id, attempt_no)
);

-- 3.6 job_task_artifacts (intermediate outputs)
CREATE TABLE engine_v2.job_task_artifacts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id uuid NOT NULL REFERENCES public.jobs(id) ON DELETE CASCADE,
  task_id uuid NOT NULL
    REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE,
  kind text NOT NULL,
  uri text,
  content jsonb,
  metadata jsonb DEFAULT '{}',
  created_at timestamptz DEFAULT now()
);

-- 3.7 job_task_events (immutable event log)
CREATE TABLE engine_v2.job_task_events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id uuid NOT NULL REFERENCES public.jobs(id) ON DELETE CASCADE,
  task_id uuid REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE,
  event_type text NOT NULL,
  data jsonb DEFAULT '{}',
  created_at timestamptz DEFAULT now()
);

-- 3.8 Indexes
CREATE INDEX idx_job_tasks_status
  ON engine_v2.job_tasks(job_id, status, created_at);
CREATE INDEX idx_job_tasks_ready
  ON engine_v2.job_tasks(status, created_at)
  WHERE status IN ('ready', 'running');
CREATE INDEX idx_deps_successor
  ON engine_v2.job_task_dependencies(successor_task_id);
CREATE INDEX idx_artifacts_job
  ON engine_v2.job_task_artifacts(job_id, kind);
CREATE INDEX idx_events_job
  ON engine_v2.job_task_events(job_id, created_at);

-- 3.9 RLS: owner SELECT only (job_id -> jobs.user_id = auth.uid()); writes use the
-- service role, which RLS does not restrict.
ALTER TABLE engine_v2.job_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "owner_select" ON engine_v2.job_runs FOR SELECT USING (
  EXISTS (
    SELECT 1 FROM public.jobs
    WHERE jobs.id = job_runs.job_id AND jobs.user_id = auth.uid()
  )
);

ALTER TABLE engine_v2.job_tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY "owner_select" ON engine_v2.job_tasks FOR SELECT USING (
  EXISTS (
    SELECT 1 FROM public.jobs
    WHERE jobs.id = job_tasks.job_id AND jobs.user_id = auth.uid()
  )
);

-- No job_id of its own: visible through the successor task's job.
ALTER TABLE engine_v2.job_task_dependencies ENABLE ROW LEVEL SECURITY;
CREATE POLICY "owner_select" ON engine_v2.job_task_dependencies FOR SELECT USING (
  EXISTS (
    SELECT 1 FROM engine_v2.job_tasks t
    JOIN public.jobs ON jobs.id = t.job_id
    WHERE t.id = job_task_dependencies.successor_task_id AND jobs.user_id = auth.uid()
  )
);

-- No job_id of its own: visible through its task's job.
ALTER TABLE engine_v2.job_task_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY "owner_select" ON engine_v2.job_task_attempts FOR SELECT USING (
  EXISTS (
    SELECT 1 FROM engine_v2.job_tasks t
    JOIN public.jobs ON jobs.id = t.job_id
    WHERE t.id = job_task_attempts.task_id AND jobs.user_id = auth.uid()
  )
);

ALTER TABLE engine_v2.job_task_artifacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY "owner_select" ON engine_v2.job_task_artifacts FOR SELECT USING (
  EXISTS (
    SELECT 1 FROM public.jobs
    WHERE jobs.id = job_task_artifacts.job_id AND jobs.user_id = auth.uid()
  )
);

ALTER TABLE engine_v2.job_task_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY "owner_select" ON engine_v2.job_task_events FOR SELECT USING (
  EXISTS (
    SELECT 1 FROM public.jobs
    WHERE jobs.id = job_task_events.job_id AND jobs.user_id = auth.uid()
  )
);
