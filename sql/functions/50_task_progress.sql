-- taskProgress: how far a running attempt got (a model streaming its answer: bytes and
-- tokens so far), at most a couple per second per task. Fenced like a completion: only
-- the job's owner, only while the job runs and the task runs this very attempt, so a
-- progress report can never follow the run's last event. Returns whether it was written.
CREATE OR REPLACE FUNCTION engine_v2.task_progress(
  p_job_id uuid, p_task_id uuid, p_attempt int, p_owner text, p_data jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_job engine_v2.job_runs := engine_v2._owned_job(p_job_id, p_owner);
  v_task engine_v2.job_tasks;
BEGIN
  IF v_job.job_id IS NULL OR v_job.status <> 'running' THEN
    RETURN false;
  END IF;
  v_task := engine_v2._running_attempt(p_job_id, p_task_id, p_attempt);
  IF v_task.id IS NULL THEN
    RETURN false;
  END IF;
  PERFORM engine_v2._event(p_job_id, p_task_id, 'taskProgress',
    coalesce(p_data, '{}') || jsonb_build_object('task_key', v_task.task_key,
                                                 'label', v_task.display_label,
                                                 'attempt', p_attempt));
  PERFORM engine_v2._flush_events(p_job_id);
  RETURN true;
END;
$$;

REVOKE ALL ON FUNCTION engine_v2.task_progress(uuid, uuid, int, text, jsonb) FROM PUBLIC;
