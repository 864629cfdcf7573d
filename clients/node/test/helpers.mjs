// Test support: the real daemon as a subprocess, the host's part (public.jobs), waits with
// deadlines. Configured by tests/acceptance/test_node_client.py through the environment:
//   ENGINEV2_TEST_SERVER_URL  the host server's login role (member of engine_v2_server)
//   ENGINEV2_TEST_ADMIN_URL   a superuser (checks, pg_terminate_backend, simulated takeovers)
//   ENGINEV2_TEST_DAEMON      JSON argv of `enginev2d --config ... run`
//   ENGINEV2_TEST_DAEMON_LOG  where its JSON log goes
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pg = require('pg');

export const env = {
  serverUrl: process.env.ENGINEV2_TEST_SERVER_URL,
  adminUrl: process.env.ENGINEV2_TEST_ADMIN_URL,
  daemonArgv: process.env.ENGINEV2_TEST_DAEMON ? JSON.parse(process.env.ENGINEV2_TEST_DAEMON) : null,
  daemonLog: process.env.ENGINEV2_TEST_DAEMON_LOG,
};
export const configured = Boolean(env.serverUrl && env.adminUrl && env.daemonArgv && env.daemonLog);

/** Poll `fn` until it returns a truthy value; throw after `ms`. */
export async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Section 7.3-shaped outputs for every task: no model runs, qa finds nothing, fix skips. */
export const OUTPUTS = {
  intent: { intent: 'edit' },
  plan: { dimension: '2d', skills: ['canvas'], image_count: 0, codegen_strategy: 'scratch' },
  codegen: { files: [{ path: 'index.html', content: '<html><body>snake</body></html>' }], summary: 'a neon snake game' },
  asset: { images: [] },
  qa_review: { issues: 0, findings: [] },
  fix: { files: [{ path: 'index.html', content: '<html><body>fixed</body></html>' }] },
  publish_prep: { commit_hash: 'abc' },
};

/** submit options' `inject`: every output, plus per-task extras ({latency_ms}, ...). */
export function inject(extra = {}) {
  const spec = {};
  for (const [k, v] of Object.entries(OUTPUTS)) spec[k] = { output: v, ...(extra[k] || {}) };
  return spec;
}

/** The real `enginev2d run`, waited on through its JSON log (action daemon_ready). */
export class Daemon {
  constructor() {
    this.proc = null;
  }

  async start() {
    const fd = openSync(env.daemonLog, 'a');
    const before = this._lines().length;
    const [cmd, ...args] = env.daemonArgv;
    this.proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], cwd: '/' });
    closeSync(fd);
    this.exited = new Promise((resolve) => this.proc.once('exit', resolve));
    await waitFor(
      () => {
        if (this.proc.exitCode !== null) throw new Error(`daemon exited: ${this._tail()}`);
        return this._lines().slice(before).some((r) => r.action === 'daemon_ready');
      },
      20000,
      'daemon_ready',
    );
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    await this.exited;
  }

  _lines() {
    let text = '';
    try {
      text = readFileSync(env.daemonLog, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return {};
        }
      });
  }

  _tail() {
    return readFileSync(env.daemonLog, 'utf8').slice(-3000);
  }
}

/** Pools and the host's part of a job (the public.jobs row it inserts today). */
export class Db {
  constructor() {
    this.server = new pg.Pool({ connectionString: env.serverUrl, max: 4 });
    this.admin = new pg.Pool({ connectionString: env.adminUrl, max: 4 });
  }

  /** A public.jobs row, inserted as the host server does (its own login role). */
  async hostJob(projectId = 'proj') {
    const job = { id: randomUUID(), userId: randomUUID(), projectId: `${projectId}-${randomUUID().slice(0, 8)}` };
    await this.server.query("INSERT INTO public.jobs (id, user_id, project_id, status) VALUES ($1, $2, $3, 'pending')", [
      job.id,
      job.userId,
      job.projectId,
    ]);
    return job;
  }

  async one(sql, params) {
    return (await this.admin.query(sql, params)).rows[0];
  }

  async run(jobId) {
    return this.one('SELECT * FROM engine_v2.job_runs WHERE job_id = $1', [jobId]);
  }

  async jobStatus(jobId) {
    return (await this.one('SELECT status FROM public.jobs WHERE id = $1', [jobId])).status;
  }

  async serverFallbacks(jobId) {
    return (await this.admin.query('SELECT error_code, detail FROM engine_v2.server_fallbacks WHERE job_id = $1', [jobId])).rows;
  }

  async events(jobId) {
    const { rows } = await this.admin.query(
      'SELECT seq::int AS seq, event_type, data FROM engine_v2.job_task_events WHERE job_id = $1 ORDER BY seq',
      [jobId],
    );
    return rows;
  }

  async close() {
    await Promise.all([this.server.end(), this.admin.end()]);
  }
}

/** A stand-in v1: records each call and completes public.jobs, as v1 does (design 9). */
export function fakeV1(db) {
  const calls = [];
  const runV1 = async (userId, projectId, message, job) => {
    calls.push({ userId, projectId, message, jobId: job.id });
    await db.server.query("UPDATE public.jobs SET status = 'completed', updated_at = now() WHERE id = $1", [job.id]);
  };
  return { calls, runV1 };
}

/** A connected user as the design's server sees one (ws.userId from the JWT), and what it was sent. */
export function fakeSocket(job) {
  return { userId: job.userId, userEmail: 'player@example.com', sent: [] };
}
export const safeSendFor = (ws) => (event) => ws.sent.push(JSON.parse(JSON.stringify(event)));

/** Assert-friendly: seqs 1..n in order, each once. */
export function seqs(events) {
  return events.map((e) => e.seq);
}
export const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
