-- Queries of `enginev2d shadow-report` (enginev2d.shadow, design 17 M3). The v1 side is
-- the operator's shadow.v1_jobs_query, not here.

-- shadow_runs: finished shadow runs submitted in the window, with cost, attempts and
-- their shadow_result artifact (files, images, summary)
SELECT r.job_id::text AS job_id, r.status, r.error_code, r.created_at, r.finished_at,
       extract(epoch FROM r.finished_at - r.created_at)::float8 AS latency_s,
       coalesce(a.cost_usd, 0)::float8 AS cost_usd,
       coalesce(a.attempts, 0) AS attempts,
       coalesce(a.tasks_run, 0) AS tasks_run,
       x.content AS result
  FROM engine_v2.job_runs r
  LEFT JOIN LATERAL (
    SELECT sum(at.cost_usd) AS cost_usd, count(*) AS attempts,
           count(DISTINCT at.task_id) AS tasks_run
      FROM engine_v2.job_tasks t JOIN engine_v2.job_task_attempts at ON at.task_id = t.id
     WHERE t.job_id = r.job_id
  ) a ON true
  LEFT JOIN LATERAL (
    SELECT content FROM engine_v2.job_task_artifacts
     WHERE job_id = r.job_id AND kind = 'shadow_result'
     ORDER BY created_at DESC LIMIT 1
  ) x ON true
 WHERE r.mode = 'shadow'
   AND r.status IN ('succeeded', 'failed')
   AND r.created_at >= now() - make_interval(secs => %(since_s)s::float8)
 ORDER BY r.created_at, r.job_id

-- images: a job's generated images (bytes in the artifact), for the browser check
SELECT content->>'uri' AS uri, content->>'data_base64' AS data_base64
  FROM engine_v2.job_task_artifacts
 WHERE job_id = %(job_id)s AND kind = 'image' AND content ? 'data_base64'
