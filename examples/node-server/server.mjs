// A minimal host server: Node's http, the `ws` package and the design's section 5
// routing branch, on enginev2d-client. What a real server has and this one fakes:
// authentication (ws.userId would come from a verified JWT) and v1 (runV1 below only
// says that v1 would run). Everything else is the real thing: public.jobs rows, the
// SQL/NOTIFY contract through role engine_v2_server, relayed progress, the published game.
//
// Environment: DATABASE_URL (a login role that is a member of engine_v2_server and may
// insert/update public.jobs), PROJECTS_ROOT (the daemon's paths.projects_root),
// DEMO_USER_ID, DEMO_PROJECT_ID (default "demo"), HOST (default 127.0.0.1), PORT
// (default 8080, 0 = any), ENGINE_V2_ENABLED / ENGINE_V2_ALLOWLIST_ONLY /
// ENGINE_V2_ALLOWLIST (design 4), ENGINE_V2_DEADLINE_MS (default 120000).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createEngineV2 } from 'enginev2d-client';
import pg from 'pg';
import { WebSocketServer } from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PUBLIC = path.join(HERE, 'public');
const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT ?? 8080);
const USER_ID = process.env.DEMO_USER_ID;
const PROJECT_ID = process.env.DEMO_PROJECT_ID || 'demo';
const PROJECTS_ROOT = process.env.PROJECTS_ROOT;
if (!process.env.DATABASE_URL || !USER_ID || !PROJECTS_ROOT) {
  console.error('server.mjs needs DATABASE_URL, DEMO_USER_ID and PROJECTS_ROOT (make demo-web sets them)');
  process.exit(2);
}
const GAME_DIR = path.join(PROJECTS_ROOT, USER_ID, 'projects', PROJECT_ID);

// The server's own pool (it already has one for public.jobs); the engine shares it.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 8 });
const engineV2 = createEngineV2({ pool, deadlineMs: Number(process.env.ENGINE_V2_DEADLINE_MS) || 120000 });

// ---------------------------------------------------------------- the host's parts

/** The host's job row, as the server inserts it today before choosing v1 or v2. */
async function createJob(userId, projectId) {
  const job = { id: randomUUID() };
  await pool.query("INSERT INTO public.jobs (id, user_id, project_id, status) VALUES ($1, $2, $3, 'pending')", [
    job.id,
    userId,
    projectId,
  ]);
  return job;
}

/** Stand-in for v1 (claudeRunner): a real server runs its v1 engine here. Like v1, it
 * completes the job (design 9: exactly one actor completes it). */
function runV1For(ws) {
  return async (userId, projectId, userMessage, job) => {
    await pool.query("UPDATE public.jobs SET status = 'completed', updated_at = now() WHERE id = $1", [job.id]);
    send(ws, { type: 'v1', job_id: job.id, text: 'v1 handles this request (this demo has no v1 engine).' });
  };
}

function send(ws, message) {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

// Preview files by job (the partialResult events' files), served under /preview/<job>/.
const previews = new Map();

/** What the browser gets of a relayed event: file contents stay on the server. */
function safeSendFor(ws) {
  return (event) => {
    if (event.type === 'partialResult' && Array.isArray(event.files)) {
      previews.set(event.job_id, new Map(event.files.map((f) => [f.path, f.content])));
      while (previews.size > 20) previews.delete(previews.keys().next().value);
      event = { ...event, files: event.files.map((f) => f.path) };
    } else if (event.type === 'completed') {
      event = { ...event, files: event.files.map((f) => f.path) };
    }
    send(ws, event);
  };
}

// ---------------------------------------------------------------- the routing branch

async function onMessage(ws, msg) {
  const userId = ws.userId;
  const currentProjectId = PROJECT_ID;
  const userMessage = String(msg.message || '');
  const safeSend = safeSendFor(ws);
  const runV1 = runV1For(ws);
  const job = await createJob(userId, currentProjectId);
  send(ws, { type: 'job', job_id: job.id });
  switch (msg.type) {
    // Design section 5, verbatim.
    case 'generateGame': {
      const verifiedUser = getVerifiedUser(ws);
      const useV2 = engineV2.shouldUseV2(verifiedUser);

      if (useV2) {
        try {
          const result = await engineV2.run(userId, currentProjectId, userMessage, {
            jobId: job.id,
            onEvent: (event) => safeSend(event),
          });
          if (!engineV2.validateOutput(result)) {
            throw new Error('V2_OUTPUT_INVALID');
          }
        } catch (err) {
          console.warn('[EngineV2] Fallback to v1:', err.message);
          await engineV2.logFallback(job.id, err);
          await runV1(userId, currentProjectId, userMessage, job);
        }
      } else {
        await runV1(userId, currentProjectId, userMessage, job);
      }
    }
  }
}

function getVerifiedUser(ws) {
  if (!ws.userId) throw new Error('UNAUTHENTICATED');
  return { id: ws.userId, email: ws.userEmail };
}

// ---------------------------------------------------------------- http

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};
const typeOf = (p) => TYPES[path.extname(p)] || 'application/octet-stream';

/** A path inside `root`, or null: no absolute paths, no `..`, no dot-files (.git). */
function inside(root, rel) {
  const parts = decodeURIComponent(rel).split('/').filter(Boolean);
  if (parts.length === 0 || parts.some((p) => p.startsWith('.') || p.includes('\\'))) return null;
  return path.join(root, ...parts);
}

async function serveFile(res, file) {
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': typeOf(file), 'cache-control': 'no-store' });
    res.end(body);
    return true;
  } catch {
    return false;
  }
}

async function handleHttp(req, res) {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (req.method !== 'GET') return void res.writeHead(405).end();
  if (p === '/' || p === '/index.html') return void (await serveFile(res, path.join(PUBLIC, 'index.html')));
  if (p === '/app.js' || p === '/style.css') return void (await serveFile(res, path.join(PUBLIC, p.slice(1))));
  if (p.startsWith('/game/')) {
    const file = inside(GAME_DIR, p.slice('/game/'.length));
    if (file && (await serveFile(res, file))) return;
  }
  const m = /^\/preview\/([0-9a-f-]{36})\/(.+)$/.exec(p);
  if (m && previews.has(m[1])) {
    const content = previews.get(m[1]).get(decodeURIComponent(m[2]));
    if (typeof content === 'string') {
      res.writeHead(200, { 'content-type': typeOf(m[2]), 'cache-control': 'no-store' });
      return void res.end(content);
    }
    const file = inside(GAME_DIR, m[2]); // an edit: the published game's other files
    if (file && (await serveFile(res, file))) return;
    // Sprites arrive with the asset task, after the preview: the games draw their
    // fallback shapes for an image that does not load (runtime.js), so "none yet".
    if (/\.(png|svg)$/.test(m[2])) return void res.writeHead(204).end();
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
}

// ---------------------------------------------------------------- websocket

async function hasGame() {
  try {
    await readFile(path.join(GAME_DIR, 'index.html'));
    return true;
  } catch {
    return false;
  }
}

const server = http.createServer((req, res) => {
  handleHttp(req, res).catch((err) => {
    console.error('http:', err);
    if (!res.headersSent) res.writeHead(500).end();
  });
});
const wss = new WebSocketServer({ server, path: '/ws' });

wss.on('connection', async (ws) => {
  // A real server verifies a JWT here (design 6); the demo has one user.
  ws.userId = USER_ID;
  ws.userEmail = 'demo@enginev2d.local';
  ws.busy = false;
  send(ws, { type: 'hello', v2: engineV2.shouldUseV2(getVerifiedUser(ws)), game: (await hasGame()) ? '/game/index.html' : null });
  ws.on('message', async (raw) => {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (msg.type !== 'generateGame' || typeof msg.message !== 'string' || !msg.message.trim()) return;
    if (ws.busy) return send(ws, { type: 'busy' });
    ws.busy = true;
    try {
      await onMessage(ws, msg);
    } catch (err) {
      console.error('generateGame:', err);
      send(ws, { type: 'error', text: 'the server failed to handle this request' });
    } finally {
      ws.busy = false;
      send(ws, { type: 'idle' });
    }
  });
});

server.on('error', (err) => {
  console.error(`cannot listen on ${HOST}:${PORT}: ${err.code === 'EADDRINUSE' ? 'port in use' : err.message}`);
  process.exit(1);
});
server.listen(PORT, HOST, () => {
  console.log(`listening on http://${HOST}:${server.address().port}/`);
});

async function shutdown() {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  server.close();
  await engineV2.close();
  await pool.end();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
