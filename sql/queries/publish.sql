-- try_project_lock: the per-project publish lock (design 10.3); only meaningful inside an explicit transaction
SELECT pg_try_advisory_xact_lock(%(k1)s::int4, %(k2)s::int4) AS acquired;

-- job_usage: models and cost of every attempt of a job, for the commit trailers
-- (to_jsonb(a)->>'model' reads a model column when the schema has one, NULL otherwise)
SELECT coalesce(sum(a.cost_usd), 0)::float8 AS cost_usd,
       coalesce(
         array_agg(DISTINCT to_jsonb(a)->>'model') FILTER (WHERE to_jsonb(a)->>'model' IS NOT NULL),
         '{}'
       ) AS models
  FROM engine_v2.job_task_attempts a
  JOIN engine_v2.job_tasks t ON t.id = a.task_id
 WHERE t.job_id = %(job_id)s;

-- task_outputs: the output of every task of a job, by task_key
SELECT task_key, status, output
  FROM engine_v2.job_tasks
 WHERE job_id = %(job_id)s;

-- code_artifacts: latest 'code' artifact per path: the later task in the workflow wins
-- (publish_prep's restore over fix over codegen), then the newest
SELECT DISTINCT ON (path) path, content
  FROM (
    SELECT coalesce(a.content->>'path', a.metadata->>'path', a.uri) AS path,
           CASE jsonb_typeof(a.content)
             WHEN 'object' THEN a.content->>'content'
             WHEN 'string' THEN a.content #>> '{}'
           END AS content,
           t.position AS rank,  -- workflow order: a later task's file wins
           a.created_at,
           a.id
      FROM engine_v2.job_task_artifacts a
      JOIN engine_v2.job_tasks t ON t.id = a.task_id
     WHERE a.job_id = %(job_id)s
       AND a.kind = 'code'
       AND (%(task_key)s::text IS NULL OR t.task_key = %(task_key)s::text)
  ) c
 WHERE path IS NOT NULL AND content IS NOT NULL
 ORDER BY path, rank DESC, created_at DESC, id DESC;

-- image_artifacts: latest 'image' artifact per name (the uri doubles as name when none is recorded)
SELECT DISTINCT ON (name) name, uri
  FROM (
    SELECT coalesce(a.content->>'name', a.metadata->>'name', a.content->>'uri', a.uri) AS name,
           coalesce(a.content->>'uri', a.uri) AS uri,
           a.created_at,
           a.id
      FROM engine_v2.job_task_artifacts a
     WHERE a.job_id = %(job_id)s
       AND a.kind = 'image'
  ) i
 WHERE name IS NOT NULL AND uri IS NOT NULL
 ORDER BY name, created_at DESC, id DESC;

-- image_bytes: the bytes of every image the job's asset task produced (latest per name),
-- to rebuild a staging directory discarded by a takeover
SELECT DISTINCT ON (name) name, uri, content->>'data_base64' AS data_base64
  FROM (
    SELECT coalesce(a.content->>'name', a.uri) AS name, coalesce(a.content->>'uri', a.uri) AS uri,
           a.content, a.created_at, a.id
      FROM engine_v2.job_task_artifacts a
     WHERE a.job_id = %(job_id)s
       AND a.kind = 'image'
       AND a.content ? 'data_base64'
  ) i
 ORDER BY name, created_at DESC, id DESC;

-- begin_publish: take the publish guard (session) and record the intent: ok | canceled | stale
SELECT engine_v2.begin_publish(%(job_id)s, %(task_id)s, %(attempt)s, %(owner)s, %(commit)s)
       AS answer

-- end_publish: release the publish guard; `unpublished` withdraws an intent that did not go live
SELECT engine_v2.end_publish(%(job_id)s, %(unpublished)s) AS released
