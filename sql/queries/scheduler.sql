-- materialize_job: write a job's tasks and edges once (idempotent), promote the roots
SELECT engine_v2.materialize_job(%(job_id)s, %(tasks)s, %(edges)s) AS step

-- start_job: materialize_job + claim_task in one transaction (a fresh runner's first call)
SELECT engine_v2.start_job(%(job_id)s, %(tasks)s, %(edges)s, %(owner)s, %(more)s) AS step

-- start_jobs: start_job for each of the fresh jobs a claim took, in the claim's commit or
-- right after it; a job whose start raised is left to its runner (47_batch_start.sql)
SELECT engine_v2.start_jobs(%(job_ids)s::uuid[], %(tasks)s, %(edges)s, %(owner)s,
                            %(more)s) AS result

-- claim_task: claim the next ready task (and up to `more` for idle siblings) for the owner
SELECT engine_v2.claim_task(%(job_id)s, %(owner)s, %(more)s) AS step

-- task_succeeded: the attempt succeeded (+ skips, promotion, the worker's next claims)
SELECT engine_v2.task_succeeded(
  p_job_id => %(job_id)s, p_task_id => %(task_id)s, p_attempt => %(attempt)s,
  p_owner => %(owner)s, p_output => %(output)s, p_input => %(input)s, p_usage => %(usage)s,
  p_artifacts => %(artifacts)s, p_skip => %(skip)s, p_partial => %(partial)s,
  p_claim => %(claim)s, p_more => %(more)s) AS step

-- task_failed: the attempt failed (retry while the budget lasts, else propagation)
SELECT engine_v2.task_failed(
  p_job_id => %(job_id)s, p_task_id => %(task_id)s, p_attempt => %(attempt)s,
  p_owner => %(owner)s, p_error => %(error)s, p_usage => %(usage)s, p_input => %(input)s,
  p_job_error_code => %(job_error_code)s, p_claim => %(claim)s, p_more => %(more)s) AS step

-- task_canceled: the attempt obeyed a stop (the task and its downstream canceled)
SELECT engine_v2.task_canceled(
  p_job_id => %(job_id)s, p_task_id => %(task_id)s, p_attempt => %(attempt)s,
  p_owner => %(owner)s, p_error => %(error)s, p_usage => %(usage)s) AS step

-- complete_batch: the group completer's hand-offs of many jobs, one call, one commit
SELECT engine_v2.complete_batch(%(items)s) AS result

-- finish_jobs: the jobs succeeded (each result stored, jobCompleted, progress 100), one
-- step each, in the order given: one statement for the jobs a batch ended (their rows
-- are locked already, in job_id order)
SELECT engine_v2.finish_job(x.job_id, x.owner, x.result) AS step
  FROM unnest(%(job_ids)s::uuid[], %(owners)s::text[], %(results)s::jsonb[])
       WITH ORDINALITY AS x(job_id, owner, result, i)
 ORDER BY x.i

-- fail_job: fail the job from outside a task (timeout, invalid output)
SELECT engine_v2.fail_job(%(job_id)s, %(owner)s, %(error_code)s, %(message)s,
                          %(cancel_code)s) AS step

-- cancel_job: the server's or operator's cancel: 'canceled' | 'completed' | 'pending'
SELECT engine_v2.cancel_job(%(job_id)s, %(reason)s) AS answer

-- log_fallback: a fallback the server decided itself (recorded for the SLO)
SELECT engine_v2.log_fallback(%(job_id)s, %(code)s, %(detail)s) AS answer

-- retry_job: re-run a failed/canceled job from its failed tasks
SELECT engine_v2.retry_job(%(job_id)s) AS retried

-- recover_job: takeover of a job whose previous owner died (run under publish_lock, after
-- looking at production: `published` is this job's live commit or NULL)
SELECT engine_v2.recover_job(%(job_id)s, %(owner)s, %(max_takeovers)s, %(published)s) AS step

-- publish_lock: the job's publish guard, for this transaction (before looking at production)
SELECT engine_v2._publish_lock(%(job_id)s)

-- job_row: what a takeover needs to find the job's production directory
SELECT job_id, user_id, project_id, message, mode, options
  FROM engine_v2.job_runs WHERE job_id = %(job_id)s

-- lock_job: the job's row lock, first in a transaction that finishes a job
SELECT 1 FROM engine_v2.job_runs WHERE job_id = %(job_id)s FOR UPDATE

-- job_states: status and ownership of runs (the job watch, one read per tick for every
-- running job; a runner's outcome; a cancel's before and after)
SELECT job_id::text AS job_id, status, error_code, owner, cancel_requested, progress
  FROM engine_v2.job_runs WHERE job_id = ANY (%(job_ids)s::uuid[])

-- events_after: the resume API, events of a job after a sequence number
SELECT seq, event_type, task_id, data, created_at
  FROM engine_v2.job_task_events
 WHERE job_id = %(job_id)s AND seq > %(seq)s
 ORDER BY seq

-- task_progress: a running attempt's progress (fenced; false when it no longer runs)
SELECT engine_v2.task_progress(%(job_id)s, %(task_id)s, %(attempt)s, %(owner)s, %(data)s)
       AS written

-- artifact_texts: the text of code artifacts that task outputs refer to (a takeover)
SELECT id, content->>'content' AS text
  FROM engine_v2.job_task_artifacts
 WHERE id = ANY(%(ids)s::uuid[])

-- chat_reply: the short answer the intent task wrote for a chat message
SELECT output->>'reply' AS reply
  FROM engine_v2.job_tasks WHERE job_id = %(job_id)s AND task_key = %(task_key)s

-- completion_landed: a repeated completion came back stale: did the first try commit?
SELECT engine_v2.completion_landed(%(job_id)s, %(task_id)s, %(attempt)s, %(owner)s,
  %(outcome)s) AS step

-- start_landed: a repeated start_job came back with nothing claimed: did the first try?
SELECT engine_v2.start_landed(%(job_id)s, %(owner)s) AS step

-- claim_begin: open the transaction a claim runs in and read its id (no lock taken yet)
BEGIN;
SELECT txid_current() AS txid

-- claim_commit: claim_task and the COMMIT in one query string (one round trip, so the
-- server never waits on the client while the claim holds the job's row)
SELECT engine_v2.claim_task(%(job_id)s, %(owner)s, %(more)s) AS step;
COMMIT

-- claim_landed: a claim repeated after a broken connection: did try `txid` commit?
SELECT engine_v2.claim_landed(%(job_id)s, %(owner)s, %(txid)s) AS step

-- charge_attempt: what an attempt spent that no completion recorded (lost, or stale)
SELECT engine_v2.charge_attempt(%(task_id)s, %(attempt)s, %(usage)s) AS charged
