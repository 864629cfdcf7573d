// The client against the real PostgreSQL and the real daemon (`enginev2d run` as a
// subprocess), connected as the host server's role (engine_v2_server). One file, run in
// order: the last tests stop the daemon. Skipped unless tests/acceptance/test_node_client.py
// (part of `make test`) provides the database and the daemon.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { EngineV2Error, UI_EVENTS, createEngineV2, validateOutput } from '../index.mjs';
import { Daemon, Db, configured, env, fakeSocket, fakeV1, inject, range, safeSendFor, seqs, waitFor } from './helpers.mjs';

const require = createRequire(import.meta.url);
const { createServer } = require('./fixtures/server-index.cjs');
const pg = require('pg');
const Q = require('../lib/queries.cjs');

const V2_ON = { ENGINE_V2_ENABLED: 'true', ENGINE_V2_ALLOWLIST_ONLY: 'false' };
const quiet = { warn: () => {} };

const suite = { skip: !configured && 'no test database (run make test)', timeout: 120000 };

describe('enginev2d-client on the real daemon', suite, () => {
  const daemon = new Daemon();
  let db;
  let engine;
  const engines = [];
  const make = (opts = {}) => {
    const e = createEngineV2({ connectionString: env.serverUrl, env: V2_ON, logger: quiet, ...opts });
    engines.push(e);
    return e;
  };
  /** The design's section 5 handler on `engineV2`, with a stand-in v1. */
  const server = (engineV2) => {
    const v1 = fakeV1(db);
    return { v1, onMessage: createServer({ engineV2, runV1: v1.runV1, safeSendFor }) };
  };
  const generate = async (onMessage, message, job) => {
    const ws = fakeSocket(job);
    await onMessage(ws, { type: 'generateGame', message, projectId: job.projectId }, { id: job.id });
    return ws;
  };

  before(async () => {
    db = new Db();
    await daemon.start();
    engine = make();
  });

  after(async () => {
    await daemon.stop();
    await Promise.all(engines.map((e) => e.close()));
    await db.close();
  });

  test('a real game: the v1 response, every seq once and in order, only UI events forwarded', async () => {
    const job = await db.hostJob();
    const ui = [];
    const all = [];
    const following = engine.follow(job.id, (e) => all.push(e), { events: 'all' });
    const result = await engine.run(job.userId, job.projectId, 'make me a neon snake game', {
      jobId: job.id,
      onEvent: (e) => ui.push(e),
    });
    const last = await following;
    assert.equal(validateOutput(result), true);
    assert.ok(result.files.some((f) => f.path === 'game.js'));
    assert.equal(await db.jobStatus(job.id), 'completed'); // v2 completed it (design 9)
    // The relay alone: every event, seq a number, 1..n, the final one last.
    assert.deepEqual(seqs(all), range(1, all.length));
    assert.equal(typeof all[0].seq, 'number');
    assert.deepEqual(last, all.at(-1));
    assert.equal(last.type, 'jobCompleted');
    assert.equal(last.final, true);
    assert.deepEqual(seqs(all), seqs(await db.events(job.id)));
    // What the browser gets: UI events in order, progress never down, then v1's message.
    const kinds = new Set(ui.map((e) => e.type));
    for (const k of kinds) assert.ok(UI_EVENTS.includes(k) || k === 'completed', k);
    assert.ok(kinds.has('taskStarted') && kinds.has('partialResult'));
    const progress = ui.filter((e) => typeof e.progress === 'number').map((e) => e.progress);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
    assert.equal(progress.at(-1), 100);
    assert.deepEqual(ui.at(-1), { ...result, job_id: job.id });
    assert.ok(ui.every((e) => !('error' in e) && !('attempt' in e)));
  });

  test("the design's routing branch, success: no v1, no fallback", async () => {
    // The design's branch passes no submit options; this rehearsal engine adds `inject`.
    const rehearsal = { ...engine, run: (u, p, m, o) => engine.run(u, p, m, { ...o, inject: inject() }) };
    const { v1, onMessage } = server(rehearsal);
    const job = await db.hostJob();
    const ws = await generate(onMessage, 'make a snake game', job);
    assert.equal(v1.calls.length, 0);
    assert.equal((await db.run(job.id)).status, 'succeeded');
    assert.deepEqual(await db.serverFallbacks(job.id), []);
    assert.equal(await db.jobStatus(job.id), 'completed');
    assert.equal(ws.sent.at(-1).type, 'completed'); // v1's message, through onEvent
  });

  test('chat reaches v1 (the chat path) and is not counted as a fallback', async () => {
    const chat = inject({ intent: { output: { intent: 'chat' } } });
    const direct = await db.hostJob();
    const answer = await engine.run(direct.userId, direct.projectId, 'hello there', { jobId: direct.id, inject: chat });
    assert.equal(answer.type, 'chat');
    assert.match(answer.reply, /\S/); // the engine's short answer (offline: what it can make)
    assert.equal(engine.isChat(answer), true);

    const rehearsal = { ...engine, run: (u, p, m, o) => engine.run(u, p, m, { ...o, inject: chat }) };
    const { v1, onMessage } = server(rehearsal);
    const job = await db.hostJob();
    await generate(onMessage, 'hello there', job);
    assert.equal(v1.calls.length, 1); // v1 answers the chat, as before v2
    const run = await db.run(job.id);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.fallback_triggered, false);
    assert.deepEqual(await db.serverFallbacks(job.id), []); // not a fallback
    assert.equal(await engine.logFallback(job.id, new Error('V2_OUTPUT_INVALID')), 'chat');
  });

  test('a forced failure: runV1 exactly once, the engine code, nothing after the last event', async () => {
    const failing = inject({ codegen: { output: { files: [], summary: '' } } });
    let rejected;
    const rehearsal = {
      ...engine,
      run: (u, p, m, o) =>
        engine.run(u, p, m, { ...o, inject: failing }).catch((err) => {
          rejected = err;
          throw err;
        }),
    };
    const { v1, onMessage } = server(rehearsal);
    const job = await db.hostJob();
    const all = [];
    const following = engine.follow(job.id, (e) => all.push(e), { events: 'all' });
    const ws = await generate(onMessage, 'make a snake game', job);
    await following;
    assert.equal(v1.calls.length, 1);
    assert.ok(rejected instanceof EngineV2Error);
    assert.deepEqual([rejected.code, rejected.source, rejected.taskKey], ['v2_output_invalid', 'engine', 'codegen']);
    const run = await db.run(job.id);
    assert.deepEqual([run.status, run.error_code], ['failed', 'v2_output_invalid']);
    assert.deepEqual(await db.serverFallbacks(job.id), []); // the engine counted it itself
    assert.deepEqual(
      all.slice(-2).map((e) => [e.type, e.final]),
      [
        ['jobFailed', undefined],
        ['fallback', true],
      ],
    );
    assert.deepEqual(seqs(all), seqs(await db.events(job.id)));
    assert.ok(ws.sent.every((e) => !['fallback', 'jobFailed', 'taskRetry', 'completed'].includes(e.type)));
    assert.equal(await db.jobStatus(job.id), 'completed'); // by v1
  });

  test('a deadline cancels: v2_timeout, v1 runs once, the server fallback is recorded', async () => {
    const slow = make({ deadlineMs: 300 });
    const late = inject({ plan: { latency_ms: 5000 } });
    const rehearsal = { ...slow, run: (u, p, m, o) => slow.run(u, p, m, { ...o, inject: late }) };
    const { v1, onMessage } = server(rehearsal);
    const job = await db.hostJob();
    const t0 = Date.now();
    await generate(onMessage, 'make a snake game', job);
    assert.ok(Date.now() - t0 < 4000, 'v1 started long before the slow task would have ended');
    assert.equal(v1.calls.length, 1);
    const run = await db.run(job.id);
    assert.equal(run.status, 'canceled');
    const recorded = await db.serverFallbacks(job.id);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0].error_code, 'v2_timeout');
    assert.equal(recorded[0].detail.source, 'deadline');
    assert.equal(recorded[0].detail.v2, 'canceled');
    const types = (await db.events(job.id)).map((e) => e.event_type);
    assert.deepEqual(types.slice(-2), ['fallback', 'jobCanceled']);
  });

  test('a deadline that loses the race: v2 already completed, run resolves with its result', async () => {
    // Hold back the event reads so the client cannot have seen jobCompleted when it gives up.
    const real = new pg.Pool({ connectionString: env.serverUrl, max: 4 });
    let release;
    const gate = new Promise((r) => {
      release = r;
    });
    const sent = [];
    const gated = {
      options: real.options,
      query: async (text, values) => {
        sent.push(text);
        if (text.includes('job_task_events')) await gate;
        return real.query(text, values);
      },
    };
    const racing = make({ pool: gated });
    const job = await db.hostJob();
    const ac = new AbortController();
    const ui = [];
    try {
      const pending = racing.run(job.userId, job.projectId, 'make a snake game', {
        jobId: job.id,
        inject: inject(),
        signal: ac.signal,
        onEvent: (e) => ui.push(e),
      });
      await waitFor(async () => (await db.run(job.id))?.status === 'succeeded', 15000, 'v2 to complete');
      ac.abort(new DOMException('deadline', 'TimeoutError'));
      const result = await pending;
      assert.equal(validateOutput(result), true);
      assert.ok(sent.some((t) => t.includes('cancel_job')));
      assert.equal(ui.length, 1); // nothing but the v1 message: no event had been read
      assert.equal(ui[0].type, 'completed');
      assert.equal((await db.run(job.id)).status, 'succeeded');
      assert.equal(await db.jobStatus(job.id), 'completed');
    } finally {
      release();
      await racing.close();
      await real.end();
    }
  });

  test('the LISTEN connection killed twice mid-job: every event once, in order', async () => {
    const flaky = make({ applicationName: 'ev2-flaky', backoff: { initialMs: 250, maxMs: 400 } });
    const job = await db.hostJob();
    const all = [];
    const slowish = inject({ plan: { latency_ms: 400 }, codegen: { latency_ms: 600 }, asset: { latency_ms: 600 } });
    const kill = () =>
      db.admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ev2-flaky-listen'",
      );
    const running = flaky.run(job.userId, job.projectId, 'make a snake game', {
      jobId: job.id,
      inject: slowish,
      events: 'all',
      onEvent: (e) => all.push(e),
    });
    await waitFor(() => flaky.stats().listening && all.length >= 2, 10000, 'the first events');
    await kill();
    await waitFor(() => flaky.stats().reconnects >= 1, 10000, 'a reconnect');
    await waitFor(() => all.some((e) => e.task_key === 'codegen'), 10000, 'codegen');
    await kill();
    const result = await running;
    assert.equal(validateOutput(result), true);
    assert.ok(flaky.stats().reconnects >= 2, JSON.stringify(flaky.stats()));
    assert.deepEqual(seqs(all), range(1, all.length));
    assert.deepEqual(seqs(all), seqs(await db.events(job.id)));
    assert.equal(all.at(-1).type, 'jobCompleted');
  });

  test('20 concurrent jobs on one LISTEN connection', async () => {
    const many = make({ applicationName: 'ev2-many' });
    const jobs = await Promise.all(Array.from({ length: 20 }, () => db.hostJob()));
    const seen = new Map(jobs.map((j) => [j.id, []]));
    let listeners = 0;
    const results = await Promise.all(
      jobs.map((job) =>
        many.run(job.userId, job.projectId, 'make a snake game', {
          jobId: job.id,
          inject: inject(),
          events: 'all',
          onEvent: async (e) => {
            seen.get(job.id).push(e);
            if (e.seq === 3 && !listeners) {
              listeners = Number(
                (await db.one("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'ev2-many-listen'")).n,
              );
            }
          },
        }),
      ),
    );
    assert.ok(results.every(validateOutput));
    assert.equal(listeners, 1);
    for (const [jobId, events] of seen) {
      assert.deepEqual(seqs(events), range(1, events.length), jobId);
      assert.equal(events.at(-1).type, 'jobCompleted');
    }
    assert.equal(many.stats().followed, 0);
  });

  test('submit refused: design codes from SQLSTATEs, v1 runs, the server fallback is recorded', async () => {
    const job = await db.hostJob();
    const cases = [
      [{ ...job, id: '00000000-0000-4000-8000-000000000001' }, 'make a game', '23503', 'no_job_row'],
      [{ ...job, userId: '00000000-0000-4000-8000-000000000002' }, 'make a game', '42501', 'not_permitted'],
      [job, '   ', '22023', 'invalid_request'],
    ];
    for (const [j, message, sqlstate, reason] of cases) {
      const err = await engine.run(j.userId, j.projectId, message, { jobId: j.id }).catch((e) => e);
      assert.ok(err instanceof EngineV2Error, String(err));
      assert.deepEqual([err.code, err.sqlstate, err.reason, err.source], ['v2_scheduler_error', sqlstate, reason, 'submit']);
    }
    const { v1, onMessage } = server(engine);
    await generate(onMessage, '   ', job);
    assert.equal(v1.calls.length, 1);
    const recorded = await db.serverFallbacks(job.id);
    assert.deepEqual(
      recorded.map((r) => [r.error_code, r.detail.sqlstate, r.detail.v2]),
      [['v2_scheduler_error', '22023', 'canceled']],
    );
  });

  test('daemon down: the deadline cancels the waiting job and v1 takes over', async () => {
    await daemon.stop();
    const patient = make({ deadlineMs: 400 });
    const { v1, onMessage } = server(patient);
    const job = await db.hostJob();
    const t0 = Date.now();
    await generate(onMessage, 'make a snake game', job);
    const waited = Date.now() - t0;
    assert.ok(waited >= 400 && waited < 5000, `${waited} ms`);
    assert.equal(v1.calls.length, 1);
    assert.equal((await db.run(job.id)).status, 'canceled');
    assert.deepEqual(
      (await db.serverFallbacks(job.id)).map((r) => r.error_code),
      ['v2_timeout'],
    );
  });

  test("publish in doubt: cancel answers 'pending', the run's last event decides", async () => {
    const job = await db.hostJob();
    const ac = new AbortController();
    let settled = false;
    const outcome = engine.run(job.userId, job.projectId, 'make a snake game', { jobId: job.id, signal: ac.signal }).then(
      (value) => value,
      (err) => err,
    );
    outcome.then(() => {
      settled = true;
    });
    await waitFor(() => db.run(job.id), 5000, 'the run row');
    // What a daemon does right before its swap (and then dies): the publish intent.
    await db.admin.query("UPDATE engine_v2.job_runs SET publish_commit = 'deadbeef' WHERE job_id = $1", [job.id]);
    ac.abort(new DOMException('deadline', 'TimeoutError'));
    await waitFor(async () => (await db.run(job.id)).cancel_pending, 5000, 'the pending cancel');
    assert.equal(settled, false); // v2 may be live: neither success nor fallback yet
    // The takeover finds production without the commit: the run is canceled.
    await db.admin.query("SELECT engine_v2._cancel_run($1, 'not live after takeover')", [job.id]);
    const err = await outcome;
    assert.ok(err instanceof EngineV2Error);
    assert.deepEqual([err.code, err.answer, err.source], ['v2_timeout', 'pending', 'abort']);
  });
  // The daemon is down from here on: the transactions below are the only writers of events.

  /**
   * A client on the server pool that records the job of every event read, with no safety
   * poll: after its first reads, only a notification can make it read again.
   */
  const hintOnly = async (applicationName, jobs) => {
    const reads = [];
    const pool = {
      options: db.server.options,
      query: async (text, values) => {
        const result = await db.server.query(text, values);
        if (text === Q.eventsAfter) reads.push(values[0]);
        return result;
      },
    };
    const client = make({ pool, pollMs: 0, applicationName });
    const got = new Map(jobs.map((j) => [j.id, []]));
    const following = jobs.map((j) => client.follow(j.id, (e) => got.get(j.id).push([e.seq, e.type]), { events: 'all' }));
    // One read per job at subscribe and one more once LISTEN is up, all of them finished.
    const settled = () => client.stats().listening && client.stats().fetches === 2 * jobs.length;
    await waitFor(() => settled() && reads.length === 2 * jobs.length, 10000, 'LISTEN and the first reads');
    reads.length = 0;
    return { client, reads, got, following };
  };

  /** One transaction of the host server's role: `statements` ([sql, params]) then COMMIT. */
  const inOneTransaction = async (statements) => {
    const tx = await db.server.connect();
    try {
      await tx.query('BEGIN');
      for (const [sql, params] of statements) await tx.query(sql, params);
      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
  };
  const submit = (job) => [Q.submitJob, [job.id, job.userId, job.projectId, 'make a snake game', '{}']];

  test('one commit writing events of two followed jobs: one notification delivers both', async () => {
    const jobs = [await db.hostJob(), await db.hostJob()];
    const { client, reads, got, following } = await hintOnly('ev2-group', jobs);
    const before = client.stats().notifications;
    await inOneTransaction(jobs.map(submit));
    await waitFor(() => jobs.every((j) => got.get(j.id).length > 0), 10000, "both jobs' jobSubmitted");
    assert.equal(client.stats().notifications - before, 1);
    assert.deepEqual([...reads].sort(), jobs.map((j) => j.id).sort()); // one read per job, on the hint
    for (const j of jobs) assert.deepEqual(got.get(j.id), [[1, 'jobSubmitted']]);
    await client.close();
    assert.deepEqual(await Promise.all(following), [null, null]);
  });

  test("an older daemon's {job_id, seq} hint still delivers; malformed ones are ignored", async () => {
    const job = await db.hostJob();
    const { client, reads, got, following } = await hintOnly('ev2-old-hint', [job]);
    const before = client.stats().notifications;
    const hint = (payload) => ["SELECT pg_notify('engine_v2_events', $1)", [payload]];
    await inOneTransaction([hint('not json')]);
    await inOneTransaction([hint(`{"jobs": "${job.id}"}`)]);
    // What a daemon from before issue 17 committed: the event with only its per-job hint
    // (this commit's own {"jobs": ...} notification is held back by emptying its list).
    await inOneTransaction([
      submit(job),
      ["SELECT set_config('engine_v2.notify', '', true)", []],
      hint(`{"job_id": "${job.id}", "seq": 1}`),
    ]);
    await waitFor(() => got.get(job.id).length > 0, 10000, 'jobSubmitted');
    assert.equal(client.stats().notifications - before, 3); // in commit order: the garbage came first
    assert.deepEqual(reads, [job.id]);
    assert.deepEqual(got.get(job.id), [[1, 'jobSubmitted']]);
    await client.close();
    assert.deepEqual(await Promise.all(following), [null]);
  });
});
