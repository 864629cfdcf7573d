'use strict';
/**
 * Design section 14: the v1 response shape, its validation, and chat. The same rules as
 * the daemon's `enginev2d/fallback.py`, which validates a result before it completes a job.
 * @module enginev2d-client/fallback
 */

const isString = (v) => typeof v === 'string';
const isFile = (f) => !!f && isString(f.path) && isString(f.content);
const isImage = (i) => !!i && isString(i.name) && isString(i.uri);

/**
 * Design 14: files present, one of them `index.html`, a non-empty summary. Stricter in
 * one respect, like the daemon: every file is `{path, content}` with strings and
 * `images`, when present, a list of `{name, uri}`. A chat result is not an output (see
 * {@link isChat}): false, as in the design.
 * @param {unknown} result
 * @returns {boolean}
 */
function validateOutput(result) {
  if (!result || typeof result !== 'object') return false;
  const { files, summary } = /** @type {any} */ (result);
  let images = /** @type {any} */ (result).images;
  if (!Array.isArray(files) || files.length === 0 || !files.every(isFile)) return false;
  if (!isString(summary) || !summary.trim()) return false;
  if (images === undefined || images === null) images = [];
  if (!Array.isArray(images) || !images.every(isImage)) return false;
  return files.some((f) => f.path === 'index.html');
}

/**
 * Design 14: `{type: 'completed', files, images, summary}`. Accepts the design's input
 * (`{artifacts: [{kind: 'code'|'image', ...}], summary}`) and the daemon's stored result
 * (already that shape); files are reduced to `{path, content}`, images to `{name, uri}`.
 * @param {any} v2Result
 * @returns {{type: 'completed', files: {path: string, content: string}[], images: {name: string, uri: string}[], summary: string}}
 */
function toV1Response(v2Result) {
  const r = v2Result || {};
  let files = [];
  let images = [];
  if (Array.isArray(r.artifacts)) {
    files = r.artifacts.filter((a) => a && a.kind === 'code').map((a) => codeEntry(a)).filter(Boolean);
    images = r.artifacts.filter((a) => a && a.kind === 'image').map((a) => imageEntry(a)).filter(Boolean);
  } else {
    files = (Array.isArray(r.files) ? r.files : []).filter(isFile).map((f) => ({ path: f.path, content: f.content }));
    images = (Array.isArray(r.images) ? r.images : []).filter(isImage).map((i) => ({ name: i.name, uri: i.uri }));
  }
  return { type: 'completed', files, images, summary: r.summary };
}

function codeEntry(a) {
  const c = a.content;
  if (c && typeof c === 'object' && isString(c.path) && isString(c.content)) return { path: c.path, content: c.content };
  const path = a.path || a.metadata?.path || a.uri;
  return isString(path) && isString(c) ? { path, content: c } : null;
}

function imageEntry(a) {
  const c = a.content;
  if (c && typeof c === 'object') {
    const uri = c.uri || a.uri;
    return isString(c.name) && isString(uri) ? { name: c.name, uri } : null;
  }
  const name = a.name || a.metadata?.name || a.uri;
  return isString(name) && isString(a.uri) ? { name, uri: a.uri } : null;
}

/**
 * A chat answer (design 7.4: intent `chat`), not a game: the server's chat path handles it
 * and it is never a fallback.
 * @param {unknown} result
 * @returns {boolean}
 */
function isChat(result) {
  return !!result && typeof result === 'object' && /** @type {any} */ (result).type === 'chat';
}

/**
 * `run`'s value for a chat run: `{type: 'chat', reply}`, `reply` null until the engine
 * writes one.
 * @param {any} stored job_runs.result
 */
function chatResult(stored) {
  return { type: 'chat', reply: isString(stored?.reply) ? stored.reply : null };
}

module.exports = { validateOutput, toV1Response, isChat, chatResult };
