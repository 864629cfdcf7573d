'use strict';
/**
 * The relay: one LISTEN connection for every followed job, and catch-up reads by seq.
 *
 * NOTIFY engine_v2_events is only a hint: one per committing transaction, naming every job
 * it wrote events for with that job's last seq, `{"jobs": {"<job_id>": <seq>, ...}}`
 * (issue 17; an older daemon sent `{"job_id": "...", "seq": N}` per job, still read, see
 * notifiedJobs). Each subscription keeps the last seq it delivered and reads `seq > last`
 * (through the pool) whenever a hint names its job beyond that, after every (re)connect
 * of the LISTEN connection, and on a slow safety poll.
 * Delivery is in seq order, each seq once, never past a gap, and never after the job's
 * last event (`data.final`). A dropped LISTEN connection is reopened with exponential
 * backoff and jitter; nothing is lost because the reconnect catches every job up.
 * @module enginev2d-client/relay
 */

const Q = require('./queries.cjs');
const { rowToEvent, isFinal } = require('./progress.cjs');

/**
 * The jobs an engine_v2_events payload names, as Map(job id -> last seq): the daemon's
 * `{"jobs": {"<job_id>": <seq>, ...}}`, or an older daemon's `{"job_id": "...", "seq": N}`
 * (a rolling upgrade). Anything malformed names nothing: a hint is only a hint, and the
 * safety poll catches every followed job up anyway.
 * @param {string} payload
 * @returns {Map<string, number>}
 */
function notifiedJobs(payload) {
  const named = new Map();
  let hint;
  try {
    hint = JSON.parse(payload);
  } catch {
    return named;
  }
  if (!hint || typeof hint !== 'object' || Array.isArray(hint)) return named;
  const { jobs } = hint;
  let entries = [];
  if (jobs && typeof jobs === 'object' && !Array.isArray(jobs)) entries = Object.entries(jobs);
  else if ('job_id' in hint) entries = [[hint.job_id, hint.seq]];
  for (const [jobId, seq] of entries) {
    if (typeof jobId === 'string' && Number.isSafeInteger(seq)) named.set(jobId, seq);
  }
  return named;
}

/** Exponential backoff with jitter: attempt 0, 1, 2... -> [d/2, d] with d = initial * 2^n, capped. */
function backoffMs(attempt, { initialMs, maxMs }) {
  const d = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
  return Math.round(d / 2 + (Math.random() * d) / 2);
}

class Subscription {
  /**
   * @param {string} jobId
   * @param {number} after deliver events with seq > after
   * @param {(event: object) => (void|Promise<void>)} deliver
   */
  constructor(jobId, after, deliver) {
    this.jobId = jobId;
    this.last = after;
    this.deliver = deliver;
    this.closed = false;
    this.fetching = false;
    this.again = false;
    this.failures = 0;
    /** @type {Promise<object|null>} the final event, or null when closed before it */
    this.done = new Promise((resolve) => {
      this._resolve = resolve;
    });
  }
}

class Relay {
  /**
   * @param {object} o
   * @param {{query: Function}} o.pool catch-up reads
   * @param {() => import('pg').Client} o.newClient makes the LISTEN connection
   * @param {{warn: Function}} o.logger
   * @param {{initialMs: number, maxMs: number}} o.backoff
   * @param {number} o.pollMs safety-net catch-up period (0 = none)
   */
  constructor({ pool, newClient, logger, backoff, pollMs }) {
    this._pool = pool;
    this._newClient = newClient;
    this._logger = logger;
    this._backoff = backoff;
    this._pollMs = pollMs;
    /** @type {Map<string, Set<Subscription>>} */
    this._subs = new Map();
    this._client = null;
    this._connecting = false;
    this._attempt = 0;
    this._reconnectTimer = null;
    this._pollTimer = null;
    this._closed = false;
    this._stats = { connects: 0, reconnects: 0, notifications: 0, fetches: 0, fetchErrors: 0 };
  }

  /**
   * Follow `jobId` from `after`; `deliver` is awaited for each event, in order.
   * @returns {Subscription}
   */
  subscribe(jobId, after, deliver) {
    if (this._closed) throw new Error('enginev2d client is closed');
    const sub = new Subscription(jobId, after, deliver);
    if (!this._subs.has(jobId)) this._subs.set(jobId, new Set());
    this._subs.get(jobId).add(sub);
    this._ensureListening();
    this._ensurePolling();
    this.fetch(sub);
    return sub;
  }

  /** Stop a subscription; its `done` resolves with `final` (null: stopped before the end). */
  unsubscribe(sub, final = null) {
    if (sub.closed) return;
    sub.closed = true;
    const set = this._subs.get(sub.jobId);
    if (set) {
      set.delete(sub);
      if (set.size === 0) this._subs.delete(sub.jobId);
    }
    if (this._subs.size === 0) this._stopPolling();
    sub._resolve(final);
  }

  /** Read and deliver everything after `sub.last` (coalesced: one read in flight per subscription). */
  async fetch(sub) {
    if (sub.closed) return;
    if (sub.fetching) {
      sub.again = true;
      return;
    }
    sub.fetching = true;
    let gap = false;
    try {
      do {
        sub.again = false;
        this._stats.fetches += 1;
        const { rows } = await this._pool.query(Q.eventsAfter, [sub.jobId, sub.last]);
        sub.failures = 0;
        for (const row of rows) {
          if (sub.closed) break;
          const event = rowToEvent(row, sub.jobId);
          if (event.seq !== sub.last + 1) {
            gap = true; // not committed yet in order: never skip a seq
            break;
          }
          sub.last = event.seq;
          await this._deliver(sub, event);
          if (isFinal(event)) {
            this.unsubscribe(sub, event);
            break;
          }
        }
      } while (sub.again && !sub.closed && !gap);
    } catch (err) {
      this._stats.fetchErrors += 1;
      sub.failures += 1;
      this._logger.warn(`[enginev2d] reading events of job ${sub.jobId} failed: ${err.message}`);
      this._retry(sub, backoffMs(sub.failures - 1, this._backoff));
    } finally {
      sub.fetching = false;
    }
    if (gap) this._retry(sub, 20);
  }

  async _deliver(sub, event) {
    try {
      await sub.deliver(event);
    } catch (err) {
      this._logger.warn(`[enginev2d] event handler threw for job ${sub.jobId} seq ${event.seq}: ${err && err.message}`);
    }
  }

  _retry(sub, ms) {
    if (sub.closed || this._closed) return;
    setTimeout(() => this.fetch(sub), ms).unref(); // the LISTEN socket or its reconnect keeps us alive
  }

  _ensureListening() {
    if (this._closed || this._client || this._connecting || this._reconnectTimer) return;
    this._connect();
  }

  async _connect() {
    this._connecting = true;
    const client = this._newClient();
    client.on('error', (err) => this._dropped(client, err));
    client.on('end', () => this._dropped(client, null));
    client.on('notification', (msg) => this._onNotification(msg));
    try {
      await client.connect();
      await client.query(Q.listen);
    } catch (err) {
      this._connecting = false;
      this._discard(client);
      this._logger.warn(`[enginev2d] LISTEN connection failed: ${err.message}`);
      this._scheduleReconnect();
      return;
    }
    this._connecting = false;
    if (this._closed) {
      this._discard(client);
      return;
    }
    this._client = client;
    this._attempt = 0;
    this._stats.connects += 1;
    if (this._stats.connects > 1) this._stats.reconnects += 1;
    this.catchUp();
  }

  _dropped(client, err) {
    if (client !== this._client) return; // a failed connect, or already handled
    this._client = null;
    this._discard(client);
    if (this._closed) return;
    this._logger.warn(`[enginev2d] LISTEN connection lost${err ? `: ${err.message}` : ''}; reconnecting`);
    if (this._subs.size > 0) this._scheduleReconnect();
  }

  _discard(client) {
    client.removeAllListeners('notification');
    client.removeAllListeners('end');
    client.on('error', () => {}); // a late socket error must not crash the process
    client.end().catch(() => {});
  }

  _scheduleReconnect() {
    if (this._closed || this._reconnectTimer) return;
    const ms = backoffMs(this._attempt, this._backoff);
    this._attempt += 1;
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      this._ensureListening();
    }, ms);
  }

  _onNotification(msg) {
    if (msg.channel !== Q.CHANNEL) return;
    this._stats.notifications += 1;
    for (const [jobId, seq] of notifiedJobs(msg.payload)) {
      const set = this._subs.get(jobId);
      if (!set) continue;
      for (const sub of set) {
        if (seq > sub.last) this.fetch(sub);
      }
    }
  }

  /** Read every followed job up to date (after a reconnect, and on the safety poll). */
  catchUp() {
    for (const set of this._subs.values()) for (const sub of set) this.fetch(sub);
  }

  _ensurePolling() {
    if (this._pollTimer || !this._pollMs) return;
    this._pollTimer = setInterval(() => this.catchUp(), this._pollMs);
    this._pollTimer.unref();
  }

  _stopPolling() {
    if (this._pollTimer) clearInterval(this._pollTimer);
    this._pollTimer = null;
  }

  stats() {
    let followed = 0;
    for (const set of this._subs.values()) followed += set.size;
    return { listening: !!this._client, followed, ...this._stats };
  }

  async close() {
    this._closed = true;
    this._stopPolling();
    if (this._reconnectTimer) clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    for (const set of [...this._subs.values()]) for (const sub of [...set]) this.unsubscribe(sub);
    const client = this._client;
    this._client = null;
    if (client) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}

module.exports = { Relay, backoffMs, notifiedJobs };
