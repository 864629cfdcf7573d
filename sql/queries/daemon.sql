-- Queries of the daemon (enginev2d/daemon.py): intake, leases, release, kill switch.
-- All times are the database's (now()), never a daemon's clock, so daemons on several
-- machines agree on lease expiry.

-- claim_jobs: take up to `limit` running jobs that nobody holds (owner NULL) or whose
-- lease expired, oldest first, skipping rows another daemon is claiming right now.
-- `exclude` lists jobs this daemon still runs (its own lease may have lapsed during a
-- database outage: never start a second runner for them). prev_owner is the expired
-- holder (a takeover); was_claimed says the job ran before (recovery needed).
WITH candidates AS (
  SELECT job_id, owner AS prev_owner, claimed_at IS NOT NULL AS was_claimed
    FROM engine_v2.job_runs
   WHERE status = 'running'
     AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < now())
     AND NOT (job_id = ANY (%(exclude)s::uuid[]))
   ORDER BY created_at, job_id
   LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED
)
UPDATE engine_v2.job_runs r
   SET owner = %(owner)s,
       lease_expires_at = now() + make_interval(secs => %(lease_s)s),
       claimed_at = coalesce(r.claimed_at, now()),
       takeover_count = r.takeover_count + CASE WHEN c.prev_owner IS NULL THEN 0 ELSE 1 END
  FROM candidates c
 WHERE r.job_id = c.job_id
RETURNING r.*, c.prev_owner, c.was_claimed,
          extract(epoch FROM r.claimed_at - r.created_at)::float8 AS pickup_s

-- renew_leases: the heartbeat, one statement for all jobs of this daemon. A job missing
-- from the result is no longer ours (lease lost to a takeover); status and
-- cancel_requested tell the daemon about an operator's cancel.
UPDATE engine_v2.job_runs
   SET lease_expires_at = now() + make_interval(secs => %(lease_s)s)
 WHERE owner = %(owner)s
   AND job_id = ANY (%(job_ids)s::uuid[])
RETURNING job_id, status, cancel_requested

-- release_job: give one unfinished job back (its runner stopped gracefully) so any
-- daemon resumes it at its next poll.
UPDATE engine_v2.job_runs
   SET owner = NULL, lease_expires_at = NULL
 WHERE job_id = %(job_id)s AND owner = %(owner)s AND status = 'running'
RETURNING job_id

-- release_all: at shutdown, every unfinished job this daemon still holds.
UPDATE engine_v2.job_runs
   SET owner = NULL, lease_expires_at = NULL
 WHERE owner = %(owner)s AND status = 'running'
RETURNING job_id

-- fail_orphaned_jobs: kill switch (engine.enabled false, design 16). Running jobs that no
-- live daemon holds (never claimed, released, or lease expired) end as failed with
-- v2_scheduler_error and fallback, so v1 takes over and the running count drains to 0.
-- Jobs a live daemon still holds are left to it. Unfinished tasks are canceled, running
-- attempts end failed. Events are written by emit_disabled_events in the same
-- transaction.
WITH victims AS (
  SELECT job_id
    FROM engine_v2.job_runs
   WHERE status = 'running'
     AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < now())
   ORDER BY created_at
   FOR UPDATE SKIP LOCKED
), attempts AS (
  UPDATE engine_v2.job_task_attempts a
     SET status = 'failed', ended_at = now(),
         error = jsonb_build_object('code', %(error_code)s::text, 'message', %(message)s::text)
    FROM engine_v2.job_tasks t, victims v
   WHERE a.task_id = t.id AND t.job_id = v.job_id AND a.status = 'running'
  RETURNING a.id
), tasks AS (
  UPDATE engine_v2.job_tasks t
     SET status = 'canceled', error_code = %(error_code)s::text, error_message = %(message)s::text,
         finished_at = now()
    FROM victims v
   WHERE t.job_id = v.job_id
     AND t.status IN ('pending', 'ready', 'running')
  RETURNING t.id
)
UPDATE engine_v2.job_runs r
   SET status = 'failed', error_code = %(error_code)s::text, fallback_triggered = true,
       finished_at = now(), owner = NULL, lease_expires_at = NULL
  FROM victims v
 WHERE r.job_id = v.job_id
RETURNING r.job_id, r.mode, r.progress,
          extract(epoch FROM now() - r.created_at)::float8 AS duration_s

-- fail_owned_job: a job whose runner crashed in this daemon (a bug, not a task failure)
-- ends as failed with v2_scheduler_error and fallback; same shape as the kill switch.
WITH victim AS (
  SELECT job_id
    FROM engine_v2.job_runs
   WHERE job_id = %(job_id)s AND owner = %(owner)s AND status = 'running'
   FOR UPDATE
), attempts AS (
  UPDATE engine_v2.job_task_attempts a
     SET status = 'failed', ended_at = now(),
         error = jsonb_build_object('code', %(error_code)s::text, 'message', %(message)s::text)
    FROM engine_v2.job_tasks t, victim v
   WHERE a.task_id = t.id AND t.job_id = v.job_id AND a.status = 'running'
  RETURNING a.id
), tasks AS (
  UPDATE engine_v2.job_tasks t
     SET status = 'canceled', error_code = %(error_code)s::text, error_message = %(message)s::text,
         finished_at = now()
    FROM victim v
   WHERE t.job_id = v.job_id
     AND t.status IN ('pending', 'ready', 'running')
  RETURNING t.id
)
UPDATE engine_v2.job_runs r
   SET status = 'failed', error_code = %(error_code)s::text, fallback_triggered = true,
       finished_at = now(), owner = NULL, lease_expires_at = NULL
  FROM victim v
 WHERE r.job_id = v.job_id
RETURNING r.job_id, r.mode, r.progress,
          extract(epoch FROM now() - r.created_at)::float8 AS duration_s

-- emit_failed_events: jobFailed then fallback for a job the daemon just failed (same
-- transaction as the UPDATE above, so the events and the state change commit together).
SELECT engine_v2.emit_event(%(job_id)s, NULL, 'jobFailed',
         jsonb_build_object('type', 'jobFailed', 'error_code', %(error_code)s::text,
                            'message', %(message)s::text, 'progress', %(progress)s::int,
                            'fallback', true)) AS failed_seq,
       engine_v2.emit_event(%(job_id)s, NULL, 'fallback',
         jsonb_build_object('type', 'fallback', 'error_code', %(error_code)s::text,
                            'message', %(message)s::text, 'engine', 'v1')) AS fallback_seq
