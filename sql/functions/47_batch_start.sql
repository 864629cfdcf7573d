-- Starts in the claim's commit (issue 17, item 4): the jobs a daemon has just claimed,
-- fresh ones only (never run before: no takeover), are started in the transaction that
-- claimed them (a batch of the group completer, whose commit ended the jobs whose slots
-- they take) or right after the claim (the intake's poll), instead of each by its
-- runner's own hand-off. Each is started exactly as start_job would start it: the DAG
-- materialized, the roots promoted, the first 1 + p_more tasks claimed for the owner,
-- with their events.
--
-- The common case is set-based (_start_fresh): a clean workflow (what
-- Workflow.validate() lets through) and jobs running, not draining, not canceled, owned
-- by p_owner and not materialized yet. Every other job (and all of them, should the
-- set-based path raise) goes through start_job itself, each in a subtransaction: one
-- job's start never fails the others nor the claim. A job whose start raised is left out
-- of "steps" (its error in "errors"); its runner starts it as before, through its own
-- start_job, which meets and reports the error.
-- p_jobs are locked in job_id order (the engine's lock order, 0003_scheduler.sql); the
-- claim has locked them already.
-- Result: {"steps": {"<job_id>": start_job's step}, "errors": {"<job_id>": "SQLSTATE:
-- message"}, "set_based": how many the set-based path started} (plus "set_based_error"
-- when that path raised and every job went through start_job).
CREATE OR REPLACE FUNCTION engine_v2.start_jobs(
  p_jobs uuid[], p_tasks jsonb, p_edges jsonb, p_owner text, p_more int DEFAULT 0
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_jobs uuid[] := ARRAY(SELECT DISTINCT j FROM unnest(p_jobs) j ORDER BY j);
  v_fast uuid[] := '{}';
  v_steps jsonb := '{}';
  v_errors jsonb := '{}';
  v_err text;
  v_job uuid;
BEGIN
  IF engine_v2._clean_workflow(p_tasks, p_edges)
     AND coalesce(current_setting('engine_v2.ev', true), '') = '' THEN
    SELECT coalesce(array_agg(r.job_id ORDER BY r.job_id), '{}') INTO v_fast
      FROM (SELECT job_id, owner, status, cancel_requested, draining
              FROM engine_v2.job_runs WHERE job_id = ANY (v_jobs)
             ORDER BY job_id FOR UPDATE) r
     WHERE r.owner IS NOT DISTINCT FROM p_owner AND r.status = 'running'
       AND NOT r.cancel_requested AND NOT r.draining
       AND NOT EXISTS (SELECT 1 FROM engine_v2.job_tasks k WHERE k.job_id = r.job_id);
    IF cardinality(v_fast) > 0 THEN
      BEGIN
        v_steps := engine_v2._start_fresh(v_fast, p_tasks, p_edges,
                                          1 + greatest(coalesce(p_more, 0), 0));
      EXCEPTION WHEN OTHERS THEN  -- a bug: every job through start_job, reported
        v_err := SQLSTATE || ': ' || SQLERRM;
        v_fast := '{}';
      END;
    END IF;
  END IF;
  FOR v_job IN SELECT j FROM unnest(v_jobs) j WHERE NOT (j = ANY (v_fast)) ORDER BY j LOOP
    BEGIN
      v_steps := v_steps || jsonb_build_object(
        v_job::text, engine_v2.start_job(v_job, p_tasks, p_edges, p_owner, p_more));
    EXCEPTION WHEN OTHERS THEN
      v_errors := v_errors || jsonb_build_object(v_job::text, SQLSTATE || ': ' || SQLERRM);
    END;
  END LOOP;
  RETURN jsonb_build_object('steps', v_steps, 'errors', v_errors,
                            'set_based', cardinality(v_fast))
         || CASE WHEN v_err IS NULL THEN '{}'::jsonb
                 ELSE jsonb_build_object('set_based_error', v_err) END;
END;
$$;

-- What Workflow.validate() lets through, as far as materializing goes: tasks with
-- distinct non-empty keys, every edge between two of them and no self-edge, at least one
-- root. Anything else (a dangling edge is materialized 'blocked') is start_job's.
-- PL/pgSQL, not SQL: its plan is made once a session (PostgreSQL 15 plans a SQL
-- function it cannot inline at every call: ~170 us of this one's ~200).
CREATE OR REPLACE FUNCTION engine_v2._clean_workflow(p_tasks jsonb, p_edges jsonb)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN (
    WITH t AS (SELECT t->>'key' AS key FROM jsonb_array_elements(p_tasks) t),
         e AS (SELECT e->>0 AS pred, e->>1 AS succ
                 FROM jsonb_array_elements(coalesce(p_edges, '[]')) e)
    SELECT jsonb_typeof(p_tasks) = 'array'
       AND (SELECT count(*) > 0 AND count(DISTINCT key) = count(*)
                   AND bool_and(coalesce(key, '') <> '') FROM t)
       AND NOT EXISTS (SELECT 1 FROM e WHERE pred = succ OR pred IS NULL OR succ IS NULL
                          OR pred NOT IN (SELECT key FROM t) OR succ NOT IN (SELECT key FROM t))
       AND EXISTS (SELECT 1 FROM t WHERE key NOT IN (SELECT succ FROM e)));
END;
$$;

-- start_job for fresh jobs, set-based: p_jobs locked, running, owned, with no tasks yet;
-- the workflow clean. The rows are written in their final state at once (a root
-- claimed: running, attempt 1, started now; another root: ready; the rest pending),
-- where start_job inserts them pending, promotes the roots and claims the first p_n
-- of them: the same rows, events (taskStarted, with the job's next seqs) and steps.
-- Returns {"<job_id>": step}.
CREATE OR REPLACE FUNCTION engine_v2._start_fresh(
  p_jobs uuid[], p_tasks jsonb, p_edges jsonb, p_n int
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_steps jsonb;
BEGIN
  WITH e AS (
    SELECT DISTINCT e->>0 AS pred, e->>1 AS succ
      FROM jsonb_array_elements(coalesce(p_edges, '[]')) e
  ), t AS (
    SELECT t->>'key' AS key, t->>'role' AS role, (t->>'weight')::int AS weight,
           t->>'label' AS label, (t->>'max_attempts')::int AS max_attempts,
           (t->>'position')::int AS position,
           NOT EXISTS (SELECT 1 FROM e WHERE e.succ = t->>'key') AS root
      FROM jsonb_array_elements(p_tasks) t
  ), tr AS (  -- _claim_many's order among the ready roots
    SELECT t.*, CASE WHEN t.root THEN row_number() OVER (
             PARTITION BY t.root ORDER BY t.position, t.key) END AS rn
      FROM t
  ), ins AS (
    INSERT INTO engine_v2.job_tasks
      (job_id, task_key, agent_role, weight, display_label, max_attempts,
       base_max_attempts, position, status, started_at, attempt_count)
    SELECT j, tr.key, tr.role, tr.weight, tr.label, tr.max_attempts, tr.max_attempts,
           tr.position,
           CASE WHEN tr.rn <= p_n THEN 'running' WHEN tr.root THEN 'ready' ELSE 'pending' END,
           CASE WHEN tr.rn <= p_n THEN now() END,
           CASE WHEN tr.rn <= p_n THEN 1 ELSE 0 END
      FROM unnest(p_jobs) j CROSS JOIN tr
    RETURNING id, job_id, task_key, status, display_label, max_attempts, position
  ), dep AS (
    INSERT INTO engine_v2.job_task_dependencies (predecessor_task_id, successor_task_id)
    SELECT p.id, s.id
      FROM e JOIN ins p ON p.task_key = e.pred
             JOIN ins s ON s.job_id = p.job_id AND s.task_key = e.succ
  ), c AS (
    SELECT ins.*, row_number() OVER (PARTITION BY ins.job_id
                                     ORDER BY ins.position, ins.task_key) AS i
      FROM ins WHERE ins.status = 'running'
  ), a AS (
    INSERT INTO engine_v2.job_task_attempts (task_id, attempt_no, status, started_at)
    SELECT c.id, 1, 'running', clock_timestamp() FROM c
  ), r AS (
    SELECT job_id, event_seq, greatest(progress, 0) AS prog
      FROM engine_v2.job_runs WHERE job_id = ANY (p_jobs)
  ), ev AS (
    INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data, seq)
    SELECT c.job_id, c.id, 'taskStarted',
           jsonb_build_object('type', 'taskStarted', 'task_key', c.task_key,
                              'label', c.display_label, 'attempt', 1, 'progress', r.prog),
           r.event_seq + c.i
      FROM c JOIN r ON r.job_id = c.job_id
  ), n AS (
    SELECT c.job_id, count(*) AS n,
           jsonb_agg(jsonb_build_object('id', c.id, 'task_key', c.task_key, 'attempt', 1,
                                        'label', c.display_label,
                                        'max_attempts', c.max_attempts, 'prev_error', NULL)
                     ORDER BY c.i) AS claims
      FROM c GROUP BY c.job_id
  ), ju AS (
    UPDATE engine_v2.job_runs x
       SET event_seq = x.event_seq + n.n, progress = greatest(x.progress, 0)
      FROM n
     WHERE x.job_id = ANY (p_jobs) AND x.job_id = n.job_id
    RETURNING x.job_id, x.status, x.error_code, x.mode, x.progress,
              extract(epoch FROM coalesce(x.finished_at, now()) - x.created_at)::float8
                AS duration_s,
              n.claims
  ), k AS (  -- the counts _settle reads, the same for every job of the call
    SELECT count(*) FILTER (WHERE rn <= p_n) AS running,
           count(*) FILTER (WHERE root AND NOT rn <= p_n) AS ready,
           count(*) FILTER (WHERE NOT root) AS waiting
      FROM tr
  )
  SELECT jsonb_object_agg(ju.job_id::text, jsonb_build_object(
           'ready', k.ready, 'running', k.running, 'active', k.ready + k.running + k.waiting,
           'job_status', ju.status, 'error_code', ju.error_code, 'mode', ju.mode,
           'progress', ju.progress, 'duration_s', ju.duration_s, 'finalize', false,
           'intent', NULL, 'result', 'ok', 'ended', NULL,
           'task', ju.claims->0, 'more', ju.claims - 0, 'created', true, 'outputs', '{}'::jsonb))
    INTO v_steps
    FROM ju CROSS JOIN k;
  IF cardinality(p_jobs) <> (SELECT count(*) FROM jsonb_object_keys(v_steps)) THEN
    RAISE EXCEPTION 'engine_v2._start_fresh: % jobs, % steps', cardinality(p_jobs),
      (SELECT count(*) FROM jsonb_object_keys(v_steps));
  END IF;
  RETURN v_steps;
END;
$$;

REVOKE ALL ON FUNCTION engine_v2.start_jobs(uuid[], jsonb, jsonb, text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._clean_workflow(jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._start_fresh(uuid[], jsonb, jsonb, int) FROM PUBLIC;
