-- Migration 3: the DAG scheduler (design 8). Additive only, all inside engine_v2.
--
-- Every state change of a job is one PL/pgSQL call that first locks the job's
-- job_runs row (FOR UPDATE). That serialises the job's transactions (writing events
-- takes the same lock anyway), so "is the job finished?" is always decided on committed
-- state: two workers finishing the last two tasks at once cannot both miss the end.
-- Lock order everywhere: job_runs, then job_tasks, then the rest.
--
-- Functions return jsonb "steps" (see _settle) so the worker learns everything it
-- needs (next task, ready count, job end, fallback) from the one round trip.

ALTER TABLE engine_v2.job_tasks
  ADD COLUMN position int NOT NULL DEFAULT 0,       -- claim order (workflow order)
  ADD COLUMN base_max_attempts int,                 -- the workflow's budget, per run
  ADD COLUMN skip_reason text,                      -- marked by a 7.4 rule; applied at promotion
  ADD COLUMN blocked_reason text;                   -- dangling dependency (8.6)

-- A failed or canceled job whose tasks are not all terminal yet (independent branches
-- still running or ready). The daemon's intake also takes over such jobs when their
-- lease expires, so a daemon dying mid-drain never leaves tasks non-terminal.
ALTER TABLE engine_v2.job_runs
  ADD COLUMN draining boolean NOT NULL DEFAULT false;
CREATE INDEX idx_job_runs_draining
  ON engine_v2.job_runs(created_at) WHERE draining;

-- ---------------------------------------------------------------- helpers

-- Events of one scheduler call, written with one job_runs update.
--
-- emit_event (0002) bumps job_runs.event_seq once per event: with progress that was
-- two updates of the job's row per event, each a new row version, a trigger call and
-- a deferred NOTIFY trigger firing. Every public function here locks the job's row
-- first, so within one call the sequence can be kept in a transaction-local cursor
-- (the setting engine_v2.ev = 'job_id/seq/progress') and written back once by
-- _flush_events, which every public function calls before it returns (through _step
-- or directly). The cursor is reset by the flush, so emit_event calls between two of
-- our calls stay consistent; a rolled-back (sub)transaction rolls the setting back too.
-- The event rows and the final job_runs.event_seq / progress are exactly what
-- emit_event would have written; the deferred trigger still sends the one NOTIFY.

-- Emit a batch of events with the section 13 envelope in one INSERT: data.type always,
-- data.progress (weight-based, never decreasing) unless p_progress is false. Progress is
-- computed once per batch: every caller emits a batch after the state changes it
-- reports, so each event carries exactly what a per-event computation would give.
-- p_task_ids, p_types and p_datas have one element per event, in seq order.
CREATE FUNCTION engine_v2._events(
  p_job_id uuid, p_task_ids uuid[], p_types text[], p_datas jsonb[],
  p_progress boolean DEFAULT true
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_cur text[] := string_to_array(nullif(current_setting('engine_v2.ev', true), ''), '/');
  v_n int := coalesce(array_length(p_types, 1), 0);
  v_seq bigint;
  v_prog int;
BEGIN
  IF v_n = 0 THEN
    RETURN NULL;
  END IF;
  IF v_cur IS NOT NULL AND v_cur[1] = p_job_id::text THEN
    v_seq := v_cur[2]::bigint;
    v_prog := v_cur[3]::int;
  ELSE
    IF v_cur IS NOT NULL THEN
      PERFORM engine_v2._flush_events(v_cur[1]::uuid);  -- another job's call (defensive)
    END IF;
    SELECT event_seq, progress INTO v_seq, v_prog
      FROM engine_v2.job_runs WHERE job_id = p_job_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'engine_v2._event: no job_runs row for job %', p_job_id
        USING ERRCODE = 'foreign_key_violation';
    END IF;
  END IF;
  IF p_progress THEN
    -- Weight-based percentage of tasks in a terminal state, floored, capped at 99 (100
    -- is reserved for success: finish_job sets it), never below what was reported.
    SELECT greatest(v_prog, least(99, CASE WHEN coalesce(sum(greatest(weight, 0)), 0) = 0
             THEN 0
             ELSE (100 * coalesce(sum(greatest(weight, 0)) FILTER (
                     WHERE status IN ('succeeded', 'skipped', 'failed', 'canceled')), 0)
                   / sum(greatest(weight, 0)))::int END))
      INTO v_prog
      FROM engine_v2.job_tasks WHERE job_id = p_job_id;
  END IF;
  INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data, seq)
  SELECT p_job_id, e.tid, e.typ,
         jsonb_build_object('type', e.typ) || coalesce(e.dat, '{}'::jsonb)
           || CASE WHEN p_progress THEN jsonb_build_object('progress', v_prog)
                   ELSE '{}'::jsonb END,
         v_seq + e.i
    FROM unnest(p_task_ids, p_types, p_datas) WITH ORDINALITY AS e(tid, typ, dat, i);
  v_seq := v_seq + v_n;
  v_cur[1] := set_config('engine_v2.ev', p_job_id::text || '/' || v_seq || '/' || v_prog, true);
  RETURN v_seq;
END;
$$;

-- One event (the rare paths).
CREATE FUNCTION engine_v2._event(
  p_job_id uuid, p_task_id uuid, p_type text, p_data jsonb, p_progress boolean DEFAULT true
) RETURNS bigint
LANGUAGE sql AS $$
  SELECT engine_v2._events(p_job_id, ARRAY[p_task_id], ARRAY[p_type], ARRAY[p_data],
                           p_progress);
$$;

-- Write the call's event cursor back to job_runs (one update) and reset it.
CREATE FUNCTION engine_v2._flush_events(p_job_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_cur text[] := string_to_array(nullif(current_setting('engine_v2.ev', true), ''), '/');
BEGIN
  IF v_cur IS NULL OR v_cur[1] <> p_job_id::text THEN
    RETURN;
  END IF;
  UPDATE engine_v2.job_runs
     SET event_seq = v_cur[2]::bigint, progress = greatest(progress, v_cur[3]::int)
   WHERE job_id = p_job_id;
  PERFORM set_config('engine_v2.ev', '', true);
END;
$$;

-- 8.1 with 7.4: pending tasks whose predecessors are all succeeded/skipped become
-- ready, or skipped when a rule marked them; skipping cascades. Returns the keys of the
-- tasks it skipped, in order (empty array when none).
CREATE FUNCTION engine_v2._promote(p_job_id uuid) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  v_keys text[] := '{}';
  v_ids uuid[];
  v_new text[];
  v_reasons text[];
BEGIN
  LOOP
    WITH u AS (
      UPDATE engine_v2.job_tasks t
         SET status = CASE WHEN t.skip_reason IS NULL THEN 'ready' ELSE 'skipped' END,
             finished_at = CASE WHEN t.skip_reason IS NULL THEN NULL ELSE now() END,
             progress = CASE WHEN t.skip_reason IS NULL THEN t.progress ELSE 100 END
       WHERE t.job_id = p_job_id
         AND t.status = 'pending'
         AND NOT EXISTS (
           SELECT 1 FROM engine_v2.job_task_dependencies d
             JOIN engine_v2.job_tasks pred ON pred.id = d.predecessor_task_id
            WHERE d.successor_task_id = t.id
              AND pred.status NOT IN ('succeeded', 'skipped'))
      RETURNING t.id, t.task_key, t.status, t.skip_reason, t.position
    )
    SELECT array_agg(id ORDER BY position) FILTER (WHERE status = 'skipped'),
           array_agg(task_key ORDER BY position) FILTER (WHERE status = 'skipped'),
           array_agg(skip_reason ORDER BY position) FILTER (WHERE status = 'skipped')
      INTO v_ids, v_new, v_reasons
      FROM u;
    EXIT WHEN v_ids IS NULL;
    PERFORM engine_v2._events(p_job_id, v_ids,
      array_fill('taskSkipped'::text, ARRAY[array_length(v_ids, 1)]),
      ARRAY(SELECT jsonb_build_object('task_key', k, 'reason', r)
              FROM unnest(v_new, v_reasons) WITH ORDINALITY AS x(k, r, i) ORDER BY i));
    v_keys := v_keys || v_new;
  END LOOP;
  RETURN v_keys;
END;
$$;

-- Cancel tasks in the given states, one taskCanceled event each.
CREATE FUNCTION engine_v2._cancel_tasks(
  p_job_id uuid, p_ids uuid[], p_error_code text, p_message text, p_extra jsonb DEFAULT '{}'
) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  v_ids uuid[];
  v_datas jsonb[];
BEGIN
  WITH u AS (
    UPDATE engine_v2.job_tasks
       SET status = 'canceled', error_code = p_error_code, error_message = p_message,
           finished_at = now()
     WHERE id = ANY (p_ids) AND status IN ('pending', 'ready', 'blocked')
    RETURNING id, task_key, position
  )
  SELECT array_agg(id ORDER BY position),
         array_agg(jsonb_build_object('task_key', task_key, 'error_code', p_error_code)
                   || p_extra ORDER BY position)
    INTO v_ids, v_datas
    FROM u;
  IF v_ids IS NULL THEN
    RETURN 0;
  END IF;
  PERFORM engine_v2._events(p_job_id, v_ids,
    array_fill('taskCanceled'::text, ARRAY[array_length(v_ids, 1)]), v_datas);
  RETURN array_length(v_ids, 1);
END;
$$;

-- 8.4: every downstream task still waiting -> canceled / upstream_failed.
CREATE FUNCTION engine_v2._cancel_downstream(p_job_id uuid, p_task_id uuid, p_task_key text)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  v_ids uuid[];
BEGIN
  WITH RECURSIVE downstream AS (
    SELECT d.successor_task_id AS task_id
      FROM engine_v2.job_task_dependencies d
     WHERE d.predecessor_task_id = p_task_id
    UNION
    SELECT d.successor_task_id
      FROM engine_v2.job_task_dependencies d
      JOIN downstream ds ON ds.task_id = d.predecessor_task_id
  )
  SELECT array_agg(task_id) INTO v_ids FROM downstream;
  IF v_ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN engine_v2._cancel_tasks(p_job_id, v_ids, 'upstream_failed',
    'Canceled: upstream task ' || p_task_key || ' failed',
    jsonb_build_object('upstream', p_task_key));
END;
$$;

-- The job fails (first failure wins): status, error_code, fallback_triggered,
-- finished_at, then jobFailed and fallback events. The NOTIFY goes out at commit.
CREATE FUNCTION engine_v2._fail_job(
  p_job_id uuid, p_error_code text, p_message text, p_data jsonb DEFAULT '{}'
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE engine_v2.job_runs
     SET status = 'failed', error_code = p_error_code, fallback_triggered = true,
         finished_at = now()
   WHERE job_id = p_job_id AND status = 'running';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM engine_v2._event(p_job_id, NULL, 'jobFailed',
    jsonb_build_object('error_code', p_error_code, 'message', p_message) || coalesce(p_data, '{}'));
  PERFORM engine_v2._event(p_job_id, NULL, 'fallback',
    jsonb_build_object('error_code', p_error_code, 'job_id', p_job_id), false);
  RETURN true;
END;
$$;

-- A task failed for good: taskFailed, downstream canceled (8.4), the job failed.
CREATE FUNCTION engine_v2._task_failed(
  p_job_id uuid, p_task_id uuid, p_task_key text, p_attempt int, p_error jsonb,
  p_job_error_code text
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE engine_v2.job_tasks
     SET status = 'failed', finished_at = now(),
         error_code = coalesce(p_error->>'code', 'v2_task_failed'),
         error_message = p_error->>'message'
   WHERE id = p_task_id;
  PERFORM engine_v2._event(p_job_id, p_task_id, 'taskFailed',
    jsonb_build_object('task_key', p_task_key, 'attempt', p_attempt, 'error', p_error));
  PERFORM engine_v2._cancel_downstream(p_job_id, p_task_id, p_task_key);
  PERFORM engine_v2._fail_job(p_job_id, coalesce(p_job_error_code, 'v2_task_failed'),
    'task ' || p_task_key || ' failed: ' || coalesce(p_error->>'message', ''),
    jsonb_build_object('task_key', p_task_key));
END;
$$;

-- Claim up to p_n ready tasks (8.2), or pending ones in p_also (promotable: see
-- complete_task), in one statement: running, attempt_count + 1 (the
-- fencing token), an attempt row opened and taskStarted for each. A jsonb array of
-- {id, task_key, attempt, label, max_attempts, prev_error}, in claim order; maybe empty.
CREATE FUNCTION engine_v2._claim_many(p_job_id uuid, p_n int, p_also uuid[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_cur text[] := string_to_array(nullif(current_setting('engine_v2.ev', true), ''), '/');
  v_seq bigint;
  v_prog int;
  v_n int;
  v_out jsonb;
BEGIN
  IF coalesce(p_n, 0) < 1 THEN
    RETURN '[]'::jsonb;
  END IF;
  IF v_cur IS NOT NULL AND v_cur[1] = p_job_id::text THEN
    v_seq := v_cur[2]::bigint;
    v_prog := v_cur[3]::int;
  ELSIF v_cur IS NOT NULL THEN
    PERFORM engine_v2._flush_events(v_cur[1]::uuid);  -- another job's call (defensive)
  END IF;
  -- Claim, open the attempts and write taskStarted (what _events would write: the seq
  -- cursor, or job_runs when this call has no event yet; progress is unchanged by a
  -- claim, computed on the statement's snapshot) in one statement.
  WITH c AS (
    UPDATE engine_v2.job_tasks
       SET status = 'running', started_at = now(), finished_at = NULL,
           attempt_count = attempt_count + 1
     WHERE id IN (
       SELECT id FROM engine_v2.job_tasks
        WHERE job_id = p_job_id AND (status = 'ready' OR id = ANY (p_also))
        ORDER BY position, created_at
        LIMIT p_n
        FOR UPDATE SKIP LOCKED)
    RETURNING id, task_key, attempt_count, display_label, max_attempts, position, created_at
  ), r AS (
    -- p_also: pending tasks the caller found promotable; those not claimed become ready
    UPDATE engine_v2.job_tasks SET status = 'ready', finished_at = NULL
     WHERE id = ANY (p_also) AND status = 'pending' AND id NOT IN (SELECT id FROM c)
  ), a AS (
    INSERT INTO engine_v2.job_task_attempts (task_id, attempt_no, status, started_at)
    SELECT id, attempt_count, 'running', clock_timestamp() FROM c
  ), o AS (
    SELECT c.*, row_number() OVER (ORDER BY position, created_at) AS i FROM c
  ), w AS (
    SELECT coalesce(v_seq, r.event_seq) AS seq0,
           greatest(coalesce(v_prog, r.progress), least(99,
             CASE WHEN coalesce(sum(greatest(t.weight, 0)), 0) = 0 THEN 0
             ELSE (100 * coalesce(sum(greatest(t.weight, 0)) FILTER (
                     WHERE t.status IN ('succeeded', 'skipped', 'failed', 'canceled')), 0)
                   / sum(greatest(t.weight, 0)))::int END)) AS prog
      FROM engine_v2.job_runs r
      LEFT JOIN engine_v2.job_tasks t ON t.job_id = r.job_id
     WHERE r.job_id = p_job_id AND EXISTS (SELECT 1 FROM c)
     GROUP BY r.event_seq, r.progress
  ), ev AS (
    INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data, seq)
    SELECT p_job_id, o.id, 'taskStarted',
           jsonb_build_object('type', 'taskStarted', 'task_key', o.task_key,
                              'label', o.display_label, 'attempt', o.attempt_count,
                              'progress', w.prog),
           w.seq0 + o.i
      FROM o, w
  )
  SELECT count(*), max(w.seq0), max(w.prog),
         jsonb_agg(jsonb_build_object(
           'id', o.id, 'task_key', o.task_key, 'attempt', o.attempt_count,
           'label', o.display_label, 'max_attempts', o.max_attempts,
           'prev_error', CASE WHEN o.attempt_count > 1 THEN (
             SELECT pa.error FROM engine_v2.job_task_attempts pa
              WHERE pa.task_id = o.id AND pa.attempt_no = o.attempt_count - 1) END)
           ORDER BY o.i)
    INTO v_n, v_seq, v_prog, v_out
    FROM o, w;
  IF v_n = 0 THEN
    RETURN '[]'::jsonb;
  END IF;
  v_cur[1] := set_config('engine_v2.ev',
    p_job_id::text || '/' || (v_seq + v_n) || '/' || v_prog, true);
  RETURN v_out;
END;
$$;

-- Where the job stands after a change: deadlock detection (8.6) and "finalize now?".
CREATE FUNCTION engine_v2._settle(p_job_id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_stuck text[];
  v_ids uuid[];
  v_job record;
  v_cur text[] := string_to_array(nullif(current_setting('engine_v2.ev', true), ''), '/');
  v_intent text;
BEGIN
  -- The job's row and its task counts in one statement; when this call emitted
  -- events, that statement is also the flush of the event cursor (_flush_events).
  IF v_cur IS NOT NULL AND v_cur[1] = p_job_id::text THEN
    UPDATE engine_v2.job_runs r
       SET event_seq = v_cur[2]::bigint, progress = greatest(r.progress, v_cur[3]::int)
      FROM (SELECT count(*) FILTER (WHERE status = 'ready') AS ready,
                   count(*) FILTER (WHERE status = 'running') AS running,
                   count(*) FILTER (WHERE status IN ('pending', 'blocked')) AS waiting,
                   count(*) FILTER (WHERE status IN ('failed', 'canceled')) AS bad,
                   count(*) AS total
              FROM engine_v2.job_tasks WHERE job_id = p_job_id) c
     WHERE r.job_id = p_job_id
    RETURNING r.status, r.error_code, r.mode, r.progress, r.draining,
              extract(epoch FROM coalesce(r.finished_at, now()) - r.created_at)::float8
                AS duration_s,
              c.ready, c.running, c.waiting, c.bad, c.total
      INTO v_job;
    v_cur[1] := set_config('engine_v2.ev', '', true);
  ELSE
    SELECT r.status, r.error_code, r.mode, r.progress, r.draining,
           extract(epoch FROM coalesce(r.finished_at, now()) - r.created_at)::float8
             AS duration_s,
           c.ready, c.running, c.waiting, c.bad, c.total
      INTO v_job
      FROM engine_v2.job_runs r,
           (SELECT count(*) FILTER (WHERE status = 'ready') AS ready,
                   count(*) FILTER (WHERE status = 'running') AS running,
                   count(*) FILTER (WHERE status IN ('pending', 'blocked')) AS waiting,
                   count(*) FILTER (WHERE status IN ('failed', 'canceled')) AS bad,
                   count(*) AS total
              FROM engine_v2.job_tasks WHERE job_id = p_job_id) c
     WHERE r.job_id = p_job_id;
  END IF;

  IF v_job.ready = 0 AND v_job.running = 0 AND v_job.waiting > 0 THEN
    SELECT array_agg(task_key ORDER BY position), array_agg(id ORDER BY position)
      INTO v_stuck, v_ids
      FROM engine_v2.job_tasks
     WHERE job_id = p_job_id AND status IN ('pending', 'blocked');
    PERFORM engine_v2._event(p_job_id, NULL, 'dagDeadlock',
      jsonb_build_object('error_code', 'v2_dag_deadlock', 'stuck', to_jsonb(v_stuck)));
    PERFORM engine_v2._cancel_tasks(p_job_id, v_ids, 'v2_dag_deadlock',
      'dag deadlock: nothing ready or running, stuck: ' || array_to_string(v_stuck, ', '));
    PERFORM engine_v2._fail_job(p_job_id, 'v2_dag_deadlock',
      'dag deadlock: nothing ready or running, stuck: ' || array_to_string(v_stuck, ', '),
      jsonb_build_object('stuck', to_jsonb(v_stuck)));
    PERFORM engine_v2._flush_events(p_job_id);
    SELECT status, error_code, progress, draining,
           extract(epoch FROM coalesce(finished_at, now()) - created_at)::float8
      INTO v_job.status, v_job.error_code, v_job.progress, v_job.draining, v_job.duration_s
      FROM engine_v2.job_runs WHERE job_id = p_job_id;
    v_job.bad := v_job.bad + v_job.waiting;
    v_job.waiting := 0;
  END IF;

  IF v_job.status = 'running' AND v_job.total > 0
     AND v_job.ready + v_job.running + v_job.waiting = 0 AND v_job.bad > 0 THEN
    -- Cannot happen through the functions here; keep 8.5 and fail loudly if it does.
    PERFORM engine_v2._fail_job(p_job_id, 'v2_scheduler_error',
      'job has failed or canceled tasks but was still running', '{}');
    v_job.status := 'failed';
    v_job.error_code := 'v2_scheduler_error';
  END IF;
  IF v_job.draining IS DISTINCT FROM
     (v_job.status <> 'running' AND v_job.ready + v_job.running + v_job.waiting > 0) THEN
    UPDATE engine_v2.job_runs
       SET draining = (v_job.status <> 'running'
                       AND v_job.ready + v_job.running + v_job.waiting > 0)
     WHERE job_id = p_job_id;
  END IF;

  IF v_job.status = 'running' AND v_job.ready + v_job.running + v_job.waiting = 0 THEN
    SELECT output->>'intent' INTO v_intent FROM engine_v2.job_tasks
     WHERE job_id = p_job_id AND task_key = 'intent';
  END IF;
  RETURN jsonb_build_object(
    'ready', v_job.ready, 'running', v_job.running,
    'active', v_job.ready + v_job.running + v_job.waiting,
    'job_status', v_job.status, 'error_code', v_job.error_code, 'mode', v_job.mode,
    'progress', v_job.progress, 'duration_s', v_job.duration_s,
    'finalize', v_job.status = 'running' AND v_job.total > 0
                AND v_job.ready + v_job.running + v_job.waiting + v_job.bad = 0,
    'intent', v_intent);
END;
$$;

-- The step envelope: settle, plus the job end this transaction caused (if any).
CREATE FUNCTION engine_v2._step(p_job_id uuid, p_status_before text, p_extra jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_state jsonb;
BEGIN
  v_state := engine_v2._settle(p_job_id);  -- flushes the call's events
  IF current_setting('engine_v2.ev', true) <> '' THEN
    PERFORM engine_v2._flush_events(p_job_id);  -- events _settle emitted after its read
  END IF;
  RETURN v_state || jsonb_build_object('result', 'ok',
    'ended', CASE WHEN p_status_before = 'running' AND v_state->>'job_status' <> 'running'
                  THEN v_state->>'job_status' END) || coalesce(p_extra, '{}');
END;
$$;

-- ---------------------------------------------------------------- public API

-- Write all job_tasks and job_task_dependencies rows of a job in one transaction and
-- promote the roots. Idempotent: when the job already has tasks nothing changes and
-- the result says created=false (with the outputs of succeeded tasks, for resuming).
-- p_tasks: [{key, role, weight, label, max_attempts, position}], p_edges: [[pred, succ]].
-- Edges naming an unknown predecessor, and self-edges, cannot be stored: their
-- successor is materialized 'blocked' so 8.6 detects the deadlock at run time.
CREATE FUNCTION engine_v2.materialize_job(p_job_id uuid, p_tasks jsonb, p_edges jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_outputs jsonb;
BEGIN
  PERFORM 1 FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'engine_v2.materialize_job: no job_runs row for job %', p_job_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF EXISTS (SELECT 1 FROM engine_v2.job_tasks WHERE job_id = p_job_id) THEN
    SELECT coalesce(jsonb_object_agg(task_key, output), '{}') INTO v_outputs
      FROM engine_v2.job_tasks WHERE job_id = p_job_id AND status = 'succeeded';
    RETURN jsonb_build_object('created', false, 'outputs', v_outputs);
  END IF;

  INSERT INTO engine_v2.job_tasks
    (job_id, task_key, agent_role, weight, display_label, max_attempts, base_max_attempts,
     position)
  SELECT p_job_id, t->>'key', t->>'role', (t->>'weight')::int, t->>'label',
         (t->>'max_attempts')::int, (t->>'max_attempts')::int, (t->>'position')::int
    FROM jsonb_array_elements(p_tasks) t;

  INSERT INTO engine_v2.job_task_dependencies (predecessor_task_id, successor_task_id)
  SELECT DISTINCT p.id, s.id
    FROM jsonb_array_elements(coalesce(p_edges, '[]')) e
    JOIN engine_v2.job_tasks p ON p.job_id = p_job_id AND p.task_key = e->>0
    JOIN engine_v2.job_tasks s ON s.job_id = p_job_id AND s.task_key = e->>1
   WHERE p.id <> s.id;

  UPDATE engine_v2.job_tasks s
     SET status = 'blocked',
         blocked_reason = 'dangling dependency: ' || (
           SELECT string_agg(e->>0 || ' -> ' || (e->>1), ', ')
             FROM jsonb_array_elements(coalesce(p_edges, '[]')) e
            WHERE e->>1 = s.task_key
              AND (e->>0 = e->>1 OR NOT EXISTS (
                    SELECT 1 FROM engine_v2.job_tasks p
                     WHERE p.job_id = p_job_id AND p.task_key = e->>0)))
   WHERE s.job_id = p_job_id
     AND EXISTS (
       SELECT 1 FROM jsonb_array_elements(coalesce(p_edges, '[]')) e
        WHERE e->>1 = s.task_key
          AND (e->>0 = e->>1 OR NOT EXISTS (
                SELECT 1 FROM engine_v2.job_tasks p
                 WHERE p.job_id = p_job_id AND p.task_key = e->>0)));

  PERFORM engine_v2._promote(p_job_id);
  PERFORM engine_v2._flush_events(p_job_id);
  RETURN jsonb_build_object('created', true, 'outputs', '{}'::jsonb);
END;
$$;

-- materialize_job and the first claims (claim_task with p_more) in one transaction: a
-- fresh job's first hand-off is one round trip. Returns claim_task's step plus
-- 'created' and 'outputs'.
CREATE FUNCTION engine_v2.start_job(
  p_job_id uuid, p_tasks jsonb, p_edges jsonb, p_owner text, p_more int DEFAULT 0
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_made jsonb := engine_v2.materialize_job(p_job_id, p_tasks, p_edges);
BEGIN
  RETURN engine_v2.claim_task(p_job_id, p_owner, p_more) || v_made;
END;
$$;

-- Claim the next ready task for a worker of the job's owner (fenced on job_runs.owner).
-- result: 'ok' (task may be null), 'stale' (owner differs), 'missing'.
-- p_more: claim up to that many further ready tasks ('more'), for idle sibling workers.
CREATE FUNCTION engine_v2.claim_task(p_job_id uuid, p_owner text, p_more int DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_tasks jsonb := '[]'::jsonb;
BEGIN
  SELECT status, owner, cancel_requested INTO v_job
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('result', 'missing');
  END IF;
  IF v_job.owner IS DISTINCT FROM p_owner THEN
    RETURN jsonb_build_object('result', 'stale', 'reason', 'owner', 'owner', v_job.owner);
  END IF;
  IF v_job.status IN ('running', 'failed') AND NOT v_job.cancel_requested THEN
    v_tasks := engine_v2._claim_many(p_job_id, 1 + greatest(coalesce(p_more, 0), 0));
  END IF;
  RETURN engine_v2._step(p_job_id, v_job.status, jsonb_build_object(
    'task', v_tasks->0, 'more', coalesce(v_tasks - 0, '[]'::jsonb)));
END;
$$;

-- Finish a claimed attempt and, optionally, claim the next task for the same worker.
-- Fenced: the task must be running with attempt_count = p_attempt and the job's owner
-- must be p_owner; otherwise nothing changes and result = 'stale'.
-- p_status: succeeded | failed | canceled.
-- p_error: {code, message, retryable, kind, ...}; p_usage: {latency_ms, tokens_in,
-- tokens_out, cost_usd}; p_artifacts: [{id?, kind, uri, content, metadata}];
-- p_skip: {task_key: reason} marks for 7.4; p_partial: partialResult data or NULL;
-- p_job_error_code: the job-level code if this failure ends the task for good.
CREATE FUNCTION engine_v2.complete_task(
  p_job_id uuid,
  p_task_id uuid,
  p_attempt int,
  p_owner text,
  p_status text,
  p_output jsonb DEFAULT NULL,
  p_input jsonb DEFAULT NULL,
  p_error jsonb DEFAULT NULL,
  p_usage jsonb DEFAULT NULL,
  p_artifacts jsonb DEFAULT NULL,
  p_skip jsonb DEFAULT NULL,
  p_partial jsonb DEFAULT NULL,
  p_job_error_code text DEFAULT NULL,
  p_claim boolean DEFAULT false,
  p_more int DEFAULT 0
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_task record;
  v_status text := p_status;
  v_next jsonb := '[]'::jsonb;
  v_retry boolean;
  v_usage jsonb := coalesce(p_usage, '{}'::jsonb);
  v_skipped text[];
  v_before text;
  v_now_status text;
  v_now_cancel boolean;
  v_cur text[];
  v_seq bigint;
  v_prog int;
  v_prom uuid[];
  v_skip_any boolean;
  v_claimed boolean := false;
BEGIN
  IF p_status NOT IN ('succeeded', 'failed', 'canceled') THEN
    RAISE EXCEPTION 'engine_v2.complete_task: bad status %', p_status USING ERRCODE = '22023';
  END IF;
  SELECT status, owner, cancel_requested, event_seq, progress INTO v_job
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.owner IS DISTINCT FROM p_owner THEN
    RETURN jsonb_build_object('result', 'stale', 'reason', 'owner', 'owner', v_job.owner);
  END IF;
  v_before := v_job.status;
  IF v_job.cancel_requested OR v_job.status = 'canceled' THEN
    v_status := 'canceled';
  END IF;

  IF v_status = 'succeeded' THEN
    -- The hot path: fence, task, attempt, artifacts and the partialResult + taskDone
    -- events in one statement. The events are what _events would write: seq from the
    -- call's cursor (or the job row read under the lock), progress with this task
    -- terminal (the statement's snapshot still sees it running).
    v_cur := string_to_array(nullif(current_setting('engine_v2.ev', true), ''), '/');
    IF v_cur IS NOT NULL AND v_cur[1] = p_job_id::text THEN
      v_seq := v_cur[2]::bigint;
      v_prog := v_cur[3]::int;
    ELSE
      IF v_cur IS NOT NULL THEN
        PERFORM engine_v2._flush_events(v_cur[1]::uuid);  -- another job's call (defensive)
      END IF;
      v_seq := v_job.event_seq;
      v_prog := v_job.progress;
    END IF;
    WITH t AS (
      UPDATE engine_v2.job_tasks
         SET status = 'succeeded', output = coalesce(p_output, '{}'),
             input = coalesce(p_input, input), progress = 100, finished_at = now(),
             error_code = NULL, error_message = NULL
       WHERE id = p_task_id AND job_id = p_job_id AND status = 'running'
         AND attempt_count = p_attempt
      RETURNING id, task_key, attempt_count, max_attempts, display_label, weight
    ), a AS (
      UPDATE engine_v2.job_task_attempts
         SET status = 'succeeded', ended_at = clock_timestamp(),
             latency_ms = (v_usage->>'latency_ms')::int,
             tokens_in = (v_usage->>'tokens_in')::int,
             tokens_out = (v_usage->>'tokens_out')::int,
             cost_usd = (v_usage->>'cost_usd')::numeric,
             error = NULL
       WHERE task_id = p_task_id AND attempt_no = p_attempt AND EXISTS (SELECT 1 FROM t)
    ), ar AS (
      INSERT INTO engine_v2.job_task_artifacts (id, job_id, task_id, kind, uri, content, metadata)
      SELECT coalesce((x->>'id')::uuid, gen_random_uuid()), p_job_id, p_task_id, x->>'kind',
             x->>'uri', x->'content', coalesce(x->'metadata', '{}')
        FROM jsonb_array_elements(coalesce(p_artifacts, '[]'::jsonb)) x
       WHERE EXISTS (SELECT 1 FROM t)
    ), w AS (
      SELECT coalesce(sum(greatest(weight, 0)), 0) AS total,
             coalesce(sum(greatest(weight, 0)) FILTER (
               WHERE status IN ('succeeded', 'skipped', 'failed', 'canceled')), 0) AS term
        FROM engine_v2.job_tasks WHERE job_id = p_job_id
    ), p AS (
      SELECT t.id, t.task_key, t.attempt_count, t.max_attempts, t.display_label,
             greatest(v_prog, least(99, CASE WHEN w.total = 0 THEN 0
               ELSE (100 * (w.term + greatest(t.weight, 0)) / w.total)::int END)) AS prog
        FROM t, w
    ), ev AS (
      INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data, seq)
      SELECT p_job_id, p_task_id, e.typ,
             jsonb_build_object('type', e.typ) || e.dat || jsonb_build_object('progress', p.prog),
             v_seq + e.k - CASE WHEN p_partial IS NULL THEN 1 ELSE 0 END
        FROM p, LATERAL (VALUES
          (1, 'partialResult', jsonb_build_object('task_key', p.task_key) || p_partial),
          (2, 'taskDone', jsonb_build_object('task_key', p.task_key, 'label', p.display_label,
                                             'attempt', p_attempt,
                                             'latency_ms', v_usage->'latency_ms')))
          AS e(k, typ, dat)
       WHERE e.k = 2 OR p_partial IS NOT NULL
    )
    SELECT * INTO v_task FROM p;
    IF NOT FOUND THEN
      RETURN jsonb_build_object('result', 'stale', 'reason', 'attempt');
    END IF;
    v_seq := v_seq + CASE WHEN p_partial IS NULL THEN 1 ELSE 2 END;
    v_cur[1] := set_config('engine_v2.ev',
      p_job_id::text || '/' || v_seq || '/' || v_task.prog, true);
  ELSE
    SELECT id, task_key, attempt_count, max_attempts, display_label INTO v_task
      FROM engine_v2.job_tasks
     WHERE id = p_task_id AND job_id = p_job_id AND status = 'running'
       AND attempt_count = p_attempt
     FOR UPDATE;
    IF NOT FOUND THEN
      RETURN jsonb_build_object('result', 'stale', 'reason', 'attempt');
    END IF;
    UPDATE engine_v2.job_task_attempts
       SET status = CASE v_status WHEN 'canceled' THEN 'canceled' ELSE 'failed' END,
           ended_at = clock_timestamp(),
           latency_ms = (v_usage->>'latency_ms')::int,
           tokens_in = (v_usage->>'tokens_in')::int,
           tokens_out = (v_usage->>'tokens_out')::int,
           cost_usd = (v_usage->>'cost_usd')::numeric,
           error = p_error
     WHERE task_id = p_task_id AND attempt_no = p_attempt;
  END IF;

  IF v_status = 'succeeded' THEN
    IF p_skip IS NOT NULL AND p_skip <> '{}'::jsonb THEN
      UPDATE engine_v2.job_tasks t SET skip_reason = p_skip->>t.task_key
       WHERE t.job_id = p_job_id AND t.status = 'pending' AND p_skip ? t.task_key;
    END IF;
    v_prom := NULL;
    IF p_claim AND v_job.status IN ('running', 'failed') AND NOT v_job.cancel_requested THEN
      -- Promote and claim together: a task that becomes ready and is claimed at once
      -- goes pending -> running in one row update (nobody sees 'ready' in between:
      -- the job's row lock is held). A promotable task marked for a skip takes the
      -- general path (_promote: skips cascade and write events).
      SELECT coalesce(array_agg(t.id), '{}'), coalesce(bool_or(t.skip_reason IS NOT NULL), false)
        INTO v_prom, v_skip_any
        FROM engine_v2.job_tasks t
       WHERE t.job_id = p_job_id AND t.status = 'pending'
         AND NOT EXISTS (
           SELECT 1 FROM engine_v2.job_task_dependencies d
             JOIN engine_v2.job_tasks pred ON pred.id = d.predecessor_task_id
            WHERE d.successor_task_id = t.id
              AND pred.status NOT IN ('succeeded', 'skipped'));
      IF v_skip_any THEN
        v_prom := NULL;
      END IF;
    END IF;
    IF v_prom IS NULL THEN
      v_skipped := engine_v2._promote(p_job_id);
    ELSE
      v_next := engine_v2._claim_many(p_job_id, 1 + greatest(coalesce(p_more, 0), 0), v_prom);
      v_claimed := true;
    END IF;
  ELSIF v_status = 'failed' THEN
    UPDATE engine_v2.job_tasks SET input = coalesce(p_input, input) WHERE id = p_task_id;
    v_retry := coalesce((p_error->>'retryable')::boolean, false)
               AND v_task.attempt_count < v_task.max_attempts;
    IF v_retry THEN
      UPDATE engine_v2.job_tasks
         SET status = 'ready', error_code = p_error->>'code', error_message = p_error->>'message'
       WHERE id = p_task_id;
      PERFORM engine_v2._event(p_job_id, p_task_id, 'taskRetry',
        jsonb_build_object('task_key', v_task.task_key, 'attempt', p_attempt,
                           'next_attempt', p_attempt + 1, 'error', p_error));
    ELSE
      PERFORM engine_v2._task_failed(p_job_id, p_task_id, v_task.task_key, p_attempt,
        p_error, p_job_error_code);
    END IF;
  ELSE
    UPDATE engine_v2.job_tasks
       SET status = 'canceled', finished_at = now(),
           error_code = coalesce(p_error->>'code', 'canceled'),
           error_message = coalesce(p_error->>'message', 'canceled')
     WHERE id = p_task_id;
    PERFORM engine_v2._event(p_job_id, p_task_id, 'taskCanceled',
      jsonb_build_object('task_key', v_task.task_key, 'attempt', p_attempt,
                         'error_code', coalesce(p_error->>'code', 'canceled')));
    PERFORM engine_v2._cancel_downstream(p_job_id, p_task_id, v_task.task_key);
  END IF;

  IF p_claim AND NOT v_claimed THEN
    IF v_status = 'succeeded' THEN  -- a success never changes the job's status
      v_now_status := v_job.status;
      v_now_cancel := v_job.cancel_requested;
    ELSE
      SELECT status, cancel_requested INTO v_now_status, v_now_cancel
        FROM engine_v2.job_runs WHERE job_id = p_job_id;
    END IF;
    IF v_now_status IN ('running', 'failed') AND NOT v_now_cancel THEN
      v_next := engine_v2._claim_many(p_job_id, 1 + greatest(coalesce(p_more, 0), 0));
    END IF;
  END IF;
  RETURN engine_v2._step(p_job_id, v_before, jsonb_build_object(
    'task', v_next->0, 'more', coalesce(v_next - 0, '[]'::jsonb),
    'completed', v_status, 'task_key', v_task.task_key,
    -- the tasks this call skipped (marks set now or by an earlier completion)
    'skipped', coalesce(to_jsonb(v_skipped), '[]'::jsonb)));
END;
$$;

-- Success (called by the worker after building the v1 result, same transaction as the
-- last completion): succeeded, result, finished_at, progress 100, jobCompleted.
CREATE FUNCTION engine_v2.finish_job(p_job_id uuid, p_owner text, p_result jsonb)
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
         progress = 100, error_code = NULL
   WHERE job_id = p_job_id;
  PERFORM engine_v2._event(p_job_id, NULL, 'jobCompleted',
    jsonb_build_object('progress', 100), false);
  RETURN engine_v2._step(p_job_id, v_job.status, '{}');
END;
$$;

-- Fail a job from outside a task (timeout, invalid output, scheduler error): waiting
-- tasks canceled with p_cancel_code (default p_error_code), jobFailed + fallback.
-- Running tasks keep running until their worker reports (the runner aborts them).
CREATE FUNCTION engine_v2.fail_job(
  p_job_id uuid, p_owner text, p_error_code text, p_message text,
  p_cancel_code text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_ids uuid[];
BEGIN
  SELECT status, owner INTO v_job FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.owner IS DISTINCT FROM p_owner THEN
    RETURN jsonb_build_object('result', 'stale', 'reason', 'owner');
  END IF;
  SELECT array_agg(id) INTO v_ids FROM engine_v2.job_tasks
   WHERE job_id = p_job_id AND status IN ('pending', 'ready', 'blocked');
  IF v_ids IS NOT NULL THEN
    PERFORM engine_v2._cancel_tasks(p_job_id, v_ids, coalesce(p_cancel_code, p_error_code),
      'Canceled: job failed with ' || p_error_code);
  END IF;
  PERFORM engine_v2._fail_job(p_job_id, p_error_code, p_message, '{}');
  RETURN engine_v2._step(p_job_id, v_job.status, '{}');
END;
$$;

-- Operator cancel: job canceled (cancel_requested, fallback_triggered, error_code
-- 'canceled'), waiting tasks canceled, jobCanceled + fallback. Running attempts are
-- closed as canceled when their worker reports. False if the job was not running.
CREATE FUNCTION engine_v2.cancel_job(p_job_id uuid, p_reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_ids uuid[];
BEGIN
  UPDATE engine_v2.job_runs
     SET status = 'canceled', cancel_requested = true, finished_at = now(),
         fallback_triggered = true, error_code = 'canceled'
   WHERE job_id = p_job_id AND status = 'running';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  SELECT array_agg(id) INTO v_ids FROM engine_v2.job_tasks
   WHERE job_id = p_job_id AND status IN ('pending', 'ready', 'blocked');
  IF v_ids IS NOT NULL THEN
    PERFORM engine_v2._cancel_tasks(p_job_id, v_ids, 'canceled',
      'Canceled: ' || coalesce(p_reason, 'job canceled'));
  END IF;
  UPDATE engine_v2.job_runs SET draining = true
   WHERE job_id = p_job_id AND EXISTS (
     SELECT 1 FROM engine_v2.job_tasks WHERE job_id = p_job_id AND status = 'running');
  PERFORM engine_v2._event(p_job_id, NULL, 'jobCanceled',
    jsonb_build_object('reason', p_reason, 'error_code', 'canceled'));
  PERFORM engine_v2._event(p_job_id, NULL, 'fallback',
    jsonb_build_object('error_code', 'canceled', 'job_id', p_job_id), false);
  PERFORM engine_v2._flush_events(p_job_id);
  RETURN true;
END;
$$;

-- Re-run a failed or canceled job from its failed and canceled tasks. Attempt numbers
-- continue (history is kept); each re-run task gets a fresh budget:
-- max_attempts = attempt_count + base_max_attempts. The run goes back to 'running'
-- without an owner and NOTIFY engine_v2_jobs lets a daemon pick it up.
CREATE FUNCTION engine_v2.retry_job(p_job_id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_keys text[];
BEGIN
  SELECT status INTO v_job FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.status NOT IN ('failed', 'canceled') THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM engine_v2.job_tasks WHERE job_id = p_job_id AND status = 'running')
  THEN
    RAISE EXCEPTION 'engine_v2.retry_job: job % still has running tasks', p_job_id
      USING ERRCODE = '55000';
  END IF;
  WITH u AS (
    UPDATE engine_v2.job_tasks
       SET status = CASE WHEN blocked_reason IS NULL THEN 'pending' ELSE 'blocked' END,
           max_attempts = attempt_count + coalesce(base_max_attempts, max_attempts),
           error_code = NULL, error_message = NULL, started_at = NULL, finished_at = NULL,
           progress = 0
     WHERE job_id = p_job_id AND status IN ('failed', 'canceled', 'ready', 'pending')
    RETURNING task_key, position
  )
  SELECT array_agg(task_key ORDER BY position) INTO v_keys FROM u;
  UPDATE engine_v2.job_runs
     SET status = 'running', error_code = NULL, finished_at = NULL, owner = NULL,
         lease_expires_at = NULL, cancel_requested = false, fallback_triggered = false,
         result = NULL, draining = false
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

-- Takeover: the caller (p_owner) now holds the lease. Attempts the dead owner left
-- running count as failed (worker_lost, retryable): back to ready while the budget
-- lasts, else failed with propagation; on a canceled job they are canceled.
CREATE FUNCTION engine_v2.recover_job(p_job_id uuid, p_owner text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  r record;
  v_err jsonb := jsonb_build_object('code', 'worker_lost',
    'message', 'the daemon running this attempt was lost (lease expired)',
    'retryable', true, 'kind', 'WorkerLost');
  v_retried int := 0;
  v_failed int := 0;
  v_canceled int := 0;
BEGIN
  SELECT status, owner, cancel_requested INTO v_job
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.owner IS DISTINCT FROM p_owner THEN
    RETURN jsonb_build_object('result', 'stale', 'reason', 'owner');
  END IF;
  FOR r IN
    SELECT id, task_key, attempt_count, max_attempts FROM engine_v2.job_tasks
     WHERE job_id = p_job_id AND status = 'running'
     ORDER BY position
     FOR UPDATE
  LOOP
    UPDATE engine_v2.job_task_attempts
       SET status = CASE WHEN v_job.cancel_requested THEN 'canceled' ELSE 'failed' END,
           ended_at = clock_timestamp(), error = v_err,
           latency_ms = (extract(epoch FROM clock_timestamp() - started_at) * 1000)::int
     WHERE task_id = r.id AND attempt_no = r.attempt_count AND status = 'running';
    IF v_job.cancel_requested OR v_job.status = 'canceled' THEN
      UPDATE engine_v2.job_tasks
         SET status = 'canceled', finished_at = now(), error_code = 'canceled',
             error_message = 'canceled'
       WHERE id = r.id;
      PERFORM engine_v2._event(p_job_id, r.id, 'taskCanceled',
        jsonb_build_object('task_key', r.task_key, 'attempt', r.attempt_count,
                           'error_code', 'canceled'));
      v_canceled := v_canceled + 1;
    ELSIF r.attempt_count < r.max_attempts THEN
      UPDATE engine_v2.job_tasks
         SET status = 'ready', error_code = 'worker_lost', error_message = v_err->>'message'
       WHERE id = r.id;
      PERFORM engine_v2._event(p_job_id, r.id, 'taskRetry',
        jsonb_build_object('task_key', r.task_key, 'attempt', r.attempt_count,
                           'next_attempt', r.attempt_count + 1, 'error', v_err));
      v_retried := v_retried + 1;
    ELSE
      PERFORM engine_v2._task_failed(p_job_id, r.id, r.task_key, r.attempt_count, v_err,
        'v2_task_failed');
      v_failed := v_failed + 1;
    END IF;
  END LOOP;
  PERFORM engine_v2._promote(p_job_id);
  RETURN engine_v2._step(p_job_id, v_job.status, jsonb_build_object(
    'retried', v_retried, 'failed', v_failed, 'canceled', v_canceled));
END;
$$;

-- Functions are for the service role only; the owner (migrating role) keeps EXECUTE.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'engine_v2'
       AND p.proname IN ('_event', '_events', '_flush_events', '_promote', '_cancel_tasks',
         '_cancel_downstream', '_fail_job', '_task_failed', '_claim_many',
         '_settle', '_step', 'materialize_job', 'start_job', 'claim_task', 'complete_task', 'finish_job', 'fail_job',
         'cancel_job', 'retry_job', 'recover_job')
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END;
$$;
