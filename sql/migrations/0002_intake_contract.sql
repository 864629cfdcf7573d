-- Migration 2: the intake contract (the Node server's API) and the run bookkeeping the
-- daemon needs. Additive only: columns on engine_v2 tables, new functions, indexes.

-- The request, stored with its run, and the daemon's ownership of it.
ALTER TABLE engine_v2.job_runs
  ADD COLUMN user_id uuid,
  ADD COLUMN project_id text,
  ADD COLUMN message text,
  ADD COLUMN mode text NOT NULL DEFAULT 'live' CHECK (mode IN ('live', 'shadow')),
  ADD COLUMN options jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN owner text,                      -- daemon id holding the lease
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN claimed_at timestamptz,          -- first claim (pickup latency)
  ADD COLUMN takeover_count int NOT NULL DEFAULT 0,
  ADD COLUMN event_seq bigint NOT NULL DEFAULT 0,  -- last job_task_events.seq issued
  ADD COLUMN progress int NOT NULL DEFAULT 0,      -- weight-based, never decreases
  ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
  ADD COLUMN result jsonb,                    -- v1-shaped response on success
  ADD COLUMN updated_at timestamptz DEFAULT now();

CREATE TRIGGER trg_job_runs_updated_at
  BEFORE UPDATE ON engine_v2.job_runs
  FOR EACH ROW EXECUTE FUNCTION engine_v2.set_updated_at();

-- Unclaimed or lease-expired running jobs, oldest first.
CREATE INDEX idx_job_runs_running
  ON engine_v2.job_runs(created_at) WHERE status = 'running';

-- Per-job sequence numbers so a client can resume: "give me events after N".
ALTER TABLE engine_v2.job_task_events ADD COLUMN seq bigint;
CREATE UNIQUE INDEX idx_events_job_seq ON engine_v2.job_task_events(job_id, seq);

-- Append one event for a job and return its sequence number. The job_runs row lock
-- taken by the UPDATE orders events of one job; the NOTIFY is sent by the deferred
-- trigger below, once per committing transaction.
CREATE FUNCTION engine_v2.emit_event(
  p_job_id uuid, p_task_id uuid, p_event_type text, p_data jsonb DEFAULT '{}'
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
BEGIN
  UPDATE engine_v2.job_runs SET event_seq = event_seq + 1
   WHERE job_id = p_job_id
  RETURNING event_seq INTO v_seq;
  IF v_seq IS NULL THEN
    RAISE EXCEPTION 'engine_v2.emit_event: no job_runs row for job %', p_job_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data, seq)
  VALUES (p_job_id, p_task_id, p_event_type, coalesce(p_data, '{}'::jsonb), v_seq);
  RETURN v_seq;
END;
$$;

-- One NOTIFY engine_v2_events per committing transaction and job: the trigger fires at
-- commit for every row change of event_seq and reads the final value, so all payloads
-- of one transaction are identical and PostgreSQL delivers them once.
CREATE FUNCTION engine_v2.notify_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Exactly the documented text {"job_id": "...", "seq": N} (a uuid and a bigint need
  -- no escaping); json_build_object would write "job_id" : ... instead.
  PERFORM pg_notify(
    'engine_v2_events',
    format('{"job_id": "%s", "seq": %s}', NEW.job_id, coalesce(
      (SELECT event_seq FROM engine_v2.job_runs WHERE job_id = NEW.job_id)::text, 'null'))
  );
  RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER trg_job_runs_notify_events
  AFTER INSERT OR UPDATE OF event_seq ON engine_v2.job_runs
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION engine_v2.notify_events();

-- The intake contract. Validates, stores the request with a new run (status 'running'),
-- emits `jobSubmitted` and sends NOTIFY engine_v2_jobs {"job_id": ...}.
-- Returns true when a run was created, false when the job was already submitted.
CREATE FUNCTION engine_v2.submit_job(
  p_job_id uuid,
  p_user_id uuid,
  p_project_id text,
  p_message text,
  p_options jsonb DEFAULT '{}'
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_options jsonb := coalesce(p_options, '{}'::jsonb);
  v_mode text;
  v_key text;
  v_task text;
  v_spec jsonb;
  v_owner uuid;
  v_found boolean;
  v_tasks constant text[] := ARRAY['intent','plan','codegen','asset','qa_review','fix','publish_prep'];
BEGIN
  IF p_job_id IS NULL THEN
    RAISE EXCEPTION 'engine_v2.submit_job: p_job_id is required' USING ERRCODE = '22023';
  END IF;
  IF p_message IS NULL OR p_message !~ '[^[:space:]]' THEN  -- blank: any whitespace
    RAISE EXCEPTION 'engine_v2.submit_job: p_message is required' USING ERRCODE = '22023';
  END IF;
  IF jsonb_typeof(v_options) <> 'object' THEN
    RAISE EXCEPTION 'engine_v2.submit_job: p_options must be a JSON object'
      USING ERRCODE = '22023';
  END IF;
  FOR v_key IN SELECT jsonb_object_keys(v_options) LOOP
    IF v_key NOT IN ('mode', 'inject') THEN
      RAISE EXCEPTION 'engine_v2.submit_job: unknown option "%" (allowed: mode, inject)', v_key
        USING ERRCODE = '22023';
    END IF;
  END LOOP;

  v_mode := coalesce(v_options->>'mode', 'live');
  IF v_mode NOT IN ('live', 'shadow')
     OR (v_options ? 'mode' AND jsonb_typeof(v_options->'mode') <> 'string') THEN
    RAISE EXCEPTION 'engine_v2.submit_job: unknown mode % (allowed: live, shadow)',
      v_options->'mode' USING ERRCODE = '22023';
  END IF;

  IF v_options ? 'inject' THEN
    IF jsonb_typeof(v_options->'inject') <> 'object' THEN
      RAISE EXCEPTION 'engine_v2.submit_job: option inject must be an object keyed by task_key'
        USING ERRCODE = '22023';
    END IF;
    FOR v_task, v_spec IN SELECT * FROM jsonb_each(v_options->'inject') LOOP
      IF NOT v_task = ANY (v_tasks) THEN
        RAISE EXCEPTION 'engine_v2.submit_job: inject names unknown task "%"', v_task
          USING ERRCODE = '22023';
      END IF;
      IF jsonb_typeof(v_spec) <> 'object' THEN
        RAISE EXCEPTION 'engine_v2.submit_job: inject.% must be an object', v_task
          USING ERRCODE = '22023';
      END IF;
      FOR v_key IN SELECT jsonb_object_keys(v_spec) LOOP
        IF v_key NOT IN ('fail_times', 'latency_ms', 'output') THEN
          RAISE EXCEPTION
            'engine_v2.submit_job: unknown key inject.%.% (allowed: fail_times, latency_ms, output)',
            v_task, v_key USING ERRCODE = '22023';
        END IF;
        IF v_key IN ('fail_times', 'latency_ms') AND (
             jsonb_typeof(v_spec->v_key) <> 'number'
             OR (v_spec->>v_key)::numeric < 0
             OR (v_spec->>v_key)::numeric <> trunc((v_spec->>v_key)::numeric)) THEN
          RAISE EXCEPTION 'engine_v2.submit_job: inject.%.% must be a non-negative integer',
            v_task, v_key USING ERRCODE = '22023';
        END IF;
        IF v_key = 'output' AND jsonb_typeof(v_spec->'output') <> 'object' THEN
          RAISE EXCEPTION 'engine_v2.submit_job: inject.%.output must be an object', v_task
            USING ERRCODE = '22023';
        END IF;
      END LOOP;
    END LOOP;
  END IF;

  SELECT true, j.user_id INTO v_found, v_owner FROM public.jobs j WHERE j.id = p_job_id;
  IF v_found IS NULL THEN
    RAISE EXCEPTION 'engine_v2.submit_job: no public.jobs row with id %', p_job_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF v_owner IS NOT NULL AND p_user_id IS DISTINCT FROM v_owner THEN
    RAISE EXCEPTION 'engine_v2.submit_job: user % does not own job %', p_user_id, p_job_id
      USING ERRCODE = '42501';
  END IF;

  INSERT INTO engine_v2.job_runs
    (job_id, scheduler_version, user_id, project_id, message, mode, options)
  VALUES
    (p_job_id, 'enginev2d/1', p_user_id, p_project_id, p_message, v_mode, v_options)
  ON CONFLICT (job_id) DO NOTHING;
  IF NOT FOUND THEN
    RETURN false;  -- already submitted: not a second run
  END IF;

  PERFORM engine_v2.emit_event(p_job_id, NULL, 'jobSubmitted',
    jsonb_build_object('type', 'jobSubmitted', 'mode', v_mode, 'progress', 0));
  PERFORM pg_notify('engine_v2_jobs', format('{"job_id": "%s"}', p_job_id));
  RETURN true;
END;
$$;

-- Functions are for the service role only; the owner (migrating role) keeps EXECUTE.
REVOKE ALL ON FUNCTION engine_v2.submit_job(uuid, uuid, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.emit_event(uuid, uuid, text, jsonb) FROM PUBLIC;

-- Supabase's client roles may read (RLS limits them to their own jobs), never write.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['authenticated', 'anon'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('GRANT USAGE ON SCHEMA engine_v2 TO %I', r);
      EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA engine_v2 TO %I', r);
    END IF;
  END LOOP;
END;
$$;
