-- Queries behind the SLO gauges (enginev2d.slo, enginev2d.metrics). Design section 18.
--
-- The window is "jobs that finished in the last %(window_s)s seconds". Runs that ended
-- succeeded or failed count; a canceled run counts only when the server recorded a
-- fallback for it (engine_v2.log_fallback: its deadline, its own validation), otherwise
-- it was an operator's decision, not an engine outcome; running ones have no outcome yet.
-- A fallback the server recorded for a job without a run (submit failed) counts as a
-- finished job that fell back, once.

-- slo_v2: the section 18 figures over the window, fleet-wide, in one round trip
WITH w AS (
  SELECT now() - make_interval(secs => %(window_s)s::float8) AS since
), server AS (
  SELECT DISTINCT ON (f.job_id) f.job_id, f.created_at
    FROM engine_v2.server_fallbacks f, w
   WHERE f.created_at >= w.since
   ORDER BY f.job_id, f.created_at
), finished AS (
  SELECT r.job_id, r.status, r.created_at, r.finished_at,
         (coalesce(r.fallback_triggered, false) AND r.status <> 'canceled'
          OR EXISTS (SELECT 1 FROM engine_v2.job_task_events e
                      WHERE e.job_id = r.job_id AND e.event_type = 'fallback'
                        AND r.status <> 'canceled')
          OR s.job_id IS NOT NULL) AS fell_back
    FROM engine_v2.job_runs r
    CROSS JOIN w
    LEFT JOIN server s ON s.job_id = r.job_id
   WHERE r.finished_at >= w.since
     AND (r.status IN ('succeeded', 'failed') OR s.job_id IS NOT NULL)
  UNION ALL
  SELECT s.job_id, 'failed', s.created_at, s.created_at, true
    FROM server s
   WHERE NOT EXISTS (SELECT 1 FROM engine_v2.job_runs r WHERE r.job_id = s.job_id)
), per_task AS (
  SELECT t.id, count(a.id) AS attempts, coalesce(sum(a.cost_usd), 0) AS cost_usd
    FROM finished f
    JOIN engine_v2.job_tasks t ON t.job_id = f.job_id
    JOIN engine_v2.job_task_attempts a ON a.task_id = t.id
   GROUP BY t.id
), jobs AS (
  SELECT count(*) AS finished,
         count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
         count(*) FILTER (WHERE fell_back) AS fallbacks,
         percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM finished_at - created_at)::float8
         ) FILTER (WHERE status = 'succeeded') AS p50,
         percentile_cont(0.95) WITHIN GROUP (
           ORDER BY extract(epoch FROM finished_at - created_at)::float8
         ) FILTER (WHERE status = 'succeeded') AS p95
    FROM finished
), tasks AS (
  SELECT count(*) AS tasks_run,
         coalesce(sum(attempts), 0) AS attempts,
         coalesce(sum(cost_usd), 0) AS cost_usd
    FROM per_task
)
SELECT jobs.finished AS jobs_finished,
       jobs.succeeded AS jobs_succeeded,
       jobs.fallbacks AS jobs_fallback,
       tasks.tasks_run,
       tasks.attempts AS attempts_total,
       tasks.cost_usd::float8 AS cost_usd_total,
       jobs.succeeded::float8 / nullif(jobs.finished, 0) AS success_rate,
       jobs.p50 AS latency_p50_seconds,
       jobs.p95 AS latency_p95_seconds,
       tasks.cost_usd::float8 / nullif(jobs.finished, 0) AS cost_per_job_usd,
       (tasks.attempts - tasks.tasks_run)::float8 / nullif(tasks.tasks_run, 0) AS retry_rate,
       jobs.fallbacks::float8 / nullif(jobs.finished, 0) AS fallback_rate
  FROM jobs, tasks

-- running_count: runs in flight fleet-wide (design 16 step 3 must read 0 before removal)
SELECT count(*) AS running FROM engine_v2.job_runs WHERE status = 'running'

-- window_since: the start of the SLO window (passed to the v1 baseline query as %(since)s)
SELECT now() - make_interval(secs => %(window_s)s::float8) AS since
