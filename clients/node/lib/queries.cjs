'use strict';
/**
 * Every statement the client sends, by name: the README's SQL/NOTIFY contract, used
 * through role engine_v2_server (migration 0005, sql/functions/90_grants.sql).
 * @module enginev2d-client/queries
 */

module.exports = Object.freeze({
  CHANNEL: 'engine_v2_events',
  listen: 'LISTEN engine_v2_events',
  submitJob: 'SELECT engine_v2.submit_job($1::uuid, $2::uuid, $3::text, $4::text, $5::jsonb) AS created',
  eventsAfter: `SELECT seq, event_type, data, created_at
                  FROM engine_v2.job_task_events
                 WHERE job_id = $1::uuid AND seq > $2::bigint
                 ORDER BY seq`,
  runOutcome: `SELECT status, error_code, result, fallback_triggered
                 FROM engine_v2.job_runs WHERE job_id = $1::uuid`,
  cancelJob: 'SELECT engine_v2.cancel_job($1::uuid, $2::text) AS answer',
  logFallback: 'SELECT engine_v2.log_fallback($1::uuid, $2::text, $3::jsonb) AS answer',
  artifact: 'SELECT content FROM engine_v2.job_task_artifacts WHERE id = $1::uuid',
});
