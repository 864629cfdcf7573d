-- Generic plans for the statements inside the engine's functions (issue 17).
--
-- PL/pgSQL caches the plan of every statement it runs, but under the default
-- plan_cache_mode (auto) a statement whose custom plans (the call's values folded in,
-- such as `p_partial IS NULL`) are estimated cheaper than its generic plan is planned
-- afresh at every call. perf put 23 % of PostgreSQL's CPU in GetCachedPlan during
-- `make bench`'s throughput run, 2 % with generic plans. Every statement here looks rows
-- up by job and task ids, where the generic plan is the right one for any values.
--
-- The setting holds while each function runs (and for what it calls), so it applies to
-- the daemon's calls and the host server's alike and to nothing else in their sessions.
-- Re-applied after any earlier function file (enginev2d/migrations.py), because
-- CREATE OR REPLACE FUNCTION drops a function's SET clauses.

ALTER FUNCTION engine_v2.complete_batch(jsonb) SET plan_cache_mode = force_generic_plan;
-- A batch's set-based statements (46_batch_success.sql) look up a few jobs' rows by key
-- arrays. A backend plans them once (generic plans); planned while the tables were small
-- (a fresh install, the bench's first jobs) a sequential scan looks cheapest and is kept
-- as the tables grow, until an ANALYZE replans it (measured: 7,048 job_tasks rows read
-- to find 8). No statement of a batch needs a scan of a whole table: index paths only.
ALTER FUNCTION engine_v2.complete_batch(jsonb) SET enable_seqscan = off;
ALTER FUNCTION engine_v2.task_succeeded(uuid, uuid, int, text, jsonb, jsonb, jsonb, jsonb,
  jsonb, jsonb, boolean, int) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.task_failed(uuid, uuid, int, text, jsonb, jsonb, jsonb, text,
  boolean, int) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.task_canceled(uuid, uuid, int, text, jsonb, jsonb)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.task_progress(uuid, uuid, int, text, jsonb)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.start_job(uuid, jsonb, jsonb, text, int)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.start_jobs(uuid[], jsonb, jsonb, text, int)
  SET plan_cache_mode = force_generic_plan;
-- The same for the set-based start (47_batch_start.sql): its statements reach the claimed
-- jobs' rows by key arrays.
ALTER FUNCTION engine_v2.start_jobs(uuid[], jsonb, jsonb, text, int) SET enable_seqscan = off;
ALTER FUNCTION engine_v2.materialize_job(uuid, jsonb, jsonb)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.claim_task(uuid, text, int) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.finish_job(uuid, text, jsonb) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.fail_job(uuid, text, text, text, text)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.recover_job(uuid, text, int, text)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.submit_job(uuid, uuid, text, text, jsonb)
  SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION engine_v2.cancel_job(uuid, text) SET plan_cache_mode = force_generic_plan;
