-- The success hot path of a batch, set-based (issue 17): the successes of many jobs
-- recorded, promoted and claimed by a handful of statements instead of one function
-- chain (task_succeeded -> _record_success, _advance, _claim_many, _step, _settle) each.
--
-- Only for one item per job (the caller, _batch_steps, calls again for a job's next
-- item), a success of a job running and not draining, with no 7.4 skip marks (the
-- caller sends the rest through _batch_item, after these). Everything else that is
-- uncommon falls back, per job, to the per-item functions: a promotable task marked
-- for a skip (_advance: skips cascade and write events), a job whose counts say
-- deadlock or a bad end (_step: _settle decides).
-- What it writes and returns is what task_succeeded would, item by item: the same fence
-- (owner, then attempt), rows, events with their seq and progress, claims in position
-- order, and the step envelope.
--
-- p_items: the batch (complete_batch's items); p_fast: the 0-based indexes of the items
-- taken here ({kind: succeeded, job_id, task_id, attempt, owner, output, input, usage,
-- artifacts, partial, claim, more}); every job already locked by complete_batch.
-- Returns {"<i>": step, ...}.
CREATE OR REPLACE FUNCTION engine_v2._batch_successes(p_items jsonb, p_fast int[])
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_done jsonb;      -- [{i, job_id, task_key, n (claims wanted, 0 = none)}] recorded
  v_slow uuid[];     -- jobs whose promotion meets a skip mark
  v_claims jsonb;    -- {"<job_id>": [claim, ...]} of the set-based claims
  v_steps jsonb := '{}';
  v_odd uuid[];      -- jobs _settle must look at (deadlock, bad end)
  v_x record;
  v_next jsonb;
  v_skipped text[];
  -- Keys as arrays: every statement below reaches its rows through an index (a jsonb
  -- set function's row estimate would otherwise pick scans of whole tables).
  v_jobs uuid[] := engine_v2._batch_keys(p_items, p_fast, 'job_id');
  v_tasks uuid[] := engine_v2._batch_keys(p_items, p_fast, 'task_id');
  v_done_jobs uuid[];
  v_claim_jobs uuid[];
BEGIN
  -- 1. Fence and record: tasks, attempts, artifacts, partialResult + taskDone, cursor.
  WITH it AS (
    SELECT f.i, x.* FROM unnest(p_fast) AS f(i), LATERAL jsonb_to_record(p_items -> f.i) AS x(
      job_id uuid, task_id uuid, attempt int, owner text, output jsonb, input jsonb,
      usage jsonb, artifacts jsonb, partial jsonb, claim boolean, more int)
  ), j AS (
    SELECT r.job_id, r.owner, r.event_seq, r.progress,
           r.status = 'running' AND NOT r.cancel_requested AS may_claim
      FROM engine_v2.job_runs r WHERE r.job_id = ANY (v_jobs)
  ), t AS (
    UPDATE engine_v2.job_tasks k
       SET status = 'succeeded', output = coalesce(it.output, '{}'),
           input = coalesce(it.input, k.input), progress = 100, finished_at = now(),
           error_code = NULL, error_message = NULL
      FROM it JOIN j ON j.job_id = it.job_id AND j.owner IS NOT DISTINCT FROM it.owner
     WHERE k.id = ANY (v_tasks) AND k.id = it.task_id AND k.job_id = it.job_id
       AND k.status = 'running' AND k.attempt_count = it.attempt
    RETURNING it.i, k.id, k.job_id, k.task_key, k.display_label, k.weight
  ), a AS (
    UPDATE engine_v2.job_task_attempts x
       SET status = 'succeeded', ended_at = clock_timestamp(), error = NULL,
           latency_ms = (it.usage->>'latency_ms')::int,
           tokens_in = coalesce((it.usage->>'tokens_in')::int, 0),  -- never NULL: charge_attempt
           tokens_out = coalesce((it.usage->>'tokens_out')::int, 0),
           cost_usd = (it.usage->>'cost_usd')::numeric
      FROM t JOIN it ON it.i = t.i
     WHERE x.task_id = t.id AND x.attempt_no = it.attempt
  ), ar AS (
    INSERT INTO engine_v2.job_task_artifacts (id, job_id, task_id, kind, uri, content, metadata)
    SELECT coalesce((e->>'id')::uuid, gen_random_uuid()), t.job_id, t.id, e->>'kind',
           e->>'uri', e->'content', coalesce(e->'metadata', '{}')
      FROM t JOIN it ON it.i = t.i,
           LATERAL jsonb_array_elements(coalesce(it.artifacts, '[]'::jsonb)) e
  ), w AS (
    SELECT k.job_id, coalesce(sum(greatest(k.weight, 0)), 0) AS total,
           coalesce(sum(greatest(k.weight, 0)) FILTER (
             WHERE k.status IN ('succeeded', 'skipped', 'failed', 'canceled')), 0) AS term
      FROM engine_v2.job_tasks k WHERE k.job_id = ANY (v_jobs) GROUP BY k.job_id
  ), p AS (
    -- the statement's snapshot still sees the task running: its weight is added
    SELECT t.i, t.id, t.job_id, t.task_key, t.display_label, j.event_seq, it.partial,
           it.attempt, it.usage, j.may_claim AND coalesce(it.claim, false) AS claim,
           1 + greatest(coalesce(it.more, 0), 0) AS n,
           greatest(j.progress, least(99, CASE WHEN w.total = 0 THEN 0
             ELSE (100 * (w.term + greatest(t.weight, 0)) / w.total)::int END)) AS prog
      FROM t JOIN it ON it.i = t.i JOIN j ON j.job_id = t.job_id JOIN w ON w.job_id = t.job_id
  ), ev AS (
    INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data, seq)
    SELECT p.job_id, p.id, e.typ,
           jsonb_build_object('type', e.typ) || e.dat || jsonb_build_object('progress', p.prog),
           p.event_seq + e.k - CASE WHEN p.partial IS NULL THEN 1 ELSE 0 END
      FROM p, LATERAL (VALUES
        (1, 'partialResult', jsonb_build_object('task_key', p.task_key) || coalesce(p.partial, '{}')),
        (2, 'taskDone', jsonb_build_object('task_key', p.task_key, 'label', p.display_label,
                                           'attempt', p.attempt,
                                           'latency_ms', p.usage->'latency_ms')))
        AS e(k, typ, dat)
     WHERE e.k = 2 OR p.partial IS NOT NULL
  )  -- the job's row (event cursor, progress) is written once, with the claims below
  SELECT jsonb_agg(jsonb_build_object('i', p.i, 'job_id', p.job_id, 'task_key', p.task_key,
                                      'n', CASE WHEN p.claim THEN p.n ELSE 0 END,
                                      'seq', p.event_seq + CASE WHEN p.partial IS NULL
                                                                THEN 1 ELSE 2 END,
                                      'prog', p.prog))
    INTO v_done FROM p;
  v_done := coalesce(v_done, '[]');
  v_done_jobs := ARRAY(SELECT (d->>'job_id')::uuid FROM jsonb_array_elements(v_done) d);

  -- Fenced off: the owner (the job is someone else's) or the attempt (not running it).
  SELECT coalesce(jsonb_object_agg(it.i::text, engine_v2._stale(
           CASE WHEN r.job_id IS NOT NULL AND r.owner IS NOT DISTINCT FROM it.owner
                THEN 'attempt' ELSE 'owner' END)),
         '{}')
    INTO v_steps
    FROM (SELECT f.i, (p_items #>> ARRAY[f.i::text, 'job_id'])::uuid AS job_id,
                 p_items #>> ARRAY[f.i::text, 'owner'] AS owner
            FROM unnest(p_fast) AS f(i)) it
    LEFT JOIN engine_v2.job_runs r ON r.job_id = it.job_id
   WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_done) d
                      WHERE (d->>'i')::int = it.i);

  -- 2. Promotion and claims. Per item (_advance) for a job that claims nothing (it
  -- only promotes) or whose promotion meets a task marked for a skip.
  SELECT coalesce(array_agg(DISTINCT job_id), '{}') INTO v_slow
    FROM (SELECT (d->>'job_id')::uuid AS job_id FROM jsonb_array_elements(v_done) d
           WHERE (d->>'n')::int = 0
          UNION ALL
          SELECT k.job_id FROM engine_v2.job_tasks k
           WHERE k.job_id = ANY (v_done_jobs)
             AND k.status = 'pending' AND k.skip_reason IS NOT NULL
             AND NOT EXISTS (
               SELECT 1 FROM engine_v2.job_task_dependencies dd
                 JOIN engine_v2.job_tasks pred ON pred.id = dd.predecessor_task_id
                WHERE dd.successor_task_id = k.id
                  AND pred.status NOT IN ('succeeded', 'skipped'))) s;

  v_claim_jobs := ARRAY(
    SELECT (e->>'job_id')::uuid FROM jsonb_array_elements(v_done) e
     WHERE (e->>'n')::int > 0 AND NOT ((e->>'job_id')::uuid = ANY (v_slow)));
  IF cardinality(v_slow) > 0 THEN  -- the per-item functions below read the job's row
    UPDATE engine_v2.job_runs r
       SET event_seq = (e->>'seq')::bigint, progress = greatest(r.progress, (e->>'prog')::int)
      FROM jsonb_array_elements(v_done) e
     WHERE r.job_id = ANY (v_slow) AND r.job_id = (e->>'job_id')::uuid;
  END IF;
  WITH d AS (
    SELECT (e->>'job_id')::uuid AS job_id, (e->>'n')::int AS n,
           (e->>'seq')::bigint AS seq, (e->>'prog')::int AS prog
      FROM jsonb_array_elements(v_done) e
     WHERE (e->>'job_id')::uuid = ANY (v_claim_jobs)
  ), prom AS (
    SELECT k.id FROM engine_v2.job_tasks k
     WHERE k.job_id = ANY (v_claim_jobs) AND k.status = 'pending'
       AND NOT EXISTS (
         SELECT 1 FROM engine_v2.job_task_dependencies dd
           JOIN engine_v2.job_tasks pred ON pred.id = dd.predecessor_task_id
          WHERE dd.successor_task_id = k.id AND pred.status NOT IN ('succeeded', 'skipped'))
  ), cand AS (
    SELECT k.id, k.job_id, row_number() OVER (
             PARTITION BY k.job_id ORDER BY k.position, k.created_at) AS rn
      FROM engine_v2.job_tasks k JOIN d ON d.job_id = k.job_id
     WHERE k.status = 'ready' OR k.id IN (SELECT id FROM prom)
  ), pick AS (
    SELECT cand.id, cand.job_id, cand.rn FROM cand JOIN d ON d.job_id = cand.job_id
     WHERE cand.rn <= d.n
  ), c AS (
    UPDATE engine_v2.job_tasks k
       SET status = 'running', started_at = now(), finished_at = NULL,
           attempt_count = k.attempt_count + 1
      FROM pick WHERE k.job_id = ANY (v_claim_jobs) AND k.id = pick.id
    RETURNING k.id, k.job_id, k.task_key, k.attempt_count, k.display_label, k.max_attempts,
              pick.rn
  ), r AS (
    UPDATE engine_v2.job_tasks k SET status = 'ready', finished_at = NULL
     WHERE k.job_id = ANY (v_claim_jobs) AND k.id IN (SELECT id FROM prom)
       AND k.id NOT IN (SELECT id FROM pick)
  ), a AS (
    INSERT INTO engine_v2.job_task_attempts (task_id, attempt_no, status, started_at)
    SELECT id, attempt_count, 'running', clock_timestamp() FROM c
  ), ev AS (
    INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data, seq)
    SELECT c.job_id, c.id, 'taskStarted',
           jsonb_build_object('type', 'taskStarted', 'task_key', c.task_key,
                              'label', c.display_label, 'attempt', c.attempt_count,
                              'progress', d.prog),
           d.seq + c.rn
      FROM c JOIN d ON d.job_id = c.job_id
  ), ju AS (  -- the job's row once: the cursor past this batch's events, the progress
    UPDATE engine_v2.job_runs r
       SET event_seq = d.seq + coalesce(n.cnt, 0), progress = greatest(r.progress, d.prog)
      FROM d LEFT JOIN (SELECT job_id, count(*) AS cnt FROM c GROUP BY job_id) n
             ON n.job_id = d.job_id
     WHERE r.job_id = ANY (v_claim_jobs) AND r.job_id = d.job_id
  )
  SELECT coalesce(jsonb_object_agg(job_id, claims), '{}') INTO v_claims
    FROM (SELECT c.job_id, jsonb_agg(jsonb_build_object(
                   'id', c.id, 'task_key', c.task_key, 'attempt', c.attempt_count,
                   'label', c.display_label, 'max_attempts', c.max_attempts,
                   'prev_error', CASE WHEN c.attempt_count > 1 THEN (
                     SELECT pa.error FROM engine_v2.job_task_attempts pa
                      WHERE pa.task_id = c.id AND pa.attempt_no = c.attempt_count - 1) END)
                   ORDER BY c.rn) AS claims
            FROM c GROUP BY c.job_id) g;

  -- 3. Where each job stands (_settle's counts); odd ends go through _step.
  SELECT coalesce(array_agg(job_id), '{}') INTO v_odd
    FROM (SELECT k.job_id,
                 count(*) FILTER (WHERE k.status = 'ready') AS ready,
                 count(*) FILTER (WHERE k.status = 'running') AS running,
                 count(*) FILTER (WHERE k.status IN ('pending', 'blocked')) AS waiting,
                 count(*) FILTER (WHERE k.status IN ('failed', 'canceled')) AS bad
            FROM engine_v2.job_tasks k
           WHERE k.job_id = ANY (v_done_jobs) AND NOT (k.job_id = ANY (v_slow))
           GROUP BY k.job_id) c
   WHERE (c.ready = 0 AND c.running = 0 AND c.waiting > 0)
      OR (c.ready + c.running + c.waiting = 0 AND c.bad > 0);

  FOR v_x IN SELECT (d->>'i')::int AS i, (d->>'job_id')::uuid AS job_id, d->>'task_key' AS task_key,
                  (d->>'n')::int AS n
             FROM jsonb_array_elements(v_done) d
            WHERE (d->>'job_id')::uuid = ANY (v_slow) OR (d->>'job_id')::uuid = ANY (v_odd)
  LOOP
    IF v_x.job_id = ANY (v_slow) THEN
      SELECT a.next, a.skipped INTO v_next, v_skipped
        FROM engine_v2._advance(v_x.job_id, NULL, v_x.n > 0, greatest(v_x.n - 1, 0)) a;
    ELSE
      v_next := coalesce(v_claims->(v_x.job_id::text), '[]'::jsonb);
      v_skipped := '{}';
    END IF;
    v_steps := v_steps || jsonb_build_object(v_x.i::text, engine_v2._completed(
      v_x.job_id, 'running', 'succeeded', v_x.task_key, v_next, v_skipped));
  END LOOP;

  SELECT v_steps || coalesce(jsonb_object_agg(s.i::text, s.step), '{}') INTO v_steps
    FROM (
      SELECT (d->>'i')::int AS i, jsonb_build_object(
               'ready', c.ready, 'running', c.running, 'active', c.ready + c.running + c.waiting,
               'job_status', r.status, 'error_code', r.error_code, 'mode', r.mode,
               'progress', r.progress,
               'duration_s', extract(epoch FROM coalesce(r.finished_at, now()) - r.created_at)::float8,
               'finalize', r.status = 'running' AND c.total > 0
                           AND c.ready + c.running + c.waiting + c.bad = 0,
               'intent', CASE WHEN r.status = 'running' AND c.ready + c.running + c.waiting = 0
                              THEN (SELECT k.output->>'intent' FROM engine_v2.job_tasks k
                                     WHERE k.job_id = r.job_id AND k.task_key = 'intent') END,
               'result', 'ok', 'ended', NULL,
               'task', coalesce(v_claims->(d->>'job_id'), '[]'::jsonb)->0,
               'more', coalesce(v_claims->(d->>'job_id'), '[]'::jsonb) - 0,
               'completed', 'succeeded', 'task_key', d->>'task_key',
               'skipped', '[]'::jsonb) AS step
        FROM jsonb_array_elements(v_done) d
        JOIN engine_v2.job_runs r ON r.job_id = (d->>'job_id')::uuid
                                 AND r.job_id = ANY (v_done_jobs)
        JOIN LATERAL (
          SELECT count(*) FILTER (WHERE k.status = 'ready') AS ready,
                 count(*) FILTER (WHERE k.status = 'running') AS running,
                 count(*) FILTER (WHERE k.status IN ('pending', 'blocked')) AS waiting,
                 count(*) FILTER (WHERE k.status IN ('failed', 'canceled')) AS bad,
                 count(*) AS total
            FROM engine_v2.job_tasks k WHERE k.job_id = r.job_id) c ON true
       WHERE NOT (r.job_id = ANY (v_slow)) AND NOT (r.job_id = ANY (v_odd))
    ) s;
  RETURN v_steps;
END;
$$;

REVOKE ALL ON FUNCTION engine_v2._batch_successes(jsonb, int[]) FROM PUBLIC;
