'use strict';
/**
 * Design section 13: events as the server relays them, and which of them are meant for
 * the browser. An event is the row's `data` (which carries `type`) flattened, plus `seq`
 * (a number, though the column is bigint), `job_id` and `created_at`.
 * @module enginev2d-client/progress
 */

/**
 * What a user sees: progress, labels, the partial game, the end. Failures, retries,
 * cancels and fallbacks are not among them (design 1: v2 is invisible; on a fallback
 * v1's progress takes over).
 */
const UI_EVENTS = Object.freeze(['taskStarted', 'taskProgress', 'taskDone', 'taskSkipped', 'partialResult', 'jobCompleted']);
const UI_EVENT_SET = new Set(UI_EVENTS);
/** Keys of `data` that are for operators, not users. */
const INTERNAL_KEYS = ['error', 'attempt', 'next_attempt', 'latency_ms', 'reason', 'error_code', 'message', 'model', 'created_at'];

/**
 * @param {{seq: string|number, event_type: string, data: object|null, created_at: Date}} row
 * @param {string} jobId
 */
function rowToEvent(row, jobId) {
  return {
    ...(row.data || {}),
    type: row.event_type,
    seq: Number(row.seq),
    job_id: jobId,
    created_at: row.created_at,
  };
}

/** True when `event` is meant for the browser. */
function isUiEvent(event) {
  return UI_EVENT_SET.has(event.type);
}

/** The browser's copy of a UI event: internal keys removed. */
function toUiEvent(event) {
  const out = { ...event };
  for (const k of INTERNAL_KEYS) delete out[k];
  return out;
}

/** The last event of a run: `data.final === true` (jobCompleted, fallback or jobCanceled). */
function isFinal(event) {
  return event.final === true;
}

module.exports = { UI_EVENTS, rowToEvent, isUiEvent, toUiEvent, isFinal };
