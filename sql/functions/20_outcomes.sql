-- How a run ends: success, failure (fallback to v1), cancel, takeover, retry, and the
-- fallbacks the host server decides itself.
--
-- One last event: every run ends with exactly one of
--   jobCompleted                      (success)
--   jobFailed, fallback               (failure: fallback is the last one)
--   fallback, jobCanceled             (cancel: jobCanceled is the last one)
-- and that last event carries data.final = true. The transaction that decides the
-- outcome also stops every task still waiting or running (their attempts are recorded
-- canceled; a worker's late report is fenced off), so nothing follows the last event
-- and no model call is started for a run whose outcome is decided.

-- Cancel every task of the job that is not terminal yet, running attempts included
-- (attempt rows closed as canceled); one taskCanceled event each, in workflow order.
CREATE OR REPLACE FUNCTION engine_v2._stop_job_tasks(p_job_id uuid, p_code text, p_message text)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  v_ids uuid[];
  v_keys text[];
  v_att int[];
  v_was text[];
BEGIN
  WITH old AS (
    SELECT id, status AS was FROM engine_v2.job_tasks
     WHERE job_id = p_job_id AND status IN ('pending', 'ready', 'blocked', 'running')
     FOR UPDATE
  ), u AS (
    UPDATE engine_v2.job_tasks t
       SET status = 'canceled', error_code = p_code, error_message = p_message,
           finished_at = now()
      FROM old
     WHERE t.id = old.id
    RETURNING t.id, t.task_key, t.position, t.attempt_count, old.was
  )
  SELECT array_agg(id ORDER BY position), array_agg(task_key ORDER BY position),
         array_agg(attempt_count ORDER BY position), array_agg(was ORDER BY position)
    INTO v_ids, v_keys, v_att, v_was
    FROM u;
  IF v_ids IS NULL THEN
    RETURN 0;
  END IF;
  UPDATE engine_v2.job_task_attempts a
     SET status = 'canceled', ended_at = clock_timestamp(),
         latency_ms = (extract(epoch FROM clock_timestamp() - a.started_at) * 1000)::int,
         error = jsonb_build_object('code', p_code, 'message', p_message,
                                    'retryable', false, 'kind', 'Canceled')
    FROM unnest(v_ids, v_att, v_was) AS x(id, att, was)
   WHERE x.was = 'running' AND a.task_id = x.id AND a.attempt_no = x.att
     AND a.status = 'running';
  PERFORM engine_v2._events(p_job_id, v_ids,
    array_fill('taskCanceled'::text, ARRAY[array_length(v_ids, 1)]),
    ARRAY(SELECT jsonb_build_object('task_key', k, 'error_code', p_code)
                 || CASE WHEN w = 'running' THEN jsonb_build_object('attempt', n)
                         ELSE '{}'::jsonb END
            FROM unnest(v_keys, v_was, v_att) WITH ORDINALITY AS x(k, w, n, i) ORDER BY i));
  RETURN array_length(v_ids, 1);
END;
$$;

-- The job fails (first failure wins): every task still going is stopped, then jobFailed
-- and the final fallback event. The NOTIFY goes out at commit.
CREATE OR REPLACE FUNCTION engine_v2._fail_job(
  p_job_id uuid, p_error_code text, p_message text, p_data jsonb DEFAULT '{}'
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE engine_v2.job_runs
     SET status = 'failed', error_code = p_error_code, fallback_triggered = true,
         finished_at = now(), draining = false
   WHERE job_id = p_job_id AND status = 'running';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM engine_v2._stop_job_tasks(p_job_id, p_error_code,
    'Canceled: job failed with ' || p_error_code);
  PERFORM engine_v2._event(p_job_id, NULL, 'jobFailed',
    jsonb_build_object('error_code', p_error_code, 'message', p_message) || coalesce(p_data, '{}'));
  PERFORM engine_v2._event(p_job_id, NULL, 'fallback',
    jsonb_build_object('error_code', p_error_code, 'job_id', p_job_id, 'final', true), false);
  RETURN true;
END;
$$;

-- The run is canceled: every task still going stopped, fallback, then the final
-- jobCanceled. False when the run was not running.
CREATE OR REPLACE FUNCTION engine_v2._cancel_run(p_job_id uuid, p_reason text)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE engine_v2.job_runs
     SET status = 'canceled', cancel_requested = true, finished_at = now(),
         fallback_triggered = true, error_code = 'canceled', draining = false,
         publish_commit = NULL, cancel_pending = NULL
   WHERE job_id = p_job_id AND status = 'running';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM engine_v2._stop_job_tasks(p_job_id, 'canceled', 'Canceled: ' || p_reason);
  PERFORM engine_v2._event(p_job_id, NULL, 'fallback',
    jsonb_build_object('error_code', 'canceled', 'job_id', p_job_id), false);
  PERFORM engine_v2._event(p_job_id, NULL, 'jobCanceled',
    jsonb_build_object('reason', p_reason, 'error_code', 'canceled', 'final', true));
  PERFORM engine_v2._flush_events(p_job_id);
  RETURN true;
END;
$$;

-- Success (called by the worker after building the v1 result, same transaction as the
-- last completion, which also completes public.jobs): succeeded, result, progress 100,
-- the final jobCompleted.
CREATE OR REPLACE FUNCTION engine_v2.finish_job(p_job_id uuid, p_owner text, p_result jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
BEGIN
  SELECT status, owner INTO v_job FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.owner IS DISTINCT FROM p_owner THEN
    RETURN jsonb_build_object('result', 'stale', 'reason', 'owner');
  END IF;
  IF v_job.status <> 'running' OR EXISTS (
       SELECT 1 FROM engine_v2.job_tasks
        WHERE job_id = p_job_id AND status NOT IN ('succeeded', 'skipped')) THEN
    RETURN engine_v2._step(p_job_id, v_job.status, jsonb_build_object('result', 'not_finishable'));
  END IF;
  UPDATE engine_v2.job_runs
     SET status = 'succeeded', result = coalesce(p_result, '{}'), finished_at = now(),
         progress = 100, error_code = NULL, cancel_pending = NULL
   WHERE job_id = p_job_id;
  PERFORM engine_v2._event(p_job_id, NULL, 'jobCompleted',
    jsonb_build_object('progress', 100, 'final', true), false);
  RETURN engine_v2._step(p_job_id, v_job.status, '{}');
END;
$$;

-- Fail a job from outside a task (timeout, invalid output, scheduler error): waiting
-- tasks canceled with p_cancel_code (default p_error_code), running ones stopped,
-- jobFailed + fallback. A run whose publish is in doubt (intent recorded, publisher
-- gone) is left alone: result 'in_doubt' (a takeover decides by looking at production).
CREATE OR REPLACE FUNCTION engine_v2.fail_job(
  p_job_id uuid, p_owner text, p_error_code text, p_message text,
  p_cancel_code text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_ids uuid[];
BEGIN
  PERFORM engine_v2._publish_lock(p_job_id);
  SELECT status, owner, publish_commit INTO v_job
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.owner IS DISTINCT FROM p_owner THEN
    RETURN jsonb_build_object('result', 'stale', 'reason', 'owner');
  END IF;
  IF v_job.status = 'running' AND v_job.publish_commit IS NOT NULL THEN
    RETURN engine_v2._step(p_job_id, v_job.status, jsonb_build_object('result', 'in_doubt'));
  END IF;
  SELECT array_agg(id) INTO v_ids FROM engine_v2.job_tasks
   WHERE job_id = p_job_id AND status IN ('pending', 'ready', 'blocked');
  IF v_ids IS NOT NULL AND v_job.status = 'running' THEN
    PERFORM engine_v2._cancel_tasks(p_job_id, v_ids, coalesce(p_cancel_code, p_error_code),
      'Canceled: job failed with ' || p_error_code);
  END IF;
  PERFORM engine_v2._fail_job(p_job_id, p_error_code, p_message, '{}');
  RETURN engine_v2._step(p_job_id, v_job.status, '{}');
END;
$$;

-- The server's (and the operator's) cancel. Idempotent. Returns
--   'canceled'  v2 will publish nothing and complete nothing for this job (also for a
--               run that had already failed or been canceled, and for an unknown job);
--   'completed' v2 had already won: the job is published and public.jobs completed;
--   'pending'   v2's daemon died while swapping this job into production: whether it
--               is live is decided by the takeover, which ends the run with jobCompleted
--               (live) or jobCanceled (not live). The lease is expired so that happens
--               at the next intake poll.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_proc
              WHERE oid = to_regprocedure('engine_v2.cancel_job(uuid, text)')
                AND prorettype = 'boolean'::regtype) THEN
    DROP FUNCTION engine_v2.cancel_job(uuid, text);  -- 0003's boolean version
  END IF;
END;
$$;

CREATE OR REPLACE FUNCTION engine_v2.cancel_job(p_job_id uuid, p_reason text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
BEGIN
  PERFORM engine_v2._publish_lock(p_job_id);
  SELECT status, publish_commit INTO v_job
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'canceled';
  ELSIF v_job.status = 'succeeded' THEN
    RETURN 'completed';
  ELSIF v_job.status <> 'running' THEN
    RETURN 'canceled';
  ELSIF v_job.publish_commit IS NOT NULL THEN
    UPDATE engine_v2.job_runs
       SET cancel_pending = coalesce(p_reason, 'job canceled'),
           lease_expires_at = least(lease_expires_at, now())
     WHERE job_id = p_job_id;
    RETURN 'pending';
  END IF;
  PERFORM engine_v2._cancel_run(p_job_id, coalesce(p_reason, 'job canceled'));
  RETURN 'canceled';
END;
$$;

-- The server ran v1 for this job on its own decision (its output validation said no,
-- its deadline passed, submit failed): recorded for the SLO's fallback rate, and a run
-- still going is canceled first. Returns cancel_job's answer ('completed': v2 had
-- already completed the job before the server gave up).
CREATE OR REPLACE FUNCTION engine_v2.log_fallback(
  p_job_id uuid, p_code text, p_detail jsonb DEFAULT '{}'
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_answer text;
BEGIN
  IF p_code IS NULL OR p_code NOT IN ('v2_output_invalid', 'v2_task_failed', 'v2_timeout',
       'v2_scheduler_error', 'v2_dag_deadlock', 'v2_staging_error', 'v2_concurrent_apply',
       'v2_unknown', 'canceled') THEN
    RAISE EXCEPTION 'engine_v2.log_fallback: unknown error code %', p_code
      USING ERRCODE = '22023',
            HINT = 'one of the design section 15 codes, lower case (v2_timeout, ...)';
  END IF;
  IF p_detail IS NOT NULL AND jsonb_typeof(p_detail) <> 'object' THEN
    RAISE EXCEPTION 'engine_v2.log_fallback: p_detail must be a JSON object'
      USING ERRCODE = '22023';
  END IF;
  v_answer := engine_v2.cancel_job(p_job_id, 'the server fell back to v1: ' || p_code);
  INSERT INTO engine_v2.server_fallbacks (job_id, error_code, detail)
  VALUES (p_job_id, p_code, coalesce(p_detail, '{}') || jsonb_build_object('v2', v_answer));
  RETURN v_answer;
END;
$$;

-- Re-run a failed or canceled shadow job from its failed and canceled tasks. A live job
-- that fell back belongs to v1 (it may have completed it already): refused (55000).
-- Attempt numbers continue (history is kept); each re-run task gets a fresh budget.
CREATE OR REPLACE FUNCTION engine_v2.retry_job(p_job_id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_keys text[];
BEGIN
  SELECT status, mode, fallback_triggered INTO v_job
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.status NOT IN ('failed', 'canceled') THEN
    RETURN false;
  END IF;
  IF v_job.mode = 'live' AND v_job.fallback_triggered THEN
    RAISE EXCEPTION 'job % fell back to v1, which owns it now: submit a new job', p_job_id
      USING ERRCODE = '55000';
  END IF;
  IF EXISTS (SELECT 1 FROM engine_v2.job_tasks WHERE job_id = p_job_id AND status = 'running')
  THEN
    RAISE EXCEPTION 'job % still has running tasks', p_job_id USING ERRCODE = '55000';
  END IF;
  WITH u AS (
    UPDATE engine_v2.job_tasks
       SET status = CASE WHEN blocked_reason IS NULL THEN 'pending' ELSE 'blocked' END,
           max_attempts = attempt_count + coalesce(base_max_attempts, max_attempts),
           error_code = NULL, error_message = NULL, started_at = NULL, finished_at = NULL,
           progress = 0, takeovers = 0
     WHERE job_id = p_job_id AND status IN ('failed', 'canceled', 'ready', 'pending')
    RETURNING task_key, position
  )
  SELECT array_agg(task_key ORDER BY position) INTO v_keys FROM u;
  UPDATE engine_v2.job_runs
     SET status = 'running', error_code = NULL, finished_at = NULL, owner = NULL,
         lease_expires_at = NULL, cancel_requested = false, fallback_triggered = false,
         result = NULL, draining = false, publish_commit = NULL, cancel_pending = NULL
   WHERE job_id = p_job_id;
  PERFORM engine_v2._promote(p_job_id);
  PERFORM engine_v2._event(p_job_id, NULL, 'jobRetried',
    jsonb_build_object('tasks', coalesce(to_jsonb(v_keys), '[]'::jsonb)));
  PERFORM engine_v2._flush_events(p_job_id);
  -- Exactly submit_job's payload (0002): {"job_id": "..."}.
  PERFORM pg_notify('engine_v2_jobs', format('{"job_id": "%s"}', p_job_id));
  RETURN true;
END;
$$;

REVOKE ALL ON FUNCTION engine_v2._stop_job_tasks(uuid, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._cancel_run(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.cancel_job(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.log_fallback(uuid, text, jsonb) FROM PUBLIC;
