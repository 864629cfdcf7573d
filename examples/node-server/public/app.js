// The page: a prompt box, progress from the relayed events, the game in an iframe.
'use strict';

const $ = (id) => document.getElementById(id);
const form = $('prompt');
const input = $('message');
const button = $('send');
const frame = $('game');
let job = null;
let socket = null;
window.__seen = []; // event types received, in order (read by the browser test)
window.__completed = 0;

function setState(state) {
  document.body.dataset.state = state;
  const busy = state !== 'ready';
  input.disabled = busy;
  button.disabled = busy;
}

function progress(value, label) {
  if (typeof value === 'number') {
    $('progress').value = value;
    $('pct').textContent = `${value}%`;
  }
  if (label) $('label').textContent = label;
}

function log(text) {
  const li = document.createElement('li');
  li.textContent = text;
  $('log').append(li);
}

function show(src, preview) {
  $('badge').hidden = !preview;
  frame.src = src;
}

const handlers = {
  hello(m) {
    $('engine').textContent = m.v2 ? 'engine v2 on' : 'engine v2 off for this user (v1)';
    if (m.game) show(`${m.game}?v=${Date.now()}`, false);
    setState('ready');
  },
  job(m) {
    job = m.job_id;
    progress(0, 'Starting…');
    $('summary').textContent = '';
    $('log').replaceChildren();
  },
  taskStarted(m) {
    progress(m.progress, m.label);
    log(m.label || m.task_key);
  },
  taskProgress(m) {
    progress(m.progress);
  },
  taskDone(m) {
    progress(m.progress);
  },
  taskSkipped(m) {
    progress(m.progress);
  },
  partialResult(m) {
    progress(m.progress, m.stage === 'preview' ? 'Preview ready: play while it finishes…' : undefined);
    if (m.files && m.files.includes('index.html')) show(`/preview/${m.job_id}/index.html`, true);
  },
  jobCompleted(m) {
    progress(100);
  },
  completed(m) {
    progress(100, 'Done.');
    $('summary').textContent = m.summary || '';
    show(`/game/index.html?v=${m.job_id}`, false);
    window.__completed += 1;
  },
  v1(m) {
    progress(undefined, m.text);
  },
  error(m) {
    progress(undefined, m.text);
  },
  idle() {
    setState('ready');
    input.select();
  },
};

function connect() {
  socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  socket.onmessage = (e) => {
    const m = JSON.parse(e.data);
    window.__seen.push(m.type);
    if (m.job_id && job && m.job_id !== job && m.type !== 'job') return;
    const handle = handlers[m.type];
    if (handle) handle(m);
  };
  socket.onclose = () => {
    setState('connecting');
    $('engine').textContent = 'disconnected; reconnecting…';
    setTimeout(connect, 1000);
  };
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const message = input.value.trim() || input.placeholder;
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  setState('busy');
  socket.send(JSON.stringify({ type: 'generateGame', message }));
});

connect();
