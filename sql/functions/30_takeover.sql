-- Takeover: the caller (p_owner) now holds the lease of a job whose daemon died.
--
-- A lost attempt is not a failed attempt: tasks the dead owner left running go back to
-- ready without using up max_attempts (the attempt row keeps worker_lost for history);
-- daemon.max_takeovers (p_max_takeovers) per task stops a crash loop with
-- v2_scheduler_error. The caller looked at production under the publish lock
-- (p_published: this job's commit when it is live there, else NULL):
--   * live: publish_prep succeeded (whatever its row says); the job completes as
--     succeeded through the usual finalize, never failed over;
--   * not live: a pending publish intent is withdrawn; a cancel that waited for this
--     answer (cancel_job returned 'pending') now cancels the run.
DROP FUNCTION IF EXISTS engine_v2.recover_job(uuid, text);  -- 0003's version

CREATE OR REPLACE FUNCTION engine_v2.recover_job(
  p_job_id uuid, p_owner text, p_max_takeovers int DEFAULT 3, p_published text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  r record;
  v_lost jsonb := jsonb_build_object('code', 'worker_lost',
    'message', 'the daemon running this attempt was lost (lease expired)',
    'retryable', true, 'kind', 'WorkerLost');
  v_retried int := 0;
  v_failed int := 0;
BEGIN
  PERFORM engine_v2._publish_lock(p_job_id);
  SELECT status, owner, cancel_pending, mode INTO v_job
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.owner IS DISTINCT FROM p_owner THEN
    RETURN jsonb_build_object('result', 'stale', 'reason', 'owner');
  END IF;
  -- Every attempt the dead owner left open: worker_lost (history is kept).
  UPDATE engine_v2.job_task_attempts a
     SET status = 'failed', ended_at = clock_timestamp(), error = v_lost,
         latency_ms = (extract(epoch FROM clock_timestamp() - a.started_at) * 1000)::int
    FROM engine_v2.job_tasks t
   WHERE t.job_id = p_job_id AND t.status = 'running' AND a.task_id = t.id
     AND a.attempt_no = t.attempt_count AND a.status = 'running';

  IF v_job.status = 'running' AND p_published IS NOT NULL THEN
    RETURN engine_v2._recover_published(p_job_id, v_job.status, v_job.mode, p_published);
  END IF;
  UPDATE engine_v2.job_runs SET publish_commit = NULL
   WHERE job_id = p_job_id AND publish_commit IS NOT NULL AND status = 'running';
  IF v_job.status = 'running' AND v_job.cancel_pending IS NOT NULL THEN
    PERFORM engine_v2._cancel_run(p_job_id, v_job.cancel_pending);
    RETURN engine_v2._step(p_job_id, v_job.status, jsonb_build_object('canceled', 1));
  ELSIF v_job.status <> 'running' THEN  -- a run that ended with a branch still open (0003)
    PERFORM engine_v2._stop_job_tasks(p_job_id, 'canceled', 'canceled');
  END IF;
  FOR r IN
    SELECT id, task_key, attempt_count, takeovers FROM engine_v2.job_tasks
     WHERE job_id = p_job_id AND status = 'running'
     ORDER BY position
     FOR UPDATE
  LOOP
    IF r.takeovers >= p_max_takeovers THEN
      PERFORM engine_v2._task_failed(p_job_id, r.id, r.task_key, r.attempt_count,
        jsonb_build_object('code', 'v2_scheduler_error', 'retryable', false,
          'kind', 'SchedulerError',
          'message', format('task %s lost its daemon %s times (daemon.max_takeovers = %s)',
                            r.task_key, r.takeovers + 1, p_max_takeovers)),
        'v2_scheduler_error');
      v_failed := v_failed + 1;
    ELSE
      UPDATE engine_v2.job_tasks
         SET status = 'ready', max_attempts = max_attempts + 1, takeovers = takeovers + 1,
             error_code = 'worker_lost', error_message = v_lost->>'message'
       WHERE id = r.id;
      PERFORM engine_v2._event(p_job_id, r.id, 'taskRetry',
        jsonb_build_object('task_key', r.task_key, 'attempt', r.attempt_count,
                           'next_attempt', r.attempt_count + 1, 'error', v_lost));
      v_retried := v_retried + 1;
    END IF;
  END LOOP;
  PERFORM engine_v2._promote(p_job_id);
  RETURN engine_v2._step(p_job_id, v_job.status, jsonb_build_object(
    'retried', v_retried, 'failed', v_failed, 'canceled', 0));
END;
$$;

-- This job's commit is live in production: the publisher task (publish_prep) succeeded
-- (taskDone), the intent becomes the record, and the step asks the caller to finalize.
CREATE OR REPLACE FUNCTION engine_v2._recover_published(
  p_job_id uuid, p_status text, p_mode text, p_commit text
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_task record;
BEGIN
  UPDATE engine_v2.job_tasks
     SET status = 'succeeded', progress = 100, finished_at = now(),
         error_code = NULL, error_message = NULL,
         output = jsonb_build_object('commit_hash', p_commit, 'published', true,
                                    'mode', p_mode, 'recovered', true)
   WHERE job_id = p_job_id AND agent_role = 'publisher'
     AND status IN ('pending', 'ready', 'running')
  RETURNING id, task_key, display_label, attempt_count INTO v_task;
  IF FOUND THEN
    PERFORM engine_v2._event(p_job_id, v_task.id, 'taskDone',
      jsonb_build_object('task_key', v_task.task_key, 'label', v_task.display_label,
                         'attempt', v_task.attempt_count, 'recovered', true));
  END IF;
  UPDATE engine_v2.job_runs SET publish_commit = p_commit, cancel_pending = NULL
   WHERE job_id = p_job_id;
  RETURN engine_v2._step(p_job_id, p_status, jsonb_build_object(
    'retried', 0, 'failed', 0, 'canceled', 0, 'published', p_commit));
END;
$$;

REVOKE ALL ON FUNCTION engine_v2.recover_job(uuid, text, int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._recover_published(uuid, text, text, text) FROM PUBLIC;
