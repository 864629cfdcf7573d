-- The publish guard: who may decide a job's outcome while publish_prep swaps.
--
-- publish_prep holds a session-level advisory lock on the job (begin_publish ...
-- end_publish) from before it records its intent until after its completion commits.
-- Every other decision about a live job (cancel_job, fail_job, recover_job) takes the same
-- lock first, so it waits for a publisher that is alive and never sees a half-done
-- publish. When it gets the lock and the intent (job_runs.publish_commit) is still set
-- on a running job, the publisher died between its intent and its commit: production
-- may or may not hold the commit, and only a takeover (which looks) may decide.

-- The lock's keys: a namespace and the job.
CREATE OR REPLACE FUNCTION engine_v2._publish_lock(p_job_id uuid) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(hashtext('engine_v2.publish'), hashtext(p_job_id::text));
$$;

-- Before the swap (autocommit statement on the publisher's own connection): take the
-- session lock, check that the run is still ours and wanted, record the intent.
-- 'ok' (lock held: call end_publish after the task's completion), 'canceled' (the run
-- ended or a cancel is pending: do not publish) or 'stale' (not our attempt or owner).
CREATE OR REPLACE FUNCTION engine_v2.begin_publish(
  p_job_id uuid, p_task_id uuid, p_attempt int, p_owner text, p_commit text
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_answer text;
BEGIN
  PERFORM pg_advisory_lock(hashtext('engine_v2.publish'), hashtext(p_job_id::text));
  SELECT status, owner, cancel_requested, cancel_pending INTO v_job
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.owner IS DISTINCT FROM p_owner THEN
    v_answer := 'stale';
  ELSIF v_job.status <> 'running' OR v_job.cancel_requested
        OR v_job.cancel_pending IS NOT NULL THEN
    v_answer := 'canceled';
  ELSIF NOT EXISTS (SELECT 1 FROM engine_v2.job_tasks
                     WHERE id = p_task_id AND job_id = p_job_id AND status = 'running'
                       AND attempt_count = p_attempt) THEN
    v_answer := 'stale';
  ELSE
    UPDATE engine_v2.job_runs SET publish_commit = p_commit WHERE job_id = p_job_id;
    RETURN 'ok';
  END IF;
  PERFORM pg_advisory_unlock(hashtext('engine_v2.publish'), hashtext(p_job_id::text));
  RETURN v_answer;
END;
$$;

-- After the task's completion committed (or the swap failed: p_unpublished names the
-- commit that did not go live, and the intent is withdrawn). Releases the session lock.
CREATE OR REPLACE FUNCTION engine_v2.end_publish(p_job_id uuid, p_unpublished text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF p_unpublished IS NOT NULL THEN
    UPDATE engine_v2.job_runs SET publish_commit = NULL
     WHERE job_id = p_job_id AND publish_commit = p_unpublished AND status = 'running';
  END IF;
  RETURN pg_advisory_unlock(hashtext('engine_v2.publish'), hashtext(p_job_id::text));
END;
$$;

REVOKE ALL ON FUNCTION engine_v2._publish_lock(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.begin_publish(uuid, uuid, int, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.end_publish(uuid, text) FROM PUBLIC;
