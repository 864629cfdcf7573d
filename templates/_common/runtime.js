'use strict';
// Shared runtime of the enginev2d templates: canvas, text, sprites with drawn fallbacks,
// background themes, sound effects, keyboard and touch input, the game's life cycle
// (ready -> playing -> over -> playing), HUD, overlays and the frame loop.
// config.js (loaded before) holds the settings; game.js (loaded after) defines
//   resetGame()  -- put the game in its starting position (called by beginGame)
//   update(dt)   -- advance by dt seconds while playing
//   render()     -- draw one frame
// and calls startLoop(update, render) at its end.

const canvas = document.getElementById('game');
const ctx = canvas.getContext('2d');
const W = canvas.width;
const H = canvas.height;
const FONT = 'system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Noto Sans CJK JP", sans-serif';
const SCALE = [0.6, 0.8, 1, 1.25, 1.5][Math.max(1, Math.min(5, SIZE)) - 1]; // SIZE 1..5

function font(px, bold) {
  return (bold ? 'bold ' : '') + px + 'px ' + FONT;
}

// t('scoreLine', 3, 9) -> "Score 3   Best 9": TEXT comes from config.js, in LANG.
function t(key, ...args) {
  let text = Object.prototype.hasOwnProperty.call(TEXT, key) ? String(TEXT[key]) : key;
  args.forEach((value, i) => {
    text = text.split('{' + i + '}').join(String(value));
  });
  return text;
}

// ---- sprites: images are optional; until one loads (or if it fails) the fallback draws ----
const sprites = {};
for (const [role, src] of Object.entries(SPRITES)) {
  const img = new Image();
  img.decoding = 'async';
  img.src = src;
  sprites[role] = img;
}

function hasSprite(role) {
  const img = sprites[role];
  return Boolean(img && img.complete && img.naturalWidth > 0);
}

function drawSprite(role, x, y, w, h, fallback) {
  if (hasSprite(role)) ctx.drawImage(sprites[role], x, y, w, h);
  else fallback();
}

// ---- drawing helpers -------------------------------------------------------------------
function glow(color, amount) {
  ctx.shadowColor = color;
  ctx.shadowBlur = GLOW > 0 ? (amount === undefined ? GLOW : amount) : 0;
}

function noGlow() {
  ctx.shadowBlur = 0;
}

function roundRect(x, y, w, h, r) {
  const rr = Math.max(0, Math.min(r, w / 2, h / 2));
  ctx.beginPath();
  ctx.moveTo(x + rr, y);
  ctx.arcTo(x + w, y, x + w, y + h, rr);
  ctx.arcTo(x + w, y + h, x, y + h, rr);
  ctx.arcTo(x, y + h, x, y, rr);
  ctx.arcTo(x, y, x + w, y, rr);
  ctx.closePath();
}

function circle(x, y, r) {
  ctx.beginPath();
  ctx.arc(x, y, Math.max(0, r), 0, Math.PI * 2);
}

function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(hi, v));
}

function rand(lo, hi) {
  return lo + Math.random() * (hi - lo);
}

function randInt(lo, hi) {
  return Math.floor(rand(lo, hi + 1));
}

function shuffle(items) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function centerText(text, x, y, px, color, bold) {
  ctx.font = font(px, bold);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillStyle = color;
  ctx.fillText(text, x, y, W - 24);
}

// ---- background themes: plain | stars | sky | sea --------------------------------------
function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const BG = (() => {
  const r = seeded(7);
  const stars = [];
  for (let i = 0; i < 110; i++) {
    stars.push({ x: r() * W, y: r() * H, s: 0.5 + r() * 1.8, p: r() * 6.28, f: 0.6 + r() * 2 });
  }
  const clouds = [];
  for (let i = 0; i < 6; i++) {
    clouds.push({ x: r() * W, y: 30 + r() * H * 0.45, s: 0.6 + r() * 0.8, v: 6 + r() * 14 });
  }
  const bubbles = [];
  for (let i = 0; i < 26; i++) {
    bubbles.push({ x: r() * W, y: r() * H, r: 2 + r() * 6, v: 14 + r() * 30, p: r() * 6.28 });
  }
  return { stars, clouds, bubbles };
})();

function vertical(top, bottom) {
  const g = ctx.createLinearGradient(0, 0, 0, H);
  g.addColorStop(0, top);
  g.addColorStop(1, bottom);
  return g;
}

function drawStars(now) {
  ctx.fillStyle = vertical('#02030d', '#0d1436');
  ctx.fillRect(0, 0, W, H);
  for (const st of BG.stars) {
    const y = (st.y + now * st.s * 3) % H;
    ctx.globalAlpha = 0.35 + 0.65 * Math.abs(Math.sin(now * st.f + st.p));
    ctx.fillStyle = st.s > 2 ? '#fff6c8' : '#ffffff';
    circle(st.x, y, st.s);
    ctx.fill();
    if (st.s > 2.1) {
      ctx.fillRect(st.x - st.s * 2.5, y - 0.5, st.s * 5, 1);
      ctx.fillRect(st.x - 0.5, y - st.s * 2.5, 1, st.s * 5);
    }
  }
  ctx.globalAlpha = 1;
}

function drawCloud(x, y, s) {
  ctx.beginPath();
  ctx.ellipse(x, y, 34 * s, 16 * s, 0, 0, Math.PI * 2);
  ctx.ellipse(x - 26 * s, y + 6 * s, 22 * s, 12 * s, 0, 0, Math.PI * 2);
  ctx.ellipse(x + 28 * s, y + 5 * s, 24 * s, 13 * s, 0, 0, Math.PI * 2);
  ctx.ellipse(x + 4 * s, y - 12 * s, 22 * s, 14 * s, 0, 0, Math.PI * 2);
  ctx.fill();
}

function drawSky(now) {
  ctx.fillStyle = vertical('#3d9be0', '#cdeeff');
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = 'rgba(255, 236, 150, 0.35)';
  circle(W * 0.82, H * 0.16, 46);
  ctx.fill();
  ctx.fillStyle = '#fff3b0';
  circle(W * 0.82, H * 0.16, 30);
  ctx.fill();
  ctx.fillStyle = 'rgba(255, 255, 255, 0.9)';
  for (const c of BG.clouds) {
    const x = ((c.x + now * c.v) % (W + 160)) - 80;
    drawCloud(x, c.y, c.s);
  }
}

function drawSea(now) {
  ctx.fillStyle = vertical('#1479c4', '#031d3b');
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = 'rgba(255, 255, 255, 0.06)';
  for (let i = 0; i < 4; i++) {
    const x = W * (0.15 + i * 0.25) + Math.sin(now * 0.3 + i) * 20;
    ctx.beginPath();
    ctx.moveTo(x - 20, 0);
    ctx.lineTo(x + 20, 0);
    ctx.lineTo(x + 90, H);
    ctx.lineTo(x - 10, H);
    ctx.closePath();
    ctx.fill();
  }
  ctx.strokeStyle = 'rgba(190, 235, 255, 0.35)';
  ctx.lineWidth = 2;
  for (let row = 0; row < 3; row++) {
    ctx.beginPath();
    for (let x = 0; x <= W; x += 8) {
      const y = 14 + row * 12 + Math.sin(x / 26 + now * 2 + row) * 4;
      if (x === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.stroke();
  }
  ctx.strokeStyle = 'rgba(220, 245, 255, 0.55)';
  ctx.lineWidth = 1.5;
  for (const b of BG.bubbles) {
    const y = H - ((H - b.y + now * b.v) % H);
    circle(b.x + Math.sin(now * 2 + b.p) * 5, y, b.r);
    ctx.stroke();
  }
  ctx.fillStyle = 'rgba(20, 110, 70, 0.6)';
  for (let x = 10; x < W; x += 46) {
    const sway = Math.sin(now * 1.5 + x) * 8;
    ctx.beginPath();
    ctx.moveTo(x, H);
    ctx.quadraticCurveTo(x + sway, H - 40, x + sway * 1.5, H - 70);
    ctx.quadraticCurveTo(x + 8 + sway, H - 40, x + 10, H);
    ctx.fill();
  }
}

// The game's backdrop: the BACKGROUND theme, or `plain` (the game's own, if it has one).
function drawBackground(plain) {
  const now = performance.now() / 1000;
  if (BACKGROUND === 'stars') drawStars(now);
  else if (BACKGROUND === 'sky') drawSky(now);
  else if (BACKGROUND === 'sea') drawSea(now);
  else if (plain) plain();
  else {
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, W, H);
  }
}

// ---- sound effects (WebAudio beeps, only when SOUND is on) -----------------------------
const SFX = {
  start: [440, 0.09],
  score: [880, 0.06],
  jump: [560, 0.06],
  move: [330, 0.03],
  hit: [200, 0.12],
  over: [140, 0.35],
  win: [700, 0.35],
};
let audio = null;

function sfx(name) {
  if (!SOUND) return;
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    const [freq, dur] = SFX[name] || SFX.score;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'square';
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.05, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + dur);
    osc.connect(gain);
    gain.connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + dur);
  } catch (err) {
    // no audio device or policy refused: the game plays on silently
  }
}

// ---- best score, kept per title -----------------------------------------------------------
const BEST_KEY = 'enginev2d-best:' + TEMPLATE_ID + ':' + TITLE;

function loadBest() {
  try {
    return Number(window.localStorage.getItem(BEST_KEY)) || 0;
  } catch (err) {
    return 0; // storage disabled (private mode, sandboxed iframe)
  }
}

function saveBest(value) {
  try {
    window.localStorage.setItem(BEST_KEY, String(value));
  } catch (err) {
    // storage disabled: the best score just is not remembered
  }
}

// ---- life cycle ------------------------------------------------------------------------
let state = 'ready'; // ready | playing | over
let score = 0;
let best = loadBest();
let won = false;
let overAt = 0;
let paused = false;
let games = 0; // games started
const RESTART_MS = 400; // a tap or key right at game over does not restart at once

function beginGame() {
  games += 1;
  score = 0;
  won = false;
  paused = false;
  resetGame();
  state = 'playing';
  sfx('start');
}

function endGame(victory) {
  if (state !== 'playing') return;
  won = Boolean(victory);
  state = 'over';
  overAt = performance.now();
  if (score > best) {
    best = score;
    saveBest(best);
  }
  sfx(won ? 'win' : 'over');
}

function addScore(points) {
  score += points;
  sfx('score');
}

// Start, restart or resume; true when the input was used for that.
function lifecycleAction() {
  if (state === 'ready') {
    beginGame();
    return true;
  }
  if (state === 'over') {
    if (performance.now() - overAt > RESTART_MS) beginGame();
    return true;
  }
  if (paused) {
    paused = false;
    return true;
  }
  return false;
}

function playing() {
  return state === 'playing' && !paused;
}

// ---- keyboard: names are normalised ('space', 'arrowleft', 'a', 'enter') -----------------
const held = new Set();
const keyHandlers = [];
const GAME_KEYS = ['arrowup', 'arrowdown', 'arrowleft', 'arrowright', 'space'];
const START_KEYS = ['space', 'enter', 'arrowup', 'arrowdown', 'arrowleft', 'arrowright'];

function keyName(e) {
  return e.key === ' ' || e.key === 'Spacebar' ? 'space' : String(e.key).toLowerCase();
}

// fn(key) runs for each key press while the game is being played.
function onKey(fn) {
  keyHandlers.push(fn);
}

function isHeld(...names) {
  return names.some((n) => held.has(n));
}

window.addEventListener('keydown', (e) => {
  const k = keyName(e);
  if (GAME_KEYS.includes(k)) e.preventDefault();
  held.add(k);
  if (e.repeat) return;
  if (k === 'p' && state === 'playing') {
    paused = !paused;
    return;
  }
  if (k === 'space' || k === 'enter') {
    if (lifecycleAction()) return;
  } else if (state === 'ready' && START_KEYS.includes(k)) {
    beginGame(); // an arrow starts the game and also counts as its first move
  }
  if (playing()) for (const fn of keyHandlers) fn(k);
});
window.addEventListener('keyup', (e) => held.delete(keyName(e)));
window.addEventListener('blur', () => held.clear());
document.addEventListener('visibilitychange', () => {
  if (document.hidden) held.clear();
});

// ---- pointer: mouse, touch and pen through Pointer Events --------------------------------
// pointer.down / pointer.x / pointer.y: where a finger or the mouse button is now.
const pointer = { down: false, x: 0, y: 0, startX: 0, startY: 0, used: false };
const tapHandlers = [];
const swipeHandlers = [];
const downHandlers = [];
const moveHandlers = [];
const SWIPE_PX = 24;

function canvasPoint(e) {
  const r = canvas.getBoundingClientRect();
  return {
    x: ((e.clientX - r.left) * W) / Math.max(1, r.width),
    y: ((e.clientY - r.top) * H) / Math.max(1, r.height),
  };
}

function onTap(fn) {
  tapHandlers.push(fn); // fn({x, y}) on a short touch or click while playing
}

function onSwipe(fn) {
  swipeHandlers.push(fn); // fn(dx, dy) with the dominant direction as -1, 0 or 1
}

function onPointerDown(fn) {
  downHandlers.push(fn); // fn({x, y}) as soon as a finger touches, while playing
}

function onPointerMove(fn) {
  moveHandlers.push(fn); // fn({x, y}, isDown) whenever the pointer moves
}

canvas.addEventListener('pointerdown', (e) => {
  e.preventDefault();
  const p = canvasPoint(e);
  Object.assign(pointer, { down: true, x: p.x, y: p.y, startX: p.x, startY: p.y });
  pointer.used = lifecycleAction();
  if (!pointer.used && playing()) for (const fn of downHandlers) fn(p);
});
canvas.addEventListener('pointermove', (e) => {
  // A mouse that did not move (the browser re-sends its position when the page changes)
  // is not input.
  if (!pointer.down && e.pointerType === 'mouse' && !e.movementX && !e.movementY) return;
  const p = canvasPoint(e);
  pointer.x = p.x;
  pointer.y = p.y;
  for (const fn of moveHandlers) fn(p, pointer.down);
});
function pointerEnd(e) {
  if (!pointer.down) return;
  pointer.down = false;
  const p = canvasPoint(e);
  if (pointer.used || !playing()) return;
  const dx = p.x - pointer.startX;
  const dy = p.y - pointer.startY;
  if (Math.hypot(dx, dy) > SWIPE_PX) {
    const horizontal = Math.abs(dx) > Math.abs(dy);
    for (const fn of swipeHandlers) fn(horizontal ? Math.sign(dx) : 0, horizontal ? 0 : Math.sign(dy));
  } else {
    for (const fn of tapHandlers) fn(p);
  }
}
canvas.addEventListener('pointerup', pointerEnd);
canvas.addEventListener('pointercancel', () => {
  pointer.down = false;
});

// ---- HUD and overlays ----------------------------------------------------------------------
function drawHud(left, right, height) {
  const h = height || 36;
  noGlow();
  ctx.fillStyle = 'rgba(0, 0, 0, 0.32)';
  ctx.fillRect(0, 0, W, h);
  ctx.font = font(16, true);
  ctx.textBaseline = 'middle';
  ctx.fillStyle = '#ffffff';
  ctx.textAlign = 'left';
  ctx.fillText(left, 12, h / 2, W / 2 - 16);
  ctx.textAlign = 'right';
  ctx.fillText(right, W - 12, h / 2, W / 2 - 16);
}

function scoreText() {
  return t('score') + ' ' + score + '   ' + t('best') + ' ' + best;
}

function drawOverlay(title, lines) {
  noGlow();
  ctx.fillStyle = 'rgba(0, 0, 0, 0.58)';
  ctx.fillRect(0, 0, W, H);
  glow(COLORS.primary);
  centerText(title, W / 2, H / 2 - 44, 38, COLORS.primary, true);
  noGlow();
  lines.forEach((line, i) => centerText(line, W / 2, H / 2 + 8 + i * 28, 17, '#ffffff'));
}

// The ready / game over screens every template shares.
function drawStateOverlay() {
  if (state === 'ready') drawOverlay(TITLE, [t('help'), t('start')]);
  else if (state === 'over') {
    drawOverlay(won ? t('win') : t('gameOver'), [t('scoreLine', score, best), t('again')]);
  }
}

// ---- frame loop: update(dt seconds) then render(), paused while hidden -------------------
function startLoop(update, render) {
  let last = performance.now();
  function frame(now) {
    const dt = Math.min(0.05, Math.max(0, (now - last) / 1000));
    last = now;
    if (playing()) update(dt);
    render();
    if (paused) drawOverlay(t('paused'), [t('resume')]);
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
}

// Read-only view for tests and embedding pages; the game never reads it.
function expose(getters) {
  window.enginev2d = Object.freeze({
    template: TEMPLATE_ID,
    title: TITLE,
    lang: LANG,
    speed: SPEED,
    difficulty: DIFFICULTY,
    size: SIZE,
    background: BACKGROUND,
    sound: SOUND,
    state: () => state,
    score: () => score,
    games: () => games,
    loadedSprites: () => Object.keys(sprites).filter(hasSprite),
    ...getters,
  });
}
