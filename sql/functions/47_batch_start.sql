-- Starts in the claim's commit (issue 17, item 4): the jobs a daemon has just claimed,
-- fresh ones only (never run before: no takeover), are started in the transaction that
-- claimed them (a batch of the group completer, whose commit ended the jobs whose slots
-- they take) or right after the claim (the intake's poll), instead of each by its
-- runner's own hand-off. Each is exactly start_job: the DAG materialized, the roots
-- promoted, the first 1 + p_more tasks claimed for the owner, with their events.
--
-- One job's start never fails the others nor the claim: each runs in a subtransaction,
-- and a job whose start raised is left out of "steps" (its error in "errors"); its runner
-- starts it as before, through its own start_job, which meets and reports the error.
-- p_jobs are locked in job_id order (the engine's lock order, 0003_scheduler.sql); the
-- claim has locked them already.
-- Result: {"steps": {"<job_id>": start_job's step}, "errors": {"<job_id>": "SQLSTATE: message"}}.
CREATE OR REPLACE FUNCTION engine_v2.start_jobs(
  p_jobs uuid[], p_tasks jsonb, p_edges jsonb, p_owner text, p_more int DEFAULT 0
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_steps jsonb := '{}';
  v_errors jsonb := '{}';
  v_job uuid;
BEGIN
  FOR v_job IN SELECT DISTINCT j FROM unnest(p_jobs) j ORDER BY j LOOP
    BEGIN
      v_steps := v_steps || jsonb_build_object(
        v_job::text, engine_v2.start_job(v_job, p_tasks, p_edges, p_owner, p_more));
    EXCEPTION WHEN OTHERS THEN
      v_errors := v_errors || jsonb_build_object(v_job::text, SQLSTATE || ': ' || SQLERRM);
    END;
  END LOOP;
  RETURN jsonb_build_object('steps', v_steps, 'errors', v_errors);
END;
$$;

REVOKE ALL ON FUNCTION engine_v2.start_jobs(uuid[], jsonb, jsonb, text, int) FROM PUBLIC;
