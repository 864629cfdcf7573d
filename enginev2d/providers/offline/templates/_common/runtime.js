// ---- shared runtime (enginev2d offline templates) -------------------------
// Canvas, sprites with fallback shapes, input, HUD and the frame loop.
const canvas = document.getElementById('game');
const ctx = canvas.getContext('2d');
const W = canvas.width;
const H = canvas.height;

// Sprites are optional: a sprite that fails to load (or is still loading) is
// drawn with the fallback shape instead, so the game always runs.
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
  if (hasSprite(role)) {
    ctx.drawImage(sprites[role], x, y, w, h);
  } else {
    fallback();
  }
}

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
  ctx.arc(x, y, r, 0, Math.PI * 2);
}

function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(hi, v));
}

function rand(lo, hi) {
  return lo + Math.random() * (hi - lo);
}

// ---- keyboard: names are normalised ('space', 'arrowleft', 'a', 'enter') --
const held = new Set();
const pressHandlers = [];
const GAME_KEYS = ['arrowup', 'arrowdown', 'arrowleft', 'arrowright', 'space'];

function keyName(e) {
  return e.key === ' ' || e.key === 'Spacebar' ? 'space' : String(e.key).toLowerCase();
}

function onPress(fn) {
  pressHandlers.push(fn);
}

function isHeld(...names) {
  return names.some((n) => held.has(n));
}

window.addEventListener('keydown', (e) => {
  const k = keyName(e);
  if (GAME_KEYS.includes(k)) e.preventDefault();
  held.add(k);
  if (!e.repeat) for (const fn of pressHandlers) fn(k);
});
window.addEventListener('keyup', (e) => held.delete(keyName(e)));
window.addEventListener('blur', () => held.clear());

// ---- pointer (mouse, touch and pen through Pointer Events) ----------------
function canvasPoint(e) {
  const r = canvas.getBoundingClientRect();
  return {
    x: ((e.clientX - r.left) * W) / Math.max(1, r.width),
    y: ((e.clientY - r.top) * H) / Math.max(1, r.height),
  };
}

// ---- best score, kept per title ------------------------------------------
const BEST_KEY = 'enginev2d-best:' + TITLE;

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

// ---- HUD and overlays ------------------------------------------------------
function drawHud(left, right, height) {
  const h = height || 36;
  noGlow();
  ctx.fillStyle = 'rgba(0, 0, 0, 0.28)';
  ctx.fillRect(0, 0, W, h);
  ctx.font = 'bold 16px system-ui, -apple-system, "Segoe UI", sans-serif';
  ctx.textBaseline = 'middle';
  ctx.fillStyle = COLORS.text;
  ctx.textAlign = 'left';
  ctx.fillText(left, 12, h / 2);
  ctx.textAlign = 'right';
  ctx.fillText(right, W - 12, h / 2);
}

function drawOverlay(title, lines) {
  noGlow();
  ctx.fillStyle = 'rgba(0, 0, 0, 0.55)';
  ctx.fillRect(0, 0, W, H);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  glow(COLORS.primary);
  ctx.fillStyle = COLORS.primary;
  ctx.font = 'bold 40px system-ui, -apple-system, "Segoe UI", sans-serif';
  ctx.fillText(title, W / 2, H / 2 - 40, W - 40);
  noGlow();
  ctx.fillStyle = '#ffffff';
  ctx.font = '18px system-ui, -apple-system, "Segoe UI", sans-serif';
  lines.forEach((line, i) => ctx.fillText(line, W / 2, H / 2 + 10 + i * 28, W - 40));
}

// ---- frame loop: update(dt seconds) then render(), paused while hidden ----
let paused = false;

function startLoop(update, render) {
  let last = performance.now();
  function frame(now) {
    const dt = Math.min(0.05, Math.max(0, (now - last) / 1000));
    last = now;
    if (!paused) update(dt);
    render();
    if (paused) drawOverlay('PAUSED', ['Press P or tap to resume']);
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) held.clear();
});

// Read-only view for tests and embedding pages; the game never reads it.
function expose(getters) {
  window.enginev2d = Object.freeze({
    title: TITLE,
    speed: SPEED,
    difficulty: DIFFICULTY,
    loadedSprites: () => Object.keys(sprites).filter(hasSprite),
    ...getters,
  });
}
// ---- end of shared runtime -------------------------------------------------
