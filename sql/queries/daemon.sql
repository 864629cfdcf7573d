-- Queries of the daemon (enginev2d/daemon.py): intake, leases, release, kill switch.
-- All times are the database's (now()), never a daemon's clock, so daemons on several
-- machines agree on lease expiry.

-- claim_jobs: take up to `limit` running jobs that nobody holds (owner NULL) or whose
-- lease expired, oldest first, skipping rows another daemon is claiming right now.
-- `exclude` lists jobs this daemon still runs (its own lease may have lapsed during a
-- database outage: never start a second runner for them). prev_owner is the expired
-- holder (a takeover); was_claimed says the job ran before (recovery needed).
-- A draining job (failed or canceled, tasks not all terminal yet: migration 0003) is
-- taken over too, so its leftover tasks end terminal when its daemon died.
-- Nothing is claimed while the fleet kill switch is off (migration 0006), even by a daemon
-- whose last reading of the switch is stale.
WITH candidates AS (
  SELECT job_id, owner AS prev_owner, claimed_at IS NOT NULL AS was_claimed
    FROM engine_v2.job_runs
   WHERE (status = 'running' OR draining)
     AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < now())
     AND NOT (job_id = ANY (%(exclude)s::uuid[]))
     AND coalesce((SELECT s.enabled FROM engine_v2.engine_switch s WHERE s.id), true)
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
-- cancel_requested tell the daemon about an operator's cancel. The rows are locked in
-- job_id order, the group completer's order (45_batch.sql): never a deadlock with it.
UPDATE engine_v2.job_runs r
   SET lease_expires_at = now() + make_interval(secs => %(lease_s)s)
  FROM (SELECT job_id FROM engine_v2.job_runs
         WHERE owner = %(owner)s AND job_id = ANY (%(job_ids)s::uuid[])
         ORDER BY job_id FOR UPDATE) mine
 WHERE r.job_id = mine.job_id
RETURNING r.job_id, r.status, r.cancel_requested

-- release_job: give one unfinished job back (its runner stopped gracefully) so any
-- daemon resumes it at its next poll.
UPDATE engine_v2.job_runs
   SET owner = NULL, lease_expires_at = NULL
 WHERE job_id = %(job_id)s AND owner = %(owner)s AND status = 'running'
RETURNING job_id

-- release_all: at shutdown, every unfinished job this daemon still holds (locked in
-- job_id order, as everywhere a statement locks several jobs).
UPDATE engine_v2.job_runs r
   SET owner = NULL, lease_expires_at = NULL
  FROM (SELECT job_id FROM engine_v2.job_runs
         WHERE owner = %(owner)s AND status = 'running'
         ORDER BY job_id FOR UPDATE) mine
 WHERE r.job_id = mine.job_id
RETURNING r.job_id

-- claim_orphans: kill switch (engine.enabled false, design 16). Take every running job
-- that no live daemon holds (never claimed, released, or lease expired) so this daemon
-- can fail it over to v1 through the scheduler (recover_job, then fail_job), and the
-- running count drains to 0. Jobs a live daemon still holds are left to it.
WITH victims AS (
  SELECT job_id, owner AS prev_owner
    FROM engine_v2.job_runs
   WHERE (status = 'running' OR draining)
     AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < now())
   ORDER BY created_at, job_id
   LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED
)
UPDATE engine_v2.job_runs r
   SET owner = %(owner)s,
       lease_expires_at = now() + make_interval(secs => %(lease_s)s),
       takeover_count = r.takeover_count + CASE WHEN v.prev_owner IS NULL THEN 0 ELSE 1 END
  FROM victims v
 WHERE r.job_id = v.job_id
RETURNING r.job_id, v.prev_owner

-- running_jobs_among: which of these jobs are still running (the staging sweep at start
-- keeps their directories)
SELECT job_id::text AS job_id
  FROM engine_v2.job_runs
 WHERE job_id = ANY(%(ids)s::uuid[])
   AND (status = 'running' OR draining);
