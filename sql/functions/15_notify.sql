-- NOTIFY engine_v2_events: one notification per committing transaction, naming every job
-- whose events it wrote and each one's last seq (issue 17: a group completion commits the
-- hand-offs of many jobs at once, and notifying commits serialise on the cluster's notify
-- queue lock, so one per commit is what matters).
--
-- Payload (exact text): {"jobs": {"<job_id>": <last seq>, ...}}, jobs in the order the
-- transaction first touched them. A transaction naming more than 100 jobs (a payload must
-- stay under PostgreSQL's 8,000 bytes) sends one notification per 100. Notifications are
-- hints: a listener reads `seq > last` for the jobs it follows.
--
-- How: an immediate row trigger adds the job to a transaction-local list (the setting
-- engine_v2.notify; a rolled-back subtransaction rolls it back too) whenever event_seq
-- changes, and the deferred constraint trigger of migration 0002, firing at commit once
-- per changed row, sends the notification at its first firing (reading every job's final
-- event_seq) and empties the list, so the later firings send nothing.

CREATE OR REPLACE FUNCTION engine_v2.touch_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_list text := current_setting('engine_v2.notify', true);
BEGIN
  IF v_list IS NULL OR v_list = '' THEN
    PERFORM set_config('engine_v2.notify', NEW.job_id::text, true);
  ELSIF strpos(v_list, NEW.job_id::text) = 0 THEN
    PERFORM set_config('engine_v2.notify', v_list || ',' || NEW.job_id::text, true);
  END IF;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION engine_v2.notify_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_list text := current_setting('engine_v2.notify', true);
  v_payload text;
BEGIN
  IF v_list IS NULL OR v_list = '' THEN
    RETURN NULL;  -- sent by an earlier firing of this commit
  END IF;
  PERFORM set_config('engine_v2.notify', '', true);
  -- A uuid and a bigint need no escaping; format() keeps the documented spacing.
  IF strpos(v_list, ',') = 0 THEN  -- one job (most commits): no aggregation
    SELECT format('{"jobs": {"%s": %s}}', job_id, event_seq) INTO v_payload
      FROM engine_v2.job_runs WHERE job_id = v_list::uuid;
    IF v_payload IS NOT NULL THEN
      PERFORM pg_notify('engine_v2_events', v_payload);
    END IF;
    RETURN NULL;
  END IF;
  -- One key lookup per job: the LIMIT keeps the lookup from being flattened into a
  -- join, which a plan made while job_runs was small runs as a scan of the whole table.
  FOR v_payload IN
    SELECT '{"jobs": {' || string_agg(format('"%s": %s', r.job_id, r.event_seq), ', '
                                      ORDER BY l.i) || '}}'
      FROM unnest(string_to_array(v_list, ',')::uuid[]) WITH ORDINALITY AS l(job_id, i),
           LATERAL (SELECT job_id, event_seq FROM engine_v2.job_runs
                     WHERE job_id = l.job_id LIMIT 1) r
     GROUP BY (l.i - 1) / 100
     ORDER BY (l.i - 1) / 100
  LOOP
    PERFORM pg_notify('engine_v2_events', v_payload);
  END LOOP;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER trg_job_runs_touch_events
  AFTER INSERT OR UPDATE OF event_seq ON engine_v2.job_runs
  FOR EACH ROW EXECUTE FUNCTION engine_v2.touch_events();

REVOKE ALL ON FUNCTION engine_v2.touch_events() FROM PUBLIC;
REVOKE ALL ON FUNCTION engine_v2.notify_events() FROM PUBLIC;
