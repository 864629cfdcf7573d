'use strict';
/**
 * One `run`: submit, follow to the last event, and the deadline. Settles exactly once;
 * no event reaches `onEvent` after it settled.
 *
 *   last event jobCompleted        -> resolve: the v1 response, or {type: 'chat', reply}
 *   last event fallback            -> reject EngineV2Error(engine's code), source 'engine'
 *   last event jobCanceled         -> reject 'canceled' (an operator), or the deadline's code
 *   deadline / abort -> cancel_job -> 'canceled': reject v2_timeout (abort: 'canceled')
 *                                     'completed': v2 won, resolve with the result
 *                                     'pending': keep following; the last event decides
 * @module enginev2d-client/run
 */

const Q = require('./queries.cjs');
const { EngineV2Error, fromDatabaseError } = require('./errors.cjs');
const { toV1Response, validateOutput, isChat, chatResult } = require('./fallback.cjs');
const { isUiEvent, isFinal } = require('./progress.cjs');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * @param {object} ctx the engine's internals (pool, relay, logger, defaults, helpers)
 * @returns {Promise<object>}
 */
function runJob(ctx, userId, projectId, message, opts = {}) {
  const { jobId, onEvent, mode, inject, signal } = opts;
  if (typeof jobId !== 'string' || !UUID.test(jobId)) {
    return Promise.reject(new TypeError('run: options.jobId must be the public.jobs id (a uuid)'));
  }
  const deadlineMs = opts.deadlineMs === undefined ? ctx.defaults.deadlineMs : opts.deadlineMs;
  const ui = (opts.events || ctx.defaults.events) === 'ui';
  const submitOptions = {};
  if (mode !== undefined) submitOptions.mode = mode;
  if (inject !== undefined) submitOptions.inject = inject;

  return new Promise((resolve, reject) => {
    let settled = false;
    let gaveUp = null; // {code, source, reason, answer} once the deadline or the signal fired
    let lastFailure = null; // the jobFailed event before a final fallback
    let timer = null;

    const settle = (fn, value) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', onAbort);
      ctx.relay.unsubscribe(sub);
      fn(value);
    };
    const fail = (code, msg, info) => settle(reject, new EngineV2Error(code, msg, { jobId, ...info }));

    const emit = async (event) => {
      if (settled || !onEvent) return;
      if (ui && !isUiEvent(event) && event.type !== 'completed') return;
      const out = ui ? await ctx.uiCopy(event) : event;
      if (settled) return;
      try {
        await onEvent(out);
      } catch (err) {
        ctx.logger.warn(`[enginev2d] onEvent threw for job ${jobId}: ${err && err.message}`);
      }
    };

    // The run's outcome from job_runs (v2 completed it): the v1 response or the chat answer.
    // Read again on a database error (about 10 s in all): v2 won, v1 must not run lightly.
    const succeed = async () => {
      let last = null;
      for (let attempt = 0; attempt < 8 && !settled; attempt += 1) {
        try {
          const { result } = (await ctx.pool.query(Q.runOutcome, [jobId])).rows[0];
          if (isChat(result)) return settle(resolve, chatResult(result));
          const v1 = toV1Response(await ctx.inlineFiles(result));
          if (ui && validateOutput(v1)) await emit({ ...v1, job_id: jobId });
          return settle(resolve, v1);
        } catch (err) {
          last = err;
          ctx.logger.warn(`[enginev2d] reading the result of job ${jobId} failed: ${err.message}`);
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
        }
      }
      return settle(reject, fromDatabaseError(last, { jobId, what: 'reading the completed result' }));
    };

    const onFinal = async (event) => {
      if (event.type === 'jobCompleted') return succeed();
      if (event.type === 'fallback') {
        const why = lastFailure && lastFailure.message ? `: ${lastFailure.message}` : '';
        return fail(event.error_code, `v2 failed with ${event.error_code}${why}`, {
          source: 'engine',
          taskKey: lastFailure ? lastFailure.task_key : null,
        });
      }
      if (gaveUp) {
        const pending = gaveUp.answer === 'pending';
        const how = pending ? 'by the takeover (its publish was in doubt)' : 'at our request';
        return fail(gaveUp.code, `${gaveUp.reason}: v2 canceled ${how}`, {
          source: gaveUp.source,
          answer: gaveUp.answer || 'canceled',
        });
      }
      return fail('canceled', `v2 run canceled: ${event.reason || 'by an operator'}`, { source: 'engine' });
    };

    const onRow = async (event) => {
      if (event.type === 'jobFailed') lastFailure = event;
      await emit(event);
      if (isFinal(event)) await onFinal(event);
    };

    // The server gives up: cancel, then act on cancel_job's answer.
    const giveUp = async (code, source, reason) => {
      if (settled || gaveUp) return;
      gaveUp = { code, source, reason, answer: null };
      let answer;
      try {
        answer = await ctx.cancelWithin(jobId, reason);
      } catch (err) {
        return fail(code, `${reason}; cancel_job failed: ${err.message}`, { source, cause: err });
      }
      gaveUp.answer = answer;
      if (answer === 'completed') return succeed();
      if (answer === 'pending') {
        ctx.logger.warn(`[enginev2d] job ${jobId}: ${reason}, but its publish is in doubt; waiting for the takeover`);
        return undefined;
      }
      return fail(code, `${reason}: v2 canceled`, { source, answer });
    };

    const onAbort = () => {
      const r = signal.reason;
      const timeout = r && r.name === 'TimeoutError';
      giveUp(timeout ? 'v2_timeout' : 'canceled', 'abort', timeout ? 'the server timed out' : 'the server aborted');
    };

    const sub = ctx.relay.subscribe(jobId, 0, onRow);
    if (signal) {
      if (signal.aborted) return void onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
    }
    if (deadlineMs !== null && Number.isFinite(deadlineMs)) {
      timer = setTimeout(() => giveUp('v2_timeout', 'deadline', `deadline of ${deadlineMs} ms passed`), deadlineMs);
    }
    ctx.pool
      .query(Q.submitJob, [jobId, userId, projectId, message, JSON.stringify(submitOptions)])
      .then(({ rows }) => {
        if (!rows[0].created) ctx.logger.warn(`[enginev2d] job ${jobId} was already submitted; following its run`);
      })
      .catch((err) => {
        settle(reject, fromDatabaseError(err, { jobId, source: 'submit', what: 'engine_v2.submit_job' }));
      });
  });
}

module.exports = { runJob, UUID };
