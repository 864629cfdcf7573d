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
const { backoffMs } = require('../lib/relay.cjs');

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

test('run refuses a missing job id before touching the database', async () => {
  const engine = createEngineV2({ connectionString: 'postgresql://x@127.0.0.1:1/none' });
  await assert.rejects(engine.run('u', 'p', 'm', {}), TypeError);
  await assert.rejects(engine.follow('nope', () => {}), TypeError);
  await engine.close();
});
