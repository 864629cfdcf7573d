-- Finishing a claimed attempt: one function per outcome (task_succeeded, task_failed,
-- task_canceled), one round trip and one commit per hand-off. A lost attempt (its daemon
-- died) is the takeover's business (30_takeover.sql), never reported by a worker.
--
-- Every one is fenced twice: the job's row is locked first and must be held by p_owner
-- (else result 'stale', reason 'owner'), and the task must still be running this very
-- attempt (else 'stale', reason 'attempt': a newer attempt runs, or the run's outcome was
-- decided meanwhile and the task was stopped). A failure or cancel while the job's
-- publish intent is recorded is 'stale', reason 'in_doubt': the commit may be live, and
-- only a takeover, which looks at production, may decide. p_usage is {latency_ms, tokens_in,
-- tokens_out, cost_usd}. With p_claim the call also claims the worker's next task and up
-- to p_more more for its idle siblings (step.task, step.more), while the job runs.
-- Each returns the step envelope (_step): counts, the job's end, the claims.

-- The job's row, locked, when p_owner holds it (else a row of NULLs). Only the columns
-- a hand-off needs are read: options and result (jsonb) are never detoasted here.
CREATE OR REPLACE FUNCTION engine_v2._owned_job(p_job_id uuid, p_owner text)
RETURNS engine_v2.job_runs
LANGUAGE plpgsql AS $$
DECLARE
  v engine_v2.job_runs;
BEGIN
  SELECT job_id, status, owner, cancel_requested, event_seq, progress, publish_commit,
         finished_at
    INTO v.job_id, v.status, v.owner, v.cancel_requested, v.event_seq, v.progress,
         v.publish_commit, v.finished_at
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF FOUND AND v.owner IS NOT DISTINCT FROM p_owner THEN
    RETURN v;
  END IF;
  RETURN NULL;
END;
$$;

-- The task's row, locked, when it is running attempt p_attempt of the job (the columns
-- a hand-off needs; input and output are not read).
CREATE OR REPLACE FUNCTION engine_v2._running_attempt(p_job_id uuid, p_task_id uuid, p_attempt int)
RETURNS engine_v2.job_tasks
LANGUAGE plpgsql AS $$
DECLARE
  v engine_v2.job_tasks;
BEGIN
  SELECT id, task_key, attempt_count, max_attempts, display_label
    INTO v.id, v.task_key, v.attempt_count, v.max_attempts, v.display_label
    FROM engine_v2.job_tasks
   WHERE id = p_task_id AND job_id = p_job_id AND status = 'running' AND attempt_count = p_attempt
   FOR UPDATE;
  RETURN v;
END;
$$;

-- Close an attempt row with its outcome, usage and error.
CREATE OR REPLACE FUNCTION engine_v2._close_attempt(
  p_task_id uuid, p_attempt int, p_status text, p_usage jsonb, p_error jsonb
) RETURNS void
LANGUAGE sql AS $$
  UPDATE engine_v2.job_task_attempts
     SET status = p_status, ended_at = clock_timestamp(), error = p_error,
         latency_ms = (p_usage->>'latency_ms')::int,
         tokens_in = coalesce((p_usage->>'tokens_in')::int, 0),  -- never NULL: charge_attempt
         tokens_out = coalesce((p_usage->>'tokens_out')::int, 0),
         cost_usd = (p_usage->>'cost_usd')::numeric
   WHERE task_id = p_task_id AND attempt_no = p_attempt;
$$;

-- The claims a completion hands back: only while the job runs and nobody canceled it.
DROP FUNCTION IF EXISTS engine_v2._next_claims(uuid, boolean, int, uuid[]);  -- a dead p_also
CREATE OR REPLACE FUNCTION engine_v2._next_claims(p_job_id uuid, p_claim boolean, p_more int)
RETURNS jsonb
LANGUAGE sql AS $$
  SELECT CASE WHEN p_claim AND EXISTS (
           SELECT 1 FROM engine_v2.job_runs
            WHERE job_id = p_job_id AND status = 'running' AND NOT cancel_requested)
         THEN engine_v2._claim_many(p_job_id, 1 + greatest(coalesce(p_more, 0), 0))
         ELSE '[]'::jsonb END;
$$;

-- The step a completion returns.
CREATE OR REPLACE FUNCTION engine_v2._completed(
  p_job_id uuid, p_before text, p_outcome text, p_task_key text, p_next jsonb,
  p_skipped text[] DEFAULT '{}'
) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT engine_v2._step(p_job_id, p_before, jsonb_build_object(
    'task', p_next->0, 'more', coalesce(p_next - 0, '[]'::jsonb),
    'completed', p_outcome, 'task_key', p_task_key,
    'skipped', coalesce(to_jsonb(p_skipped), '[]'::jsonb)));
$$;

CREATE OR REPLACE FUNCTION engine_v2._stale(p_reason text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('result', 'stale', 'reason', p_reason);
$$;

-- The success hot path in one statement: fence, task, attempt, artifacts, and the
-- partialResult + taskDone events (seq from the call's event cursor or the job row read
-- under the lock; progress with this task terminal, which the statement's snapshot
-- still sees running). The task's key, or NULL when the fence failed.
CREATE OR REPLACE FUNCTION engine_v2._record_success(
  p_job_id uuid, p_seq bigint, p_prog int, p_task_id uuid, p_attempt int, p_output jsonb,
  p_input jsonb, p_usage jsonb, p_artifacts jsonb, p_partial jsonb
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_cur text[] := string_to_array(nullif(current_setting('engine_v2.ev', true), ''), '/');
  v_seq bigint := p_seq;
  v_prog int := p_prog;
  v_done record;
BEGIN
  IF v_cur IS NOT NULL AND v_cur[1] = p_job_id::text THEN
    v_seq := v_cur[2]::bigint;
    v_prog := v_cur[3]::int;
  ELSIF v_cur IS NOT NULL THEN
    PERFORM engine_v2._flush_events(v_cur[1]::uuid);  -- another job's call (defensive)
  END IF;
  WITH t AS (
    UPDATE engine_v2.job_tasks
       SET status = 'succeeded', output = coalesce(p_output, '{}'),
           input = coalesce(p_input, input), progress = 100, finished_at = now(),
           error_code = NULL, error_message = NULL
     WHERE id = p_task_id AND job_id = p_job_id AND status = 'running'
       AND attempt_count = p_attempt
    RETURNING id, task_key, display_label, weight
  ), a AS (
    UPDATE engine_v2.job_task_attempts
       SET status = 'succeeded', ended_at = clock_timestamp(), error = NULL,
           latency_ms = (p_usage->>'latency_ms')::int,
           tokens_in = coalesce((p_usage->>'tokens_in')::int, 0),  -- never NULL: charge_attempt
           tokens_out = coalesce((p_usage->>'tokens_out')::int, 0),
           cost_usd = (p_usage->>'cost_usd')::numeric
     WHERE task_id = p_task_id AND attempt_no = p_attempt AND EXISTS (SELECT 1 FROM t)
  ), ar AS (
    INSERT INTO engine_v2.job_task_artifacts (id, job_id, task_id, kind, uri, content, metadata)
    SELECT coalesce((x->>'id')::uuid, gen_random_uuid()), p_job_id, p_task_id,
           x->>'kind', x->>'uri', x->'content', coalesce(x->'metadata', '{}')
      FROM jsonb_array_elements(coalesce(p_artifacts, '[]'::jsonb)) x
     WHERE EXISTS (SELECT 1 FROM t)
  ), w AS (
    SELECT coalesce(sum(greatest(weight, 0)), 0) AS total,
           coalesce(sum(greatest(weight, 0)) FILTER (
             WHERE status IN ('succeeded', 'skipped', 'failed', 'canceled')), 0) AS term
      FROM engine_v2.job_tasks WHERE job_id = p_job_id
  ), p AS (
    SELECT t.id, t.task_key, t.display_label,
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
                                           'latency_ms', p_usage->'latency_ms')))
        AS e(k, typ, dat)
     WHERE e.k = 2 OR p_partial IS NOT NULL
  )
  SELECT task_key, prog INTO v_done FROM p;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('engine_v2.ev', p_job_id::text || '/'
    || (v_seq + CASE WHEN p_partial IS NULL THEN 1 ELSE 2 END) || '/' || v_done.prog, true);
  RETURN v_done.task_key;
END;
$$;

-- After a success: the 7.4 skip marks, then promotion (8.1) and the next claims (p_claim:
-- the caller, holding the job's row lock, knows the job runs and nobody canceled it; a
-- success never changes that). A task
-- that becomes ready and is claimed at once goes pending -> running in one row update
-- (nobody sees 'ready' in between: the job's row lock is held); a promotable task marked
-- for a skip takes the general path (_promote: skips cascade and write events).
CREATE OR REPLACE FUNCTION engine_v2._advance(
  p_job_id uuid, p_skip jsonb, p_claim boolean, p_more int,
  OUT next jsonb, OUT skipped text[]
)
LANGUAGE plpgsql AS $$
DECLARE
  v_prom uuid[];
  v_skip_any boolean;
BEGIN
  skipped := '{}';
  IF p_skip IS NOT NULL AND p_skip <> '{}'::jsonb THEN
    UPDATE engine_v2.job_tasks t SET skip_reason = p_skip->>t.task_key
     WHERE t.job_id = p_job_id AND t.status = 'pending' AND p_skip ? t.task_key;
  END IF;
  IF p_claim THEN
    SELECT coalesce(array_agg(t.id), '{}'), coalesce(bool_or(t.skip_reason IS NOT NULL), false)
      INTO v_prom, v_skip_any
      FROM engine_v2.job_tasks t
     WHERE t.job_id = p_job_id AND t.status = 'pending'
       AND NOT EXISTS (
         SELECT 1 FROM engine_v2.job_task_dependencies d
           JOIN engine_v2.job_tasks pred ON pred.id = d.predecessor_task_id
          WHERE d.successor_task_id = t.id AND pred.status NOT IN ('succeeded', 'skipped'));
    IF NOT v_skip_any THEN
      next := engine_v2._claim_many(p_job_id, 1 + greatest(coalesce(p_more, 0), 0), v_prom);
      IF next <> '[]'::jsonb OR cardinality(v_prom) = 0 THEN
        RETURN;
      END IF;
    END IF;
  END IF;
  skipped := engine_v2._promote(p_job_id);
  next := CASE WHEN p_claim
               THEN engine_v2._claim_many(p_job_id, 1 + greatest(coalesce(p_more, 0), 0))
               ELSE '[]'::jsonb END;
END;
$$;

-- The attempt succeeded: output, attempt, artifacts, events, skips, promotion, claims.
CREATE OR REPLACE FUNCTION engine_v2.task_succeeded(
  p_job_id uuid, p_task_id uuid, p_attempt int, p_owner text,
  p_output jsonb, p_input jsonb DEFAULT NULL, p_usage jsonb DEFAULT '{}',
  p_artifacts jsonb DEFAULT NULL, p_skip jsonb DEFAULT NULL, p_partial jsonb DEFAULT NULL,
  p_claim boolean DEFAULT false, p_more int DEFAULT 0
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job record;
  v_key text;
  v_adv record;
BEGIN
  -- _owned_job inlined: the hottest path reads its five columns directly
  SELECT status, owner, cancel_requested, event_seq, progress INTO v_job
    FROM engine_v2.job_runs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND OR v_job.owner IS DISTINCT FROM p_owner THEN
    RETURN engine_v2._stale('owner');
  END IF;
  v_key := engine_v2._record_success(p_job_id, v_job.event_seq, v_job.progress, p_task_id,
    p_attempt, p_output, p_input, coalesce(p_usage, '{}'), p_artifacts, p_partial);
  IF v_key IS NULL THEN
    RETURN engine_v2._stale('attempt');
  END IF;
  v_adv := engine_v2._advance(p_job_id, p_skip,
    p_claim AND v_job.status = 'running' AND NOT v_job.cancel_requested, p_more);
  RETURN engine_v2._completed(p_job_id, v_job.status, 'succeeded', v_key, v_adv.next,
    v_adv.skipped);
END;
$$;

-- The attempt failed: another attempt follows while the error is retryable and the
-- budget lasts (taskRetry), else the task fails for good (8.4: downstream canceled, the
-- job fails with p_job_error_code, every branch still going is stopped).
CREATE OR REPLACE FUNCTION engine_v2.task_failed(
  p_job_id uuid, p_task_id uuid, p_attempt int, p_owner text, p_error jsonb,
  p_usage jsonb DEFAULT '{}', p_input jsonb DEFAULT NULL, p_job_error_code text DEFAULT NULL,
  p_claim boolean DEFAULT false, p_more int DEFAULT 0
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job engine_v2.job_runs := engine_v2._owned_job(p_job_id, p_owner);
  v_task engine_v2.job_tasks;
BEGIN
  IF v_job.job_id IS NULL THEN
    RETURN engine_v2._stale('owner');
  END IF;
  v_task := engine_v2._running_attempt(p_job_id, p_task_id, p_attempt);
  IF v_task.id IS NULL THEN
    RETURN engine_v2._stale('attempt');
  ELSIF v_job.publish_commit IS NOT NULL THEN
    RETURN engine_v2._stale('in_doubt');  -- may be live: only a takeover decides
  END IF;
  PERFORM engine_v2._close_attempt(p_task_id, p_attempt, 'failed', coalesce(p_usage, '{}'),
    p_error);
  IF p_input IS NOT NULL THEN
    UPDATE engine_v2.job_tasks SET input = p_input WHERE id = p_task_id;
  END IF;
  IF coalesce((p_error->>'retryable')::boolean, false)
     AND v_task.attempt_count < v_task.max_attempts THEN
    UPDATE engine_v2.job_tasks
       SET status = 'ready', error_code = p_error->>'code', error_message = p_error->>'message'
     WHERE id = p_task_id;
    PERFORM engine_v2._event(p_job_id, p_task_id, 'taskRetry',
      jsonb_build_object('task_key', v_task.task_key, 'attempt', p_attempt,
                         'next_attempt', p_attempt + 1, 'error', p_error));
  ELSE
    PERFORM engine_v2._task_failed(p_job_id, p_task_id, v_task.task_key, p_attempt, p_error,
      p_job_error_code);
  END IF;
  RETURN engine_v2._completed(p_job_id, v_job.status, 'failed', v_task.task_key,
    engine_v2._next_claims(p_job_id, p_claim, p_more));
END;
$$;

-- The attempt was canceled by its own worker (a stop it obeyed): the task and its
-- downstream are canceled.
CREATE OR REPLACE FUNCTION engine_v2.task_canceled(
  p_job_id uuid, p_task_id uuid, p_attempt int, p_owner text, p_error jsonb,
  p_usage jsonb DEFAULT '{}'
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job engine_v2.job_runs := engine_v2._owned_job(p_job_id, p_owner);
  v_task engine_v2.job_tasks;
  v_code text := coalesce(p_error->>'code', 'canceled');
BEGIN
  IF v_job.job_id IS NULL THEN
    RETURN engine_v2._stale('owner');
  END IF;
  v_task := engine_v2._running_attempt(p_job_id, p_task_id, p_attempt);
  IF v_task.id IS NULL THEN
    RETURN engine_v2._stale('attempt');
  ELSIF v_job.publish_commit IS NOT NULL THEN
    RETURN engine_v2._stale('in_doubt');
  END IF;
  PERFORM engine_v2._close_attempt(p_task_id, p_attempt, 'canceled', coalesce(p_usage, '{}'),
    p_error);
  UPDATE engine_v2.job_tasks
     SET status = 'canceled', finished_at = now(), error_code = v_code,
         error_message = coalesce(p_error->>'message', 'canceled')
   WHERE id = p_task_id;
  PERFORM engine_v2._event(p_job_id, p_task_id, 'taskCanceled',
    jsonb_build_object('task_key', v_task.task_key, 'attempt', p_attempt, 'error_code', v_code));
  PERFORM engine_v2._cancel_downstream(p_job_id, p_task_id, v_task.task_key);
  RETURN engine_v2._completed(p_job_id, v_job.status, 'canceled', v_task.task_key, '[]');
END;
$$;

-- A completion whose commit may have landed unacknowledged: the connection broke after
-- the call was sent, and the call, repeated, came back 'stale' (reason 'attempt'). When
-- the job is still p_owner's and the attempt is closed with p_outcome (succeeded |
-- failed), the first try committed: this returns the step it would have returned, with
-- the claims it made. Those are the attempts still running that its transaction opened,
-- the rows sharing the closed attempt row's xmin (one call, or one batch: a batch writes
-- all its items in one subtransaction, so two items of one job share their claims; the
-- caller hands each claim to one worker). 'ended' is reported when the job's end has the
-- same transaction time as the task's. Otherwise the same stale as the repeat. Read-only
-- but for _step's settling, like any call; the job's row is locked first.
CREATE OR REPLACE FUNCTION engine_v2.completion_landed(
  p_job_id uuid, p_task_id uuid, p_attempt int, p_owner text, p_outcome text
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job engine_v2.job_runs := engine_v2._owned_job(p_job_id, p_owner);
  v_task record;
  v_next jsonb;
  v_skipped text[];
BEGIN
  IF v_job.job_id IS NULL THEN
    RETURN engine_v2._stale('owner');
  END IF;
  SELECT t.task_key, t.finished_at, a.xmin AS tx INTO v_task
    FROM engine_v2.job_task_attempts a JOIN engine_v2.job_tasks t ON t.id = a.task_id
   WHERE a.task_id = p_task_id AND a.attempt_no = p_attempt AND t.job_id = p_job_id
     AND a.status = p_outcome AND p_outcome IN ('succeeded', 'failed');
  IF NOT FOUND THEN
    RETURN engine_v2._stale('attempt');
  END IF;
  v_next := engine_v2._running_claims(p_job_id, v_task.tx);
  SELECT coalesce(array_agg(task_key ORDER BY position), '{}') INTO v_skipped
    FROM engine_v2.job_tasks
   WHERE job_id = p_job_id AND status = 'skipped' AND xmin = v_task.tx;
  RETURN engine_v2._completed(p_job_id,
    CASE WHEN v_job.status = 'running' OR v_job.finished_at = v_task.finished_at
         THEN 'running' ELSE v_job.status END,
    p_outcome, v_task.task_key, v_next, v_skipped);
END;
$$;

-- The same for a job's start (start_job) repeated after a broken connection: the repeat
-- finds the DAG made ('created' false) and nothing ready. While no attempt of the job
-- has ended, every running attempt is the first try's claim (a fresh run's start is its
-- first hand-off), and they are returned as that step's; once one has ended the job
-- went further than its start, and nothing is claimed.
CREATE OR REPLACE FUNCTION engine_v2.start_landed(p_job_id uuid, p_owner text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job engine_v2.job_runs := engine_v2._owned_job(p_job_id, p_owner);
  v_next jsonb := '[]';
BEGIN
  IF v_job.job_id IS NULL THEN
    RETURN engine_v2._stale('owner');
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM engine_v2.job_task_attempts a JOIN engine_v2.job_tasks t ON t.id = a.task_id
     WHERE t.job_id = p_job_id AND a.status <> 'running')
  THEN
    v_next := engine_v2._running_claims(p_job_id, NULL);
  END IF;
  RETURN engine_v2._step(p_job_id, v_job.status, jsonb_build_object(
    'task', v_next->0, 'more', coalesce(v_next - 0, '[]'::jsonb), 'created', true,
    'outputs', '{}'::jsonb));
END;
$$;

-- The same for a claim (claim_task) repeated after a broken connection. A claim leaves
-- no closed attempt to recognise its transaction by, so the caller reads the id of each
-- try's transaction before claiming (scheduler.Claim) and asks here whether it
-- committed: its claims are then the running attempts that transaction wrote, returned
-- as the step's, with 'landed' true. The job's row is locked first, so a try still in
-- flight has ended, one way or the other, when its status is read.
CREATE OR REPLACE FUNCTION engine_v2.claim_landed(p_job_id uuid, p_owner text, p_txid bigint)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_job engine_v2.job_runs := engine_v2._owned_job(p_job_id, p_owner);
  v_landed boolean;
  v_next jsonb := '[]';
BEGIN
  IF v_job.job_id IS NULL THEN
    RETURN engine_v2._stale('owner');
  END IF;
  v_landed := coalesce(txid_status(p_txid) = 'committed', false);  -- NULL: long gone
  IF v_landed THEN
    v_next := engine_v2._running_claims(p_job_id, (p_txid % 4294967296)::text::xid);
  END IF;
  RETURN engine_v2._step(p_job_id, v_job.status, jsonb_build_object(
    'task', v_next->0, 'more', coalesce(v_next - 0, '[]'::jsonb), 'landed', v_landed));
END;
$$;

-- The running attempts of a job as claims (the shape _claim_many returns), only those
-- written by transaction p_tx when given.
CREATE OR REPLACE FUNCTION engine_v2._running_claims(p_job_id uuid, p_tx xid)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'id', t.id, 'task_key', t.task_key, 'attempt', t.attempt_count,
           'label', t.display_label, 'max_attempts', t.max_attempts,
           'prev_error', CASE WHEN t.attempt_count > 1 THEN (
             SELECT pa.error FROM engine_v2.job_task_attempts pa
              WHERE pa.task_id = t.id AND pa.attempt_no = t.attempt_count - 1) END)
           ORDER BY t.position, t.created_at), '[]')
    FROM engine_v2.job_tasks t
    JOIN engine_v2.job_task_attempts a ON a.task_id = t.id AND a.attempt_no = t.attempt_count
   WHERE t.job_id = p_job_id AND t.status = 'running' AND a.status = 'running'
     AND (p_tx IS NULL OR a.xmin = p_tx);
$$;

-- Money an attempt spent that no completion recorded: its worker lost the job (a
-- shutdown, a lost lease: the attempt is left to the takeover, which closes it without
-- a cost) or its completion was refused as stale. Added to the attempt row, not fenced
-- on the owner: it records what was spent and changes nothing else (a row some takeover
-- or cancel closed keeps its status, error and latency). Never to a row a completion
-- closed with its usage: that is this execution's spend already (a first try that
-- committed unacknowledged, then a takeover before the repeat, must not count twice).
-- A completion always leaves tokens_in set (0 when its usage named no tokens), a takeover
-- or cancel never does: that is how the two closings are told apart.
-- False when nothing was added (no such row, pruned, or recorded already).
CREATE OR REPLACE FUNCTION engine_v2.charge_attempt(p_task_id uuid, p_attempt int, p_usage jsonb)
RETURNS boolean
LANGUAGE sql AS $$
  WITH u AS (
    UPDATE engine_v2.job_task_attempts
       SET tokens_in = coalesce(tokens_in, 0) + coalesce((p_usage->>'tokens_in')::int, 0),
           tokens_out = coalesce(tokens_out, 0) + coalesce((p_usage->>'tokens_out')::int, 0),
           cost_usd = coalesce(cost_usd, 0) + coalesce((p_usage->>'cost_usd')::numeric, 0)
     WHERE task_id = p_task_id AND attempt_no = p_attempt
       AND (status = 'running' OR tokens_in IS NULL)
    RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM u);
$$;

DROP FUNCTION IF EXISTS engine_v2._record_success(engine_v2.job_runs, uuid, int, jsonb, jsonb,
  jsonb, jsonb, jsonb);  -- its first shape (a job_runs row as argument)
DROP FUNCTION IF EXISTS engine_v2.complete_task(uuid, uuid, int, text, text, jsonb, jsonb,
  jsonb, jsonb, jsonb, jsonb, jsonb, text, boolean, int);  -- 0003's one-for-all version

REVOKE ALL ON FUNCTION engine_v2._owned_job(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._running_attempt(uuid, uuid, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._close_attempt(uuid, int, text, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._next_claims(uuid, boolean, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._completed(uuid, text, text, text, jsonb, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._stale(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._record_success(uuid, bigint, int, uuid, int, jsonb, jsonb,
  jsonb, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._advance(uuid, jsonb, boolean, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.task_succeeded(uuid, uuid, int, text, jsonb, jsonb, jsonb,
  jsonb, jsonb, jsonb, boolean, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.task_failed(uuid, uuid, int, text, jsonb, jsonb, jsonb, text,
  boolean, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.task_canceled(uuid, uuid, int, text, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.completion_landed(uuid, uuid, int, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.start_landed(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.claim_landed(uuid, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2._running_claims(uuid, xid) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.charge_attempt(uuid, int, jsonb) FROM PUBLIC;
