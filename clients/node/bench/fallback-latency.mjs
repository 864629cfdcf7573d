// Fallback-event latency as the host server sees it: from the commit of the transaction
// that writes a job's `fallback` event (pg_xact_commit_timestamp of the row, the database
// clock; the cluster needs track_commit_timestamp = on) to
//   * relay: the moment onEvent receives that event, and
//   * reject: the moment run() rejects, i.e. when the server can start v1.
// Run by `python -m bench.bench_node_client` (its own durable cluster and the real
// daemon); prints one JSON object. Environment: SERVER_URL, JOBS (default 200),
// CONCURRENCY (default 1).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';

import { createEngineV2 } from '../index.mjs';

const require = createRequire(import.meta.url);
const pg = require('pg');

const JOBS = Number(process.env.JOBS || 200);
const CONCURRENCY = Number(process.env.CONCURRENCY || 1);
const now = () => performance.timeOrigin + performance.now();
const OUTPUTS = {
  intent: { intent: 'edit' },
  plan: { dimension: '2d', skills: ['canvas'], image_count: 0, codegen_strategy: 'scratch' },
  codegen: { files: [], summary: '' }, // out of schema: v2_output_invalid, no retry
  asset: { images: [] },
  qa_review: { issues: 0, findings: [] },
  fix: { files: [] },
  publish_prep: { commit_hash: 'abc' },
};
const inject = Object.fromEntries(Object.entries(OUTPUTS).map(([k, v]) => [k, { output: v }]));

const pool = new pg.Pool({ connectionString: process.env.SERVER_URL, max: 8 });
const engine = createEngineV2({ pool, events: 'all', logger: { warn: () => {} } });

async function oneJob() {
  const jobId = randomUUID();
  const userId = randomUUID();
  await pool.query("INSERT INTO public.jobs (id, user_id, project_id) VALUES ($1, $2, 'bench')", [jobId, userId]);
  let relayed = null;
  let seq = null;
  const err = await engine
    .run(userId, 'bench', 'make a game', {
      jobId,
      inject,
      onEvent: (e) => {
        if (e.type === 'fallback') {
          relayed = now();
          seq = e.seq;
        }
      },
    })
    .then(
      () => null,
      (e) => e,
    );
  const rejected = now();
  if (!err || err.code !== 'v2_output_invalid' || relayed === null) throw new Error(`unexpected outcome: ${err}`);
  const { rows } = await pool.query(
    `SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000 AS ms
       FROM engine_v2.job_task_events WHERE job_id = $1 AND seq = $2`,
    [jobId, seq],
  );
  const committed = Number(rows[0].ms);
  return { relay: relayed - committed, reject: rejected - committed };
}

function pct(values, p) {
  const s = [...values].sort((a, b) => a - b);
  const rank = ((s.length - 1) * p) / 100;
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

const summary = (values) => ({
  n: values.length,
  p50: +pct(values, 50).toFixed(2),
  p90: +pct(values, 90).toFixed(2),
  p99: +pct(values, 99).toFixed(2),
  max: +Math.max(...values).toFixed(2),
});

for (let i = 0; i < 5; i += 1) await oneJob(); // warm-up: connections, plans
const results = [];
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < JOBS) {
      next += 1;
      results.push(await oneJob());
    }
  }),
);
console.log(
  JSON.stringify({
    jobs: JOBS,
    concurrency: CONCURRENCY,
    relay_ms: summary(results.map((r) => r.relay)),
    reject_ms: summary(results.map((r) => r.reject)),
    listen: engine.stats(),
  }),
);
await engine.close();
await pool.end();
