-- Operations (issue 16): the fleet-wide kill switch and retention. Tables in migration
-- 0006; these functions are re-applied by `migrate` whenever this file changes.

-- The kill switch. Sets the one engine_switch row and tells every daemon at once
-- (NOTIFY engine_v2_control, delivered at commit); the daemons' safety poll reads the
-- row anyway, so a lost notification only delays the switch by one poll interval.
-- Returns the row as it is now.
CREATE OR REPLACE FUNCTION engine_v2.set_engine_switch(
  p_enabled boolean, p_reason text DEFAULT NULL, p_actor text DEFAULT NULL
) RETURNS engine_v2.engine_switch
LANGUAGE plpgsql AS $$
DECLARE
  v_row engine_v2.engine_switch;
BEGIN
  INSERT INTO engine_v2.engine_switch AS s (id, enabled, reason, changed_by, changed_at)
  VALUES (true, p_enabled, p_reason, p_actor, now())
  ON CONFLICT (id) DO UPDATE
    SET enabled = excluded.enabled, reason = excluded.reason,
        changed_by = excluded.changed_by, changed_at = excluded.changed_at
  RETURNING s.* INTO v_row;
  PERFORM pg_notify('engine_v2_control', json_build_object('enabled', p_enabled)::text);
  RETURN v_row;
END;
$$;

-- Retention: one batch. Takes up to p_limit finished runs (succeeded, failed, canceled;
-- not draining; finished before p_before; not pruned yet), oldest first, skipping rows
-- another transaction holds, and deletes their events, artifacts, attempts, dependency
-- edges and tasks, children first. The job_runs rows stay (SLO history) with pruned_at
-- set. Row locks are held for this one batch only. Returns the counts deleted.
CREATE OR REPLACE FUNCTION engine_v2.prune_runs(p_before timestamptz, p_limit int)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_jobs uuid[];
  v_tasks uuid[];
  n_events bigint := 0;
  n_artifacts bigint := 0;
  n_attempts bigint := 0;
  n_edges bigint := 0;
  n_tasks bigint := 0;
BEGIN
  SELECT coalesce(array_agg(job_id), '{}') INTO v_jobs
    FROM (SELECT job_id FROM engine_v2.job_runs
           WHERE pruned_at IS NULL AND status <> 'running' AND NOT draining
             AND finished_at < p_before
           ORDER BY finished_at
           LIMIT p_limit
           FOR UPDATE SKIP LOCKED) s;
  IF cardinality(v_jobs) > 0 THEN
    SELECT coalesce(array_agg(id), '{}') INTO v_tasks
      FROM engine_v2.job_tasks WHERE job_id = ANY (v_jobs);
    DELETE FROM engine_v2.job_task_events WHERE job_id = ANY (v_jobs);
    GET DIAGNOSTICS n_events = ROW_COUNT;
    DELETE FROM engine_v2.job_task_artifacts WHERE job_id = ANY (v_jobs);
    GET DIAGNOSTICS n_artifacts = ROW_COUNT;
    DELETE FROM engine_v2.job_task_attempts WHERE task_id = ANY (v_tasks);
    GET DIAGNOSTICS n_attempts = ROW_COUNT;
    DELETE FROM engine_v2.job_task_dependencies WHERE successor_task_id = ANY (v_tasks);
    GET DIAGNOSTICS n_edges = ROW_COUNT;
    DELETE FROM engine_v2.job_tasks WHERE id = ANY (v_tasks);
    GET DIAGNOSTICS n_tasks = ROW_COUNT;
    UPDATE engine_v2.job_runs SET pruned_at = now() WHERE job_id = ANY (v_jobs);
  END IF;
  RETURN jsonb_build_object(
    'runs', cardinality(v_jobs), 'tasks', n_tasks, 'attempts', n_attempts,
    'events', n_events, 'artifacts', n_artifacts, 'dependencies', n_edges);
END;
$$;

REVOKE ALL ON FUNCTION engine_v2.set_engine_switch(boolean, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.prune_runs(timestamptz, int) FROM PUBLIC;
