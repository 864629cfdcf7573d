// Pure rules of the client (no database): design 4, 14, 15, the UI filter, the backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import * as esm from '../index.mjs';
import {
  CODES,
  EngineV2Error,
  SQLSTATES,
  UI_EVENTS,
  createEngineV2,
  fallbackCode,
  isChat,
  shouldUseV2FromEnv,
  toV1Response,
  validateOutput,
} from '../index.mjs';

const require = createRequire(import.meta.url);
const cjs = require('../index.cjs');
const { fromDatabaseError } = require('../lib/errors.cjs');
const { rowToEvent, isUiEvent, toUiEvent } = require('../lib/progress.cjs');
const { Relay, backoffMs, notifiedJobs } = require('../lib/relay.cjs');
const { EventEmitter } = require('node:events');

const GAME = { type: 'completed', files: [{ path: 'index.html', content: '<canvas>' }], images: [], summary: 'a game' };

test('one implementation behind both entry points', () => {
  assert.equal(cjs.EngineV2Error, EngineV2Error);
  assert.equal(cjs.createEngineV2, createEngineV2);
  const esmNames = Object.keys(esm).filter((k) => k !== 'default').sort();
  assert.deepEqual(esmNames, Object.keys(cjs).sort());
});

test('shouldUseV2: design 4, exact strings, verified user only', () => {
  const user = { id: 'u-1', email: 'notef@neighbor.gg' };
  assert.equal(shouldUseV2FromEnv({}, user), false);
  assert.equal(shouldUseV2FromEnv({ ENGINE_V2_ENABLED: 'TRUE' }, user), false);
  assert.equal(shouldUseV2FromEnv({ ENGINE_V2_ENABLED: 'true' }, user), false); // allowlist on, empty
  const allow = { ENGINE_V2_ENABLED: 'true', ENGINE_V2_ALLOWLIST: 'x,notef@neighbor.gg' };
  assert.equal(shouldUseV2FromEnv(allow, user), true);
  assert.equal(shouldUseV2FromEnv(allow, { id: 'x' }), true);
  assert.equal(shouldUseV2FromEnv(allow, { id: 'y', email: 'z' }), false);
  assert.equal(shouldUseV2FromEnv(allow, null), false);
  const everyone = { ENGINE_V2_ENABLED: 'true', ENGINE_V2_ALLOWLIST_ONLY: 'false' };
  assert.equal(shouldUseV2FromEnv(everyone, { id: 'anyone' }), true);
  assert.equal(shouldUseV2FromEnv({ ...everyone, ENGINE_V2_ALLOWLIST_ONLY: 'no' }, { id: 'anyone' }), false);
  // The engine object reads the environment it is given, once.
  const engine = createEngineV2({ connectionString: 'postgresql://x@127.0.0.1:1/none', env: allow });
  assert.equal(engine.shouldUseV2(user), true);
  return engine.close();
});

test('validateOutput: design 14, strict types, chat is not an output', () => {
  assert.equal(validateOutput(GAME), true);
  assert.equal(validateOutput({ ...GAME, images: undefined }), true);
  for (const bad of [
    null,
    'x',
    { ...GAME, files: [] },
    { ...GAME, files: [{ path: 'game.js', content: '' }] },
    { ...GAME, files: [{ path: 'index.html' }] },
    { ...GAME, summary: '  ' },
    { ...GAME, images: [{ name: 'a' }] },
    { type: 'chat', reply: 'hi' },
  ]) {
    assert.equal(validateOutput(bad), false, JSON.stringify(bad));
  }
  assert.equal(isChat({ type: 'chat', reply: null }), true);
  assert.equal(isChat(GAME), false);
  assert.equal(isChat(null), false);
});

test('toV1Response: the design input (artifacts) and the stored result give the v1 shape', () => {
  const fromArtifacts = toV1Response({
    artifacts: [
      { kind: 'code', content: { path: 'index.html', content: '<canvas>', extra: 1 } },
      { kind: 'image', content: { name: 'player', uri: 'assets/player.png' } },
      { kind: 'plan', content: {} },
      { kind: 'code', content: 'no path' },
    ],
    summary: 'a game',
  });
  assert.deepEqual(fromArtifacts, {
    type: 'completed',
    files: [{ path: 'index.html', content: '<canvas>' }],
    images: [{ name: 'player', uri: 'assets/player.png' }],
    summary: 'a game',
  });
  assert.deepEqual(toV1Response({ ...GAME, files: [...GAME.files, { path: 'x', bytes: 3, uri: 'u' }] }), GAME);
});

test('fallbackCode: any spelling of a design-15 code, else v2_unknown', () => {
  assert.equal(fallbackCode(new Error('V2_OUTPUT_INVALID')), 'v2_output_invalid');
  assert.equal(fallbackCode(new EngineV2Error('v2_timeout', 'late')), 'v2_timeout');
  assert.equal(fallbackCode({ code: 'V2_TASK_FAILED' }), 'v2_task_failed');
  assert.equal(fallbackCode('canceled'), 'canceled');
  assert.equal(fallbackCode(new Error('UNAUTHENTICATED')), 'v2_unknown');
  assert.equal(fallbackCode(undefined), 'v2_unknown');
  assert.equal(new EngineV2Error('V2_NOPE', 'x').code, 'v2_unknown');
  assert.deepEqual([...CODES].sort(), [...new Set(CODES)].sort());
});

test('SQLSTATEs of submit_job and connection failures map to design codes', () => {
  const cases = [
    [{ code: '22023', message: 'p_message is required' }, 'v2_scheduler_error', 'invalid_request'],
    [{ code: '23503', message: 'no public.jobs row' }, 'v2_scheduler_error', 'no_job_row'],
    [{ code: '42501', message: 'does not own' }, 'v2_scheduler_error', 'not_permitted'],
    [{ code: '42883', message: 'function does not exist' }, 'v2_scheduler_error', 'not_installed'],
    [{ code: '57014', message: 'canceling statement' }, 'v2_timeout', 'statement_timeout'],
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 'v2_scheduler_error', 'database_unavailable'],
    [{ code: '08006', message: 'connection failure' }, 'v2_scheduler_error', 'database_unavailable'],
    [new Error('Connection terminated unexpectedly'), 'v2_scheduler_error', 'database_unavailable'],
    [{ code: 'XX000', message: 'internal' }, 'v2_unknown', 'database_error'],
  ];
  for (const [err, code, reason] of cases) {
    const mapped = fromDatabaseError(err, { jobId: 'j', source: 'submit' });
    assert.ok(mapped instanceof EngineV2Error);
    assert.equal(mapped.code, code, err.message);
    assert.equal(mapped.reason, reason, err.message);
    assert.equal(mapped.source, 'submit');
  }
  for (const [state, [code]] of SQLSTATES) {
    assert.ok(CODES.includes(code), state);
  }
});

test('events: seq is a number, UI events carry nothing internal', () => {
  const row = { seq: '12', event_type: 'taskRetry', data: { type: 'taskRetry', error: { message: 'x' } }, created_at: new Date() };
  const ev = rowToEvent(row, 'job');
  assert.equal(ev.seq, 12);
  assert.equal(ev.job_id, 'job');
  assert.equal(isUiEvent(ev), false);
  for (const type of ['jobSubmitted', 'taskFailed', 'taskCanceled', 'jobFailed', 'fallback', 'jobCanceled', 'dagDeadlock']) {
    assert.equal(isUiEvent({ type }), false, type);
  }
  for (const type of UI_EVENTS) assert.equal(isUiEvent({ type }), true, type);
  const done = toUiEvent({ type: 'taskDone', task_key: 'plan', label: 'L', progress: 15, attempt: 2, latency_ms: 3, model: 'm', seq: 4 });
  assert.deepEqual(done, { type: 'taskDone', task_key: 'plan', label: 'L', progress: 15, seq: 4 });
});

test('reconnect backoff doubles, is jittered and capped', () => {
  const cfg = { initialMs: 100, maxMs: 5000 };
  for (let n = 0; n < 12; n += 1) {
    const d = Math.min(5000, 100 * 2 ** n);
    for (let i = 0; i < 20; i += 1) {
      const ms = backoffMs(n, cfg);
      assert.ok(ms >= d / 2 && ms <= d, `${n}: ${ms}`);
    }
  }
});

const JOB_A = '6f1c2d1e-7a43-4b0e-9a55-3f7f0c1d2e01';
const JOB_B = '0b9e8d7c-6a5b-4c3d-8e2f-1a0b9c8d7e02';
const JOB_C = '5d4c3b2a-1908-4f7e-8d6c-5b4a39281703';
const JOB_D = '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c04';

test('notifiedJobs: the one-per-commit payload, the older per-job one, garbage names nothing', () => {
  assert.deepEqual(
    [...notifiedJobs(`{"jobs": {"${JOB_A}": 7, "${JOB_B}": 1}}`)],
    [
      [JOB_A, 7],
      [JOB_B, 1],
    ],
  );
  assert.deepEqual([...notifiedJobs(`{"job_id": "${JOB_A}", "seq": 3}`)], [[JOB_A, 3]]);
  const bad = ['', 'not json', 'null', '[1]', '42', '"jobs"', '{}', '{"jobs": 5}', '{"jobs": ["x"]}', '{"seq": 3}'];
  bad.push(`{"job_id": "${JOB_A}"}`, `{"job_id": "${JOB_A}", "seq": "3"}`, `{"job_id": "${JOB_A}", "seq": 3.5}`, '{"job_id": 12, "seq": 3}');
  for (const payload of bad) assert.equal(notifiedJobs(payload).size, 0, payload);
  // Only the malformed entries of a jobs map are dropped.
  assert.deepEqual([...notifiedJobs(JSON.stringify({ jobs: { [JOB_A]: 2, [JOB_B]: '2' } }))], [[JOB_A, 2]]);
});

/** A Relay on an in-memory event table (job id -> last seq) and a LISTEN connection notified by hand. */
function relayOnFakes(table) {
  const reads = [];
  const pool = {
    query: async (text, [jobId, last]) => {
      reads.push(jobId);
      const rows = [];
      for (let seq = last + 1; seq <= (table.get(jobId) || 0); seq += 1) {
        rows.push({ seq: String(seq), event_type: 'tick', data: {}, created_at: null });
      }
      return { rows };
    },
  };
  let client = null;
  const newClient = () => {
    client = Object.assign(new EventEmitter(), { connect: async () => {}, query: async () => ({ rows: [] }), end: async () => {} });
    return client;
  };
  const relay = new Relay({ pool, newClient, logger: { warn: () => {} }, backoff: { initialMs: 10, maxMs: 20 }, pollMs: 0 });
  const notify = (payload) => client.emit('notification', { channel: 'engine_v2_events', payload });
  return { relay, reads, notify };
}

test('the relay reads every followed job a hint names beyond what it delivered, and nothing else', async () => {
  const table = new Map();
  const { relay, reads, notify } = relayOnFakes(table);
  const got = new Map([JOB_A, JOB_B, JOB_C].map((j) => [j, []]));
  for (const j of got.keys()) relay.subscribe(j, 0, (e) => got.get(j).push(e.seq));
  // Three first reads, three more once LISTEN is up (the reconnect catch-up).
  await waitUntil(() => relay.stats().listening && reads.length === 6 && relay.stats().fetches === 6);
  reads.length = 0;

  table.set(JOB_A, 2).set(JOB_B, 1);
  notify(`{"jobs": {"${JOB_A}": 2, "${JOB_B}": 1, "${JOB_D}": 4}}`); // JOB_D: followed by no one
  assert.deepEqual(reads, [JOB_A, JOB_B]); // one read per followed job named, at once
  await waitUntil(() => got.get(JOB_A).length === 2 && got.get(JOB_B).length === 1);

  table.set(JOB_C, 1);
  notify(`{"job_id": "${JOB_C}", "seq": 1}`); // an older daemon
  assert.deepEqual(reads.slice(2), [JOB_C]);
  await waitUntil(() => got.get(JOB_C).length === 1);

  // Nothing new (seq not beyond the last delivered), and garbage: no read, no throw.
  for (const payload of [`{"jobs": {"${JOB_A}": 2, "${JOB_B}": 1}}`, `{"job_id": "${JOB_C}", "seq": 1}`, 'not json', '{"jobs": 5}']) {
    notify(payload);
  }
  assert.deepEqual(reads.slice(3), []);
  assert.deepEqual([...got.values()], [[1, 2], [1], [1]]);
  assert.equal(relay.stats().notifications, 6);
  await relay.close();
});

/** Wait (microtasks and timers) until `fn()` is true; fail after 5 s. */
async function waitUntil(fn) {
  const end = Date.now() + 5000;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${fn}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('run refuses a missing job id before touching the database', async () => {
  const engine = createEngineV2({ connectionString: 'postgresql://x@127.0.0.1:1/none' });
  await assert.rejects(engine.run('u', 'p', 'm', {}), TypeError);
  await assert.rejects(engine.follow('nope', () => {}), TypeError);
  await engine.close();
});
