-- Queries of retention (enginev2d.retention, `enginev2d prune`). The batch itself is
-- engine_v2.prune_runs (sql/functions/60_operations.sql); indexes: migration 0006.

-- cutoff: the database's now() minus the retention window
SELECT now() - make_interval(secs => %(older_than_s)s::float8) AS cutoff

-- prune_batch: one batch of finished runs (one short transaction)
SELECT engine_v2.prune_runs(%(cutoff)s, %(batch)s) AS counts

-- prune_server_fallbacks: one batch of the host's fallback records older than the cutoff
DELETE FROM engine_v2.server_fallbacks
 WHERE id IN (SELECT id FROM engine_v2.server_fallbacks
               WHERE created_at < %(cutoff)s
               ORDER BY created_at
               LIMIT %(batch)s
               FOR UPDATE SKIP LOCKED)

-- preview: what a prune would delete (rows and their bytes, pg_column_size), by table
WITH runs AS (
  SELECT job_id FROM engine_v2.job_runs
   WHERE pruned_at IS NULL AND status <> 'running' AND NOT draining
     AND finished_at < %(cutoff)s
), tasks AS (
  SELECT t.id, pg_column_size(t.*) AS b FROM engine_v2.job_tasks t JOIN runs USING (job_id)
)
SELECT 'runs' AS what, count(*) AS n, 0::bigint AS bytes FROM runs
UNION ALL
SELECT 'tasks', count(*), coalesce(sum(b), 0) FROM tasks
UNION ALL
SELECT 'attempts', count(*), coalesce(sum(pg_column_size(a.*)), 0)
  FROM engine_v2.job_task_attempts a JOIN tasks ON tasks.id = a.task_id
UNION ALL
SELECT 'dependencies', count(*), coalesce(sum(pg_column_size(d.*)), 0)
  FROM engine_v2.job_task_dependencies d JOIN tasks ON tasks.id = d.successor_task_id
UNION ALL
SELECT 'events', count(*), coalesce(sum(pg_column_size(e.*)), 0)
  FROM engine_v2.job_task_events e JOIN runs USING (job_id)
UNION ALL
SELECT 'artifacts', count(*), coalesce(sum(pg_column_size(x.*)), 0)
  FROM engine_v2.job_task_artifacts x JOIN runs USING (job_id)
UNION ALL
SELECT 'server_fallbacks', count(*), coalesce(sum(pg_column_size(f.*)), 0)
  FROM engine_v2.server_fallbacks f WHERE f.created_at < %(cutoff)s

-- storage_per_job: rows and bytes (pg_column_size: the stored, possibly compressed,
-- size) each table holds for the given jobs
WITH jobs AS (SELECT unnest(%(job_ids)s::uuid[]) AS job_id),
tasks AS (
  SELECT t.id, pg_column_size(t.*) AS b FROM engine_v2.job_tasks t JOIN jobs USING (job_id)
)
SELECT 'job_runs' AS what, count(*) AS n, coalesce(sum(pg_column_size(r.*)), 0) AS bytes
  FROM engine_v2.job_runs r JOIN jobs USING (job_id)
UNION ALL
SELECT 'tasks', count(*), coalesce(sum(b), 0) FROM tasks
UNION ALL
SELECT 'attempts', count(*), coalesce(sum(pg_column_size(a.*)), 0)
  FROM engine_v2.job_task_attempts a JOIN tasks ON tasks.id = a.task_id
UNION ALL
SELECT 'dependencies', count(*), coalesce(sum(pg_column_size(d.*)), 0)
  FROM engine_v2.job_task_dependencies d JOIN tasks ON tasks.id = d.successor_task_id
UNION ALL
SELECT 'events', count(*), coalesce(sum(pg_column_size(e.*)), 0)
  FROM engine_v2.job_task_events e JOIN jobs USING (job_id)
UNION ALL
SELECT 'artifacts', count(*), coalesce(sum(pg_column_size(x.*)), 0)
  FROM engine_v2.job_task_artifacts x JOIN jobs USING (job_id)
