-- Migration 9: the runs a daemon holds, in claim order (issue 17, chaos).
--
-- claim_jobs (sql/queries/daemon.sql) takes over at most daemon.takeovers_per_claim
-- runs whose holder's lease expired, in a search of its own: a restarted or lone daemon
-- no longer pulls every job of a dead daemon into itself at once. That search reads only
-- held runs (at most the fleet's running jobs), not the backlog of runs nobody holds yet,
-- which idx_job_runs_claimable would walk first.
CREATE INDEX idx_job_runs_held
  ON engine_v2.job_runs (created_at, job_id)
  WHERE (status = 'running' OR draining) AND owner IS NOT NULL;
