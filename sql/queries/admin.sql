-- Queries behind the admin commands (enginev2d.admin). Read-only except the two
-- submit queries, which follow the README's SQL contract exactly as the Node server does.

-- insert_host_job: the public.jobs stand-in row (demo/test setups only: --create-host-row)
INSERT INTO public.jobs (id, user_id, project_id, status)
VALUES (%(job_id)s, %(user_id)s, %(project_id)s, 'pending')

-- submit_job: the intake contract; true = run created, false = already submitted
SELECT engine_v2.submit_job(
  p_job_id => %(job_id)s::uuid,
  p_user_id => %(user_id)s::uuid,
  p_project_id => %(project_id)s::text,
  p_message => %(message)s::text,
  p_options => %(options)s::jsonb
) AS created

-- run: one run with its totals over tasks and attempts
SELECT r.job_id, r.status, r.mode, r.error_code, r.fallback_triggered, r.progress,
       r.user_id, r.project_id, r.message, r.owner, r.takeover_count, r.cancel_requested,
       r.event_seq, r.created_at, r.claimed_at, r.finished_at,
       extract(epoch FROM coalesce(r.finished_at, now()) - r.created_at)::float8 AS duration_s,
       (SELECT count(*) FROM engine_v2.job_task_attempts a
          JOIN engine_v2.job_tasks t ON t.id = a.task_id WHERE t.job_id = r.job_id) AS attempts,
       (SELECT coalesce(sum(a.cost_usd), 0)::float8 FROM engine_v2.job_task_attempts a
          JOIN engine_v2.job_tasks t ON t.id = a.task_id WHERE t.job_id = r.job_id) AS cost_usd
  FROM engine_v2.job_runs r
 WHERE r.job_id = %(job_id)s

-- tasks: the run's tasks in DAG-ish order with attempts, cost, tokens and durations
SELECT t.task_key, t.status, t.agent_role, t.attempt_count, t.max_attempts, t.progress,
       t.weight, t.error_code, t.error_message, t.started_at, t.finished_at,
       extract(epoch FROM t.finished_at - t.started_at)::float8 AS duration_s,
       count(a.id) AS attempts,
       coalesce(sum(a.cost_usd), 0)::float8 AS cost_usd,
       coalesce(sum(a.tokens_in), 0) AS tokens_in,
       coalesce(sum(a.tokens_out), 0) AS tokens_out,
       coalesce(sum(a.latency_ms), 0) AS latency_ms
  FROM engine_v2.job_tasks t
  LEFT JOIN engine_v2.job_task_attempts a ON a.task_id = t.id
 WHERE t.job_id = %(job_id)s
 GROUP BY t.id
 ORDER BY t.position, t.created_at, t.task_key

-- events_after: the stream as the server relays it (README: seq > last relayed)
SELECT e.seq, e.event_type, e.data, e.created_at, t.task_key
  FROM engine_v2.job_task_events e
  LEFT JOIN engine_v2.job_tasks t ON t.id = e.task_id
 WHERE e.job_id = %(job_id)s AND e.seq > %(after)s
 ORDER BY e.seq

-- run_status: just the status (the --follow loop's check)
SELECT status FROM engine_v2.job_runs WHERE job_id = %(job_id)s

-- run_pruned: whether retention deleted the run's tasks (`enginev2d prune`)
SELECT pruned_at IS NOT NULL AS pruned FROM engine_v2.job_runs WHERE job_id = %(job_id)s

-- jobs: recent runs, newest first, optionally filtered by status
SELECT r.job_id, r.status, r.mode, r.error_code, r.progress, r.project_id,
       r.created_at, r.finished_at,
       extract(epoch FROM coalesce(r.finished_at, now()) - r.created_at)::float8 AS duration_s
  FROM engine_v2.job_runs r
 WHERE (%(statuses)s::text[] IS NULL OR r.status = ANY (%(statuses)s::text[]))
 ORDER BY r.created_at DESC, r.job_id
 LIMIT %(limit)s

-- schema_present: whether engine_v2 is installed at all
SELECT to_regclass('engine_v2.job_runs') IS NOT NULL AS present

-- running_runs: design 16 step 3, every v2 run still running
SELECT r.job_id, r.mode, r.owner, r.created_at,
       extract(epoch FROM now() - r.created_at)::float8 AS age_s
  FROM engine_v2.job_runs r
 WHERE r.status = 'running'
 ORDER BY r.created_at

-- db_clock: the database's idea of now
SELECT now() AS now, current_setting('server_version') AS server_version
