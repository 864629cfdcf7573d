'use strict';
/**
 * Design section 15's fallback codes, the one error class the client rejects with, and
 * the mapping from `engine_v2.submit_job`'s SQLSTATEs (and connection failures) to codes.
 * @module enginev2d-client/errors
 */

/** Design section 15, verbatim and lower case, plus `canceled` (an operator or a server cancel). */
const CODES = Object.freeze([
  'v2_output_invalid',
  'v2_task_failed',
  'v2_timeout',
  'v2_scheduler_error',
  'v2_dag_deadlock',
  'v2_staging_error',
  'v2_concurrent_apply',
  'v2_unknown',
  'canceled',
]);
const CODE_SET = new Set(CODES);

/**
 * SQLSTATE -> [code, reason]. The README's contract table is this one.
 * @type {ReadonlyMap<string, [string, string]>}
 */
const SQLSTATES = new Map([
  ['22023', ['v2_scheduler_error', 'invalid_request']], // bad option, blank message
  ['23503', ['v2_scheduler_error', 'no_job_row']], // no public.jobs row with that id
  ['42501', ['v2_scheduler_error', 'not_permitted']], // user does not own the job; role lacks EXECUTE
  ['3F000', ['v2_scheduler_error', 'not_installed']], // schema engine_v2 missing
  ['42883', ['v2_scheduler_error', 'not_installed']], // function missing
  ['42P01', ['v2_scheduler_error', 'not_installed']], // table missing
  ['57014', ['v2_timeout', 'statement_timeout']],
  ['57P01', ['v2_scheduler_error', 'database_unavailable']], // admin shutdown
  ['57P02', ['v2_scheduler_error', 'database_unavailable']],
  ['57P03', ['v2_scheduler_error', 'database_unavailable']], // cannot connect now
  ['53300', ['v2_scheduler_error', 'database_unavailable']], // too many connections
]);

/** The error every failed `run` rejects with: `code` tells the server why v1 takes over. */
class EngineV2Error extends Error {
  /**
   * @param {string} code one of {@link CODES}
   * @param {string} message no prompt text, no secrets
   * @param {object} [info]
   * @param {string} [info.jobId]
   * @param {'engine'|'deadline'|'submit'|'database'|'server'} [info.source] who decided:
   *   `engine` = the daemon ended the run (it recorded the fallback itself)
   * @param {string} [info.reason] finer cause, e.g. `no_job_row`, `deadline`
   * @param {string} [info.sqlstate]
   * @param {string} [info.taskKey] the task that failed, for engine failures
   * @param {string} [info.answer] cancel_job's answer, for deadline and abort
   * @param {unknown} [info.cause]
   */
  constructor(code, message, info = {}) {
    super(message, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = 'EngineV2Error';
    this.code = CODE_SET.has(code) ? code : 'v2_unknown';
    this.jobId = info.jobId ?? null;
    this.source = info.source ?? 'server';
    this.reason = info.reason ?? null;
    this.sqlstate = info.sqlstate ?? null;
    this.taskKey = info.taskKey ?? null;
    this.answer = info.answer ?? null;
  }
}

/** True for node-postgres / socket errors that mean "the database is not reachable". */
function isConnectionError(err) {
  if (!err || typeof err !== 'object') return false;
  if (typeof err.code === 'string' && /^(08|57P0)/.test(err.code)) return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH'].includes(err.code)) {
    return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    String(err.message || ''),
  );
}

/**
 * A database error as an EngineV2Error (submit, cancel or a read failed).
 * @param {any} err a node-postgres error (has `.code` = SQLSTATE) or a socket error
 * @param {{jobId?: string, source?: string, what?: string}} [ctx]
 * @returns {EngineV2Error}
 */
function fromDatabaseError(err, ctx = {}) {
  const sqlstate = typeof err?.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : null;
  let [code, reason] = (sqlstate && SQLSTATES.get(sqlstate)) || [];
  if (!code && isConnectionError(err)) [code, reason] = ['v2_scheduler_error', 'database_unavailable'];
  if (!code) [code, reason] = ['v2_unknown', 'database_error'];
  const what = ctx.what || 'database call';
  return new EngineV2Error(code, `${what} failed: ${err?.message || err}`, {
    jobId: ctx.jobId,
    source: ctx.source || 'database',
    reason,
    sqlstate,
    cause: err,
  });
}

/**
 * The design-15 code for anything a server may pass to logFallback: an EngineV2Error's
 * code, a lower- or upper-case code as `err.code` or as the whole message
 * (`new Error('V2_OUTPUT_INVALID')`, as the design's section 5 throws), else v2_unknown.
 * @param {unknown} err
 * @returns {string}
 */
function fallbackCode(err) {
  for (const candidate of [err?.code, err?.message, typeof err === 'string' ? err : null]) {
    if (typeof candidate !== 'string') continue;
    const lower = candidate.trim().toLowerCase();
    if (CODE_SET.has(lower)) return lower;
  }
  return 'v2_unknown';
}

module.exports = { CODES, SQLSTATES, EngineV2Error, fromDatabaseError, fallbackCode, isConnectionError };
