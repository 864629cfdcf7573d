'use strict';
// Memory: turn two cards; a pair stays face up, anything else turns back. Find every
// pair before the time runs out. Settings are in config.js, helpers in runtime.js.

const HUD_H = 36;
const GRID = { easy: [4, 3], normal: [4, 4], hard: [5, 4] }[DIFFICULTY] || [4, 4];
const COLS = GRID[0];
const ROWS = GRID[1];
const ROUND_S = { easy: 120, normal: 90, hard: 75 }[DIFFICULTY] || 90;
const SHOW_S = Math.max(0.35, 1.3 - SPEED * 0.09); // how long a wrong pair stays visible
const PAD = 12;
const CW = (W - PAD * (COLS + 1)) / COLS;
const CH = Math.min((H - HUD_H - 40 - PAD * (ROWS + 1)) / ROWS, CW * 1.3);
const TOP = HUD_H + 30;
const SYMBOLS = ['circle', 'star', 'heart', 'triangle', 'diamond', 'square', 'moon', 'drop', 'cross', 'ring'];
const SYMBOL_COLORS = ['#ef4444', '#f59e0b', '#ec4899', '#22c55e', '#3b82f6', '#a855f7', '#eab308', '#06b6d4', '#f97316', '#14b8a6'];

let cards = [];
let open = [];
let cursor = 0;
let pairs = 0;
let timeLeft = ROUND_S;
let hideIn = 0;
let combo = 0;
let turned = 0;

function resetGame() {
  const kinds = [];
  for (let i = 0; i < (COLS * ROWS) / 2; i++) kinds.push(i, i);
  cards = shuffle(kinds).map((kind, i) => ({ kind, up: false, done: false, flip: 0, i }));
  open = [];
  cursor = 0;
  pairs = 0;
  combo = 0;
  timeLeft = ROUND_S;
  hideIn = 0;
}

function cardRect(i) {
  const c = i % COLS;
  const r = Math.floor(i / COLS);
  return { x: PAD + c * (CW + PAD), y: TOP + PAD + r * (CH + PAD), w: CW, h: CH };
}

function turn(i) {
  const card = cards[i];
  if (!card || card.up || card.done || open.length >= 2) return;
  card.up = true;
  turned += 1;
  open.push(card);
  sfx('move');
  if (open.length < 2) return;
  const [a, b] = open;
  if (a.kind === b.kind) {
    a.done = true;
    b.done = true;
    open = [];
    pairs += 1;
    combo += 1;
    addScore(10 * combo);
    if (pairs === cards.length / 2) {
      addScore(Math.ceil(timeLeft) * 2);
      endGame(true);
    }
  } else {
    combo = 0;
    hideIn = SHOW_S;
  }
}

onKey((k) => {
  const c = cursor % COLS;
  const r = Math.floor(cursor / COLS);
  if (k === 'arrowleft' || k === 'a') cursor = r * COLS + ((c + COLS - 1) % COLS);
  else if (k === 'arrowright' || k === 'd') cursor = r * COLS + ((c + 1) % COLS);
  else if (k === 'arrowup' || k === 'w') cursor = ((r + ROWS - 1) % ROWS) * COLS + c;
  else if (k === 'arrowdown' || k === 's') cursor = ((r + 1) % ROWS) * COLS + c;
  else if (k === 'space' || k === 'enter') turn(cursor);
});
onPointerDown((p) => {
  for (let i = 0; i < cards.length; i++) {
    const b = cardRect(i);
    if (p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h) {
      cursor = i;
      turn(i);
      return;
    }
  }
});

function update(dt) {
  for (const card of cards) card.flip = clamp(card.flip + (card.up ? dt : -dt) * 6, 0, 1);
  if (hideIn > 0) {
    hideIn -= dt;
    if (hideIn <= 0) {
      for (const card of open) card.up = false;
      open = [];
    }
  }
  timeLeft -= dt;
  if (timeLeft <= 0) {
    timeLeft = 0;
    endGame(false);
  }
}

function drawSymbol(kind, x, y, s) {
  const name = SYMBOLS[kind % SYMBOLS.length];
  ctx.fillStyle = SYMBOL_COLORS[kind % SYMBOL_COLORS.length];
  ctx.strokeStyle = ctx.fillStyle;
  ctx.lineWidth = s * 0.18;
  ctx.beginPath();
  if (name === 'circle') ctx.arc(x, y, s * 0.5, 0, Math.PI * 2);
  else if (name === 'square') ctx.rect(x - s * 0.45, y - s * 0.45, s * 0.9, s * 0.9);
  else if (name === 'triangle') {
    ctx.moveTo(x, y - s * 0.55);
    ctx.lineTo(x + s * 0.55, y + s * 0.45);
    ctx.lineTo(x - s * 0.55, y + s * 0.45);
  } else if (name === 'diamond') {
    ctx.moveTo(x, y - s * 0.6);
    ctx.lineTo(x + s * 0.45, y);
    ctx.lineTo(x, y + s * 0.6);
    ctx.lineTo(x - s * 0.45, y);
  } else if (name === 'star') {
    for (let i = 0; i < 10; i++) {
      const r = i % 2 ? s * 0.25 : s * 0.6;
      const a = -Math.PI / 2 + (i * Math.PI) / 5;
      ctx.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
  } else if (name === 'heart') {
    ctx.moveTo(x, y + s * 0.5);
    ctx.bezierCurveTo(x - s * 0.9, y - s * 0.1, x - s * 0.3, y - s * 0.75, x, y - s * 0.25);
    ctx.bezierCurveTo(x + s * 0.3, y - s * 0.75, x + s * 0.9, y - s * 0.1, x, y + s * 0.5);
  } else if (name === 'moon') {
    ctx.arc(x, y, s * 0.5, Math.PI * 0.3, Math.PI * 1.7);
    ctx.arc(x + s * 0.2, y, s * 0.38, Math.PI * 1.6, Math.PI * 0.4, true);
  } else if (name === 'drop') {
    ctx.moveTo(x, y - s * 0.6);
    ctx.quadraticCurveTo(x + s * 0.55, y + s * 0.05, x, y + s * 0.5);
    ctx.quadraticCurveTo(x - s * 0.55, y + s * 0.05, x, y - s * 0.6);
  } else if (name === 'cross') {
    ctx.rect(x - s * 0.15, y - s * 0.5, s * 0.3, s);
    ctx.rect(x - s * 0.5, y - s * 0.15, s, s * 0.3);
  } else {
    ctx.arc(x, y, s * 0.42, 0, Math.PI * 2);
    ctx.closePath();
    ctx.stroke();
    return;
  }
  ctx.closePath();
  ctx.fill();
}

function drawCard(card) {
  const b = cardRect(card.i);
  const squeeze = Math.abs(Math.cos(card.flip * Math.PI));
  const w = b.w * Math.max(0.04, squeeze);
  const x = b.x + (b.w - w) / 2;
  const faceUp = card.flip > 0.5;
  glow(card.done ? COLORS.accent : COLORS.primary, card.done ? GLOW : GLOW / 3);
  if (faceUp) {
    ctx.fillStyle = card.done ? '#fffdf2' : '#ffffff';
    roundRect(x, b.y, w, b.h, 10);
    ctx.fill();
    noGlow();
    ctx.save();
    ctx.translate(b.x + b.w / 2, b.y + b.h / 2);
    ctx.scale(Math.max(0.04, squeeze), 1);
    drawSymbol(card.kind, 0, 0, Math.min(b.w, b.h) * 0.55);
    ctx.restore();
  } else {
    drawSprite('card', x, b.y, w, b.h, () => {
      ctx.fillStyle = COLORS.primary;
      roundRect(x, b.y, w, b.h, 10);
      ctx.fill();
      ctx.strokeStyle = COLORS.secondary;
      ctx.lineWidth = 3;
      roundRect(x + 6, b.y + 6, Math.max(0, w - 12), b.h - 12, 6);
      ctx.stroke();
    });
    noGlow();
  }
}

function render() {
  drawBackground();
  for (const card of cards) drawCard(card);
  if (state === 'playing' && cards.length) {
    const b = cardRect(cursor);
    ctx.strokeStyle = COLORS.accent;
    ctx.lineWidth = 4;
    roundRect(b.x - 4, b.y - 4, b.w + 8, b.h + 8, 12);
    ctx.stroke();
  }
  drawHud(
    t('score') + ' ' + score + '   ' + t('pairs') + ' ' + pairs + '/' + (cards.length / 2 || COLS * ROWS / 2),
    t('time') + ' ' + Math.ceil(timeLeft) + '   ' + t('best') + ' ' + best,
    HUD_H,
  );
  drawStateOverlay();
}

resetGame();
expose({ probe: () => ({ cursor, turned }) });
startLoop(update, render);
