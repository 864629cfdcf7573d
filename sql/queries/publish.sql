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

-- job_result_rows: what finished jobs' v1 responses are made of, one row per job of
-- `job_ids` (a batch that ends several jobs reads them in one round trip):
-- * outputs: every task's output by task_key;
-- * code: the latest 'code' artifact per path, the later task in the workflow winning
--   (fix over codegen), then the newest; only publish_prep's (the restored tree) when
--   the intent task says `restore`;
-- * images: the latest 'image' artifact per name (the uri doubles as name when none is
--   recorded).
SELECT j.job_id::text AS job_id, r.*
  FROM unnest(%(job_ids)s::uuid[]) AS j(job_id)
 CROSS JOIN LATERAL (
  WITH tasks AS (
    SELECT id, task_key, position, output FROM engine_v2.job_tasks WHERE job_id = j.job_id
  ), restore AS (
    SELECT coalesce(bool_or(task_key = 'intent' AND output->>'intent' = 'restore'), false) AS yes
      FROM tasks
  ), code AS (
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
          JOIN tasks t ON t.id = a.task_id
         WHERE a.job_id = j.job_id
           AND a.kind = 'code'
           AND (NOT (SELECT yes FROM restore) OR t.task_key = 'publish_prep')
      ) c
     WHERE path IS NOT NULL AND content IS NOT NULL
     ORDER BY path, rank DESC, created_at DESC, id DESC
  ), images AS (
    SELECT DISTINCT ON (name) name, uri
      FROM (
        SELECT coalesce(a.content->>'name', a.metadata->>'name', a.content->>'uri', a.uri) AS name,
               coalesce(a.content->>'uri', a.uri) AS uri,
               a.created_at,
               a.id
          FROM engine_v2.job_task_artifacts a
         WHERE a.job_id = j.job_id
           AND a.kind = 'image'
      ) i
     WHERE name IS NOT NULL AND uri IS NOT NULL
     ORDER BY name, created_at DESC, id DESC
  )
  SELECT (SELECT coalesce(jsonb_object_agg(task_key, coalesce(output, '{}')), '{}') FROM tasks)
           AS outputs,
         (SELECT yes FROM restore) AS restore,
         (SELECT coalesce(jsonb_agg(jsonb_build_object('path', path, 'content', content)
                                    ORDER BY path), '[]') FROM code) AS code,
         (SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'uri', uri)
                                    ORDER BY name), '[]') FROM images) AS images
 ) r;

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
