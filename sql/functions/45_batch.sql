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
-- Result: {"steps": [step per item, in order], "set_based": how many of them the
-- set-based path recorded} (plus "set_based_error" when the set-based path raised and
-- the items were recorded one by one: "set_based" 0), or, when an item
-- raised, {"failed": i (0-based), "sqlstate", "message"} with nothing of the items
-- recorded (the locks stay): the caller retries the others without it, and gives that
-- item its own transaction.
CREATE OR REPLACE FUNCTION engine_v2.complete_batch(p_items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_steps jsonb := '[]'::jsonb;
  v_i int := 0;
  v_err text;
  v_jobs uuid[] := engine_v2._batch_keys(p_items, NULL, 'job_id');
  v_live uuid[];
  x jsonb;
BEGIN
  -- The lock, and what it read: the jobs the set-based path may take.
  SELECT coalesce(array_agg(job_id) FILTER (WHERE status = 'running' AND NOT draining), '{}')
    INTO v_live
    FROM (SELECT job_id, status, draining FROM engine_v2.job_runs
           WHERE job_id = ANY (v_jobs) ORDER BY job_id FOR UPDATE) r;
  BEGIN
    RETURN engine_v2._batch_steps(p_items, v_jobs, v_live);
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
  RETURN jsonb_build_object('steps', v_steps, 'set_based', 0, 'set_based_error', v_err);
END;
$$;

-- The steps of a batch, in item order. The successes _batch_successes can take
-- (set-based: a success with no skip marks of a job running and not draining) are
-- recorded first, in rounds: each job's first item in the first round, its next one in
-- the second (when it is such a success too and the first left the job running with
-- work left: after a step that finalizes, every later item is stale), and so on; then
-- the rest one by one, in order. A job's items are thus recorded in their order, as
-- calls in a row would be (codegen and asset often finish into one batch);
-- items of different jobs touch different rows. Only the items' small keys are read
-- here (#>> copies no item: an item carries its task's output, files and preview).
-- p_jobs: the items' job ids, in item order; p_live: those running and not draining.
-- Returns {"steps": [...], "set_based": n}: n counts the items taken set-based (a metric,
-- and what tells a test that the fast path is still taken).
DROP FUNCTION IF EXISTS engine_v2._batch_steps(jsonb, uuid[]);  -- read p_live itself
CREATE OR REPLACE FUNCTION engine_v2._batch_steps(p_items jsonb, p_jobs uuid[], p_live uuid[])
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_fast int[] := '{}';
  v_next int[];
  v_round jsonb;
  v_set jsonb := '{}';
  v_steps jsonb := '[]'::jsonb;
  i int;
  j int;
BEGIN
  FOR i IN 0 .. cardinality(p_jobs) - 1 LOOP
    IF engine_v2._batch_plain_success(p_items, i)
       AND p_jobs[i + 1] = ANY (p_live)
       AND array_position(p_jobs, p_jobs[i + 1]) = i + 1 THEN
      v_fast := v_fast || i;
    END IF;
  END LOOP;
  WHILE cardinality(v_fast) > 0 LOOP
    v_round := engine_v2._batch_successes(p_items, v_fast);
    v_set := v_set || v_round;
    v_next := '{}';
    FOREACH i IN ARRAY v_fast LOOP  -- the job's next item, 0-based (NULL: none)
      j := array_position(p_jobs, p_jobs[i + 1], i + 2) - 1;
      IF j IS NOT NULL AND v_round #>> ARRAY[i::text, 'job_status'] = 'running'
         AND NOT (v_round #> ARRAY[i::text, 'finalize'])::boolean  -- else all is done
         AND engine_v2._batch_plain_success(p_items, j) THEN
        v_next := v_next || j;
      END IF;
    END LOOP;
    v_fast := v_next;
  END LOOP;
  FOR i IN 0 .. cardinality(p_jobs) - 1 LOOP
    v_steps := v_steps || jsonb_build_array(
      coalesce(v_set->(i::text), engine_v2._batch_item(p_items->i)));
  END LOOP;
  RETURN jsonb_build_object('steps', v_steps,
                            'set_based', (SELECT count(*) FROM jsonb_object_keys(v_set)));
END;
$$;

-- Whether item p_i (0-based) of a batch is a success with no skip marks.
CREATE OR REPLACE FUNCTION engine_v2._batch_plain_success(p_items jsonb, p_i int)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_items #>> ARRAY[p_i::text, 'kind'] = 'succeeded'
     AND coalesce(p_items #> ARRAY[p_i::text, 'skip'], '{}'::jsonb) = '{}'::jsonb;
$$;

-- One key of a batch's items as uuids, in item order: of every item, or of the items at
-- the 0-based p_at. PL/pgSQL, not SQL: PostgreSQL 15 plans a SQL function's body at every
-- call it cannot inline (this one: ~60 us, three calls a batch), PL/pgSQL once a session.
CREATE OR REPLACE FUNCTION engine_v2._batch_keys(p_items jsonb, p_at int[], p_key text)
RETURNS uuid[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN ARRAY(
    SELECT (p_items #>> ARRAY[i::text, p_key])::uuid
      FROM unnest(coalesce(p_at, ARRAY(
             SELECT generate_series(0, jsonb_array_length(p_items) - 1)))) WITH ORDINALITY
           AS x(i, o)
     ORDER BY o);
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
REVOKE ALL ON FUNCTION engine_v2._batch_steps(jsonb, uuid[], uuid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._batch_keys(jsonb, int[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._batch_plain_success(jsonb, int) FROM PUBLIC;
