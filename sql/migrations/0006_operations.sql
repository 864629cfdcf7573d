-- Migration 6: operations (issue 16): the fleet-wide kill switch, the daemon registry and
-- the indexes retention needs. Tables, columns and indexes only; the functions that use
-- them live in sql/functions/60_operations.sql.

-- The fleet-wide kill switch (one row). v2 runs only when this row says enabled AND the
-- daemon's own ENGINE_V2_ENABLED is true (design 4 keeps the environment flag).
-- `enginev2d disable` / `enable` change it through engine_v2.set_engine_switch(), which
-- sends NOTIFY engine_v2_control so every daemon reacts within a round trip.
CREATE TABLE engine_v2.engine_switch (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  enabled boolean NOT NULL DEFAULT true,
  reason text,
  changed_by text,
  changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO engine_v2.engine_switch (id) VALUES (true);

-- One row per daemon process: written at start, on every heartbeat, at stop.
-- `enginev2d status` (no job) lists them with their flags and leases.
CREATE TABLE engine_v2.daemons (
  daemon_id text PRIMARY KEY,
  hostname text NOT NULL,
  pid int NOT NULL,
  version text NOT NULL,
  env_enabled boolean NOT NULL,       -- ENGINE_V2_ENABLED / engine.enabled of the process
  claiming boolean NOT NULL,          -- env flag and fleet switch both on, at the last beat
  running_jobs int NOT NULL DEFAULT 0,
  max_jobs int NOT NULL,
  beat_s float8 NOT NULL,             -- its heartbeat period: silent for 3 beats = gone
  started_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  stopped_at timestamptz
);
CREATE INDEX idx_daemons_last_seen ON engine_v2.daemons(last_seen_at);

-- Operator tables: no client role reads them (RLS on, no policy).
ALTER TABLE engine_v2.engine_switch ENABLE ROW LEVEL SECURITY;
ALTER TABLE engine_v2.daemons ENABLE ROW LEVEL SECURITY;

-- Retention (`enginev2d prune`): a finished run whose events, attempts, artifacts and
-- tasks were deleted keeps its job_runs row (the SLO history) with pruned_at set.
ALTER TABLE engine_v2.job_runs ADD COLUMN pruned_at timestamptz;
-- The runs a prune batch takes, oldest first; pruned and running runs are not in it.
CREATE INDEX idx_job_runs_prunable
  ON engine_v2.job_runs(finished_at)
  WHERE pruned_at IS NULL AND status <> 'running';
-- ON DELETE CASCADE from job_tasks looks these up per deleted task: without an index
-- every task deleted would scan the whole event and artifact tables.
CREATE INDEX idx_events_task ON engine_v2.job_task_events(task_id);
CREATE INDEX idx_artifacts_task ON engine_v2.job_task_artifacts(task_id);
