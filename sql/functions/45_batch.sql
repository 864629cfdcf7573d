-- Group completion (issue 17): a daemon's completer hands in the finished attempts (and
-- the first claims of new jobs) of all its jobs at once, one call and one commit for
-- the lot. Each item is recorded exactly as its own call would record it (task_succeeded,
-- task_failed, task_canceled, start_job: same fences, events, promotion and claims), in
-- the order given, so two items of one job see each other like two calls in a row.
--
-- p_items: [{kind, job_id, owner, ...the function's arguments by name}], kind one of
-- succeeded | failed | canceled | start. Absent keys take the function's defaults.
--
-- Every job of the batch is locked first, in job_id order (the lock order of
-- 0003_scheduler.sql, job_runs first; two batches never deadlock on each other). The
-- common successes are recorded set-based (46_batch_success.sql); if that raises, the
-- whole batch is recorded again item by item, which tells which item raised.
-- Result: {"steps": [step per item, in order]} (plus "set_based_error" when the
-- set-based path raised and the items were recorded one by one), or, when an item raised, {"failed": i
-- (0-based), "sqlstate", "message"} with nothing of the items recorded (the locks stay):
-- the caller retries the others without it, and gives that item its own transaction.
CREATE OR REPLACE FUNCTION engine_v2.complete_batch(p_items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_steps jsonb := '[]'::jsonb;
  v_i int := 0;
  v_err text;
  x jsonb;
BEGIN
  PERFORM 1 FROM engine_v2.job_runs
   WHERE job_id = ANY (ARRAY(SELECT (e->>'job_id')::uuid FROM jsonb_array_elements(p_items) e))
   ORDER BY job_id FOR UPDATE;
  BEGIN
    RETURN jsonb_build_object('steps', engine_v2._batch_steps(p_items));
  EXCEPTION WHEN OTHERS THEN
    -- somewhere in the set-based path: item by item, to find which one (reported)
    v_err := SQLSTATE || ': ' || SQLERRM;
  END;
  BEGIN
    FOR x IN SELECT value FROM jsonb_array_elements(p_items) LOOP
      v_steps := v_steps || jsonb_build_array(engine_v2._batch_item(x));
      v_i := v_i + 1;
    END LOOP;
  EXCEPTION WHEN OTHERS THEN
    RETURN jsonb_build_object('failed', v_i, 'sqlstate', SQLSTATE, 'message', SQLERRM,
                              'set_based_error', v_err);
  END;
  RETURN jsonb_build_object('steps', v_steps, 'set_based_error', v_err);
END;
$$;

-- The steps of a batch, in item order: the successes _batch_successes can take
-- (set-based: a running, not draining job with no other item here, no skip marks),
-- the rest one by one.
CREATE OR REPLACE FUNCTION engine_v2._batch_steps(p_items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_fast jsonb;
  v_set jsonb := '{}';
  v_steps jsonb := '[]'::jsonb;
  x record;
BEGIN
  WITH e AS (
    SELECT value AS x, (ordinality - 1)::int AS i
      FROM jsonb_array_elements(p_items) WITH ORDINALITY
  ), n AS (
    SELECT e.x->>'job_id' AS job_id, count(*) AS n FROM e GROUP BY 1
  )
  SELECT jsonb_agg(e.x || jsonb_build_object('i', e.i)) INTO v_fast
    FROM e JOIN n ON n.job_id = e.x->>'job_id'
    JOIN engine_v2.job_runs r ON r.job_id = (e.x->>'job_id')::uuid
   WHERE e.x->>'kind' = 'succeeded' AND n.n = 1
     AND coalesce(e.x->'skip', '{}'::jsonb) = '{}'::jsonb
     AND r.status = 'running' AND NOT r.draining;
  IF v_fast IS NOT NULL THEN
    v_set := engine_v2._batch_successes(v_fast);
  END IF;
  FOR x IN SELECT value AS item, (ordinality - 1)::int AS i
             FROM jsonb_array_elements(p_items) WITH ORDINALITY LOOP
    v_steps := v_steps || jsonb_build_array(
      coalesce(v_set->(x.i::text), engine_v2._batch_item(x.item)));
  END LOOP;
  RETURN v_steps;
END;
$$;

-- One item of a batch: the call it stands for.
CREATE OR REPLACE FUNCTION engine_v2._batch_item(x jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job uuid := (x->>'job_id')::uuid;
  v_task uuid := (x->>'task_id')::uuid;
  v_attempt int := (x->>'attempt')::int;
  v_owner text := x->>'owner';
  v_usage jsonb := coalesce(x->'usage', '{}');
  v_claim boolean := coalesce((x->>'claim')::boolean, false);
  v_more int := coalesce((x->>'more')::int, 0);
BEGIN
  CASE x->>'kind'
  WHEN 'succeeded' THEN  -- named arguments: the functions' orders differ
    RETURN engine_v2.task_succeeded(p_job_id => v_job, p_task_id => v_task,
      p_attempt => v_attempt, p_owner => v_owner, p_output => x->'output',
      p_input => x->'input', p_usage => v_usage, p_artifacts => x->'artifacts',
      p_skip => x->'skip', p_partial => x->'partial', p_claim => v_claim, p_more => v_more);
  WHEN 'failed' THEN
    RETURN engine_v2.task_failed(p_job_id => v_job, p_task_id => v_task,
      p_attempt => v_attempt, p_owner => v_owner, p_error => x->'error', p_usage => v_usage,
      p_input => x->'input', p_job_error_code => x->>'job_error_code', p_claim => v_claim,
      p_more => v_more);
  WHEN 'canceled' THEN
    RETURN engine_v2.task_canceled(p_job_id => v_job, p_task_id => v_task,
      p_attempt => v_attempt, p_owner => v_owner, p_error => x->'error', p_usage => v_usage);
  WHEN 'start' THEN
    RETURN engine_v2.start_job(p_job_id => v_job, p_tasks => x->'tasks',
      p_edges => x->'edges', p_owner => v_owner, p_more => v_more);
  ELSE
    RAISE EXCEPTION 'engine_v2.complete_batch: unknown item kind %', x->>'kind'
      USING ERRCODE = 'invalid_parameter_value';
  END CASE;
END;
$$;

REVOKE ALL ON FUNCTION engine_v2.complete_batch(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._batch_item(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._batch_steps(jsonb) FROM PUBLIC;
