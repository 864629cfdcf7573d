'use strict';
/**
 * createEngineV2: the object the design's section 5 calls `engineV2`.
 * @module enginev2d-client/engine
 */

const pg = require('pg');
const Q = require('./queries.cjs');
const { EngineV2Error, fromDatabaseError, fallbackCode } = require('./errors.cjs');
const { flagsFromEnv, shouldUseV2 } = require('./featureFlag.cjs');
const { validateOutput, toV1Response, isChat } = require('./fallback.cjs');
const { isUiEvent, toUiEvent } = require('./progress.cjs');
const { Relay } = require('./relay.cjs');
const { runJob, UUID } = require('./run.cjs');

/** Above the daemon's default job_timeout_s (600 s): the daemon's own timeout comes first. */
const DEFAULT_DEADLINE_MS = 630000;
const ARTIFACT_URI = /^engine_v2:\/\/job_task_artifacts\/([0-9a-f-]{36})$/i;

/** Resolve with `fn()` or reject after `ms`. */
function within(ms, what, fn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([fn(), timeout]).finally(() => clearTimeout(timer));
}

/** What log_fallback records besides the code: never prompt text (messages are cut short). */
function fallbackDetail(err) {
  const detail = {};
  if (err && typeof err === 'object') {
    for (const [k, v] of [
      ['source', err.source],
      ['reason', err.reason],
      ['sqlstate', err.sqlstate],
      ['task_key', err.taskKey],
      ['answer', err.answer],
    ]) {
      if (typeof v === 'string') detail[k] = v;
    }
  }
  const message = err && typeof err === 'object' ? err.message : err;
  if (typeof message === 'string') detail.message = message.slice(0, 200);
  return detail;
}

/**
 * @param {import('../index').EngineV2Options} [options]
 * @returns {import('../index').EngineV2}
 */
function createEngineV2(options = {}) {
  const {
    pool: givenPool,
    connectionString,
    ssl,
    env = process.env,
    events = 'ui',
    deadlineMs = DEFAULT_DEADLINE_MS,
    logger = console,
    backoff = { initialMs: 100, maxMs: 5000 },
    pollMs = 10000,
    timeoutMs = 5000,
    applicationName = 'enginev2d-client',
  } = options;
  if (!givenPool && !connectionString) throw new TypeError('createEngineV2 needs {pool} or {connectionString}');
  if (events !== 'ui' && events !== 'all') throw new TypeError("createEngineV2: events is 'ui' or 'all'");
  const pool = givenPool || new pg.Pool({ connectionString, ssl, application_name: applicationName, max: 10 });
  if (!givenPool) pool.on('error', (err) => logger.warn(`[enginev2d] idle connection error: ${err.message}`));
  const listenConfig = givenPool ? { ...givenPool.options } : { connectionString, ssl };
  const relay = new Relay({
    pool,
    newClient: () => new pg.Client({ ...listenConfig, application_name: `${applicationName}-listen`, keepAlive: true }),
    logger,
    backoff,
    pollMs,
  });
  const flags = flagsFromEnv(env);

  /** `engine_v2://job_task_artifacts/<id>` -> the row's content (`{path, content}`), or null. */
  async function resolveArtifact(uri) {
    const m = ARTIFACT_URI.exec(String(uri));
    if (!m) throw new TypeError(`not an enginev2d artifact URI: ${uri}`);
    const { rows } = await pool.query(Q.artifact, [m[1]]);
    return rows.length ? rows[0].content : null;
  }

  /** Files given by reference (`{path, bytes, uri}`) read and inlined as `{path, content}`. */
  async function inlineFiles(holder) {
    if (!holder || !Array.isArray(holder.files) || holder.files.every((f) => typeof f.content === 'string')) {
      return holder;
    }
    const files = await Promise.all(
      holder.files.map(async (f) => {
        if (typeof f.content === 'string' || !f.uri) return f;
        const row = await resolveArtifact(f.uri);
        const content = row && typeof row === 'object' ? row.content : row;
        return typeof content === 'string' ? { path: f.path, content } : f;
      }),
    );
    return { ...holder, files, ...(holder.ref ? { ref: 'inline' } : {}) };
  }

  /** The browser's copy of an event: internal keys removed, referenced files inlined. */
  async function uiCopy(event) {
    if (event.type !== 'partialResult') return toUiEvent(event);
    try {
      return toUiEvent(await inlineFiles(event));
    } catch (err) {
      logger.warn(`[enginev2d] resolving the files of job ${event.job_id} failed: ${err.message}`);
      return toUiEvent(event);
    }
  }

  async function cancel(jobId, reason = null) {
    try {
      return (await pool.query(Q.cancelJob, [jobId, reason])).rows[0].answer;
    } catch (err) {
      throw fromDatabaseError(err, { jobId, what: 'engine_v2.cancel_job' });
    }
  }

  const ctx = {
    pool,
    relay,
    logger,
    defaults: { deadlineMs, events },
    uiCopy,
    inlineFiles,
    cancelWithin: (jobId, reason) => within(timeoutMs, 'engine_v2.cancel_job', () => cancel(jobId, reason)),
  };

  /**
   * Record a fallback the server decided (the SLO counts it), cancelling a run still
   * going; never throws and is bounded by `timeoutMs`, so v1 is never held up.
   * Returns cancel_job's answer; 'chat' (nothing recorded) for a chat run, which the
   * design's branch sends to v1's chat path; null when the database could not be told.
   */
  async function logFallback(jobId, err) {
    try {
      return await within(timeoutMs, 'engine_v2.log_fallback', async () => {
        if (err && err.name === 'EngineV2Error' && err.source === 'engine') {
          return 'canceled'; // the daemon ended the run and recorded its fallback itself
        }
        const run = (await pool.query(Q.runOutcome, [jobId])).rows[0];
        if (run && run.status === 'succeeded' && isChat(run.result)) return 'chat';
        const args = [jobId, fallbackCode(err), JSON.stringify(fallbackDetail(err))];
        return (await pool.query(Q.logFallback, args)).rows[0].answer;
      });
    } catch (e) {
      logger.warn(`[enginev2d] logFallback(${jobId}) failed: ${e.message}`);
      return null;
    }
  }

  /**
   * Relay one job's events (the relay on its own): resolves with its last event (null
   * when close() stopped it), rejects with signal.reason on abort.
   */
  function follow(jobId, onEvent, opts = {}) {
    if (typeof jobId !== 'string' || !UUID.test(jobId)) {
      return Promise.reject(new TypeError('follow: jobId must be a uuid'));
    }
    const ui = (opts.events || events) === 'ui';
    const { signal, after = 0 } = opts;
    if (signal && signal.aborted) return Promise.reject(signal.reason);
    const sub = relay.subscribe(jobId, Number(after), async (event) => {
      if (ui && !isUiEvent(event)) return;
      await onEvent(ui ? await uiCopy(event) : event);
    });
    if (!signal) return sub.done;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        relay.unsubscribe(sub);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      sub.done.then((final) => {
        signal.removeEventListener('abort', onAbort);
        resolve(final);
      });
    });
  }

  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    await relay.close();
    if (!givenPool) await pool.end();
  }

  return Object.freeze({
    shouldUseV2: (verifiedUser) => shouldUseV2(flags, verifiedUser),
    run: (userId, projectId, message, opts) => runJob(ctx, userId, projectId, message, opts),
    validateOutput,
    toV1Response,
    isChat,
    logFallback,
    follow,
    cancel,
    resolveArtifact,
    close,
    stats: () => relay.stats(),
  });
}

module.exports = { createEngineV2, DEFAULT_DEADLINE_MS, EngineV2Error };
