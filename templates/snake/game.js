'use strict';
// Snake: steer to the food and grow; a wall (unless DIFFICULTY is easy) or your own body
// ends the game. Settings are in config.js, shared helpers in runtime.js.

const HUD_H = 40;
const CELL = Math.round(24 * SCALE);
const COLS = Math.floor(W / CELL);
const ROWS = Math.floor((H - HUD_H) / CELL);
const LEFT = Math.floor((W - COLS * CELL) / 2);
const TOP = H - ROWS * CELL;
const START_LENGTH = clamp(OPTIONS.length || 4, 2, COLS - 4);
const BASE_TICK_MS = Math.max(45, 210 - SPEED * 16); // time per step: speed 5 -> 130 ms
const WRAP = DIFFICULTY === 'easy'; // easy: walls wrap around
const RAMP_MS = DIFFICULTY === 'hard' ? 4 : DIFFICULTY === 'normal' ? 1 : 0;

let snake = [];
let dir = { x: 1, y: 0 };
let queue = [];
let food = { x: 0, y: 0 };
let tickMs = BASE_TICK_MS;
let acc = 0;
let pulse = 0;
let turns = 0; // accepted turns, for tests

function resetGame() {
  const y = Math.floor(ROWS / 2);
  snake = [];
  for (let i = 0; i < START_LENGTH; i++) snake.push({ x: START_LENGTH + 1 - i, y });
  dir = { x: 1, y: 0 };
  queue = [];
  tickMs = BASE_TICK_MS;
  acc = 0;
  placeFood();
}

function placeFood() {
  const free = [];
  for (let y = 0; y < ROWS; y++) {
    for (let x = 0; x < COLS; x++) {
      if (!snake.some((s) => s.x === x && s.y === y)) free.push({ x, y });
    }
  }
  if (free.length === 0) {
    endGame(true);
    return;
  }
  food = free[Math.floor(Math.random() * free.length)];
}

function turn(dx, dy) {
  const last = queue.length ? queue[queue.length - 1] : dir;
  if ((dx === -last.x && dy === -last.y) || (dx === last.x && dy === last.y)) return;
  if (queue.length < 3) {
    queue.push({ x: dx, y: dy });
    turns += 1;
  }
}

function step() {
  if (queue.length) dir = queue.shift();
  let hx = snake[0].x + dir.x;
  let hy = snake[0].y + dir.y;
  if (WRAP) {
    hx = (hx + COLS) % COLS;
    hy = (hy + ROWS) % ROWS;
  } else if (hx < 0 || hy < 0 || hx >= COLS || hy >= ROWS) {
    endGame(false);
    return;
  }
  const eating = hx === food.x && hy === food.y;
  const body = eating ? snake : snake.slice(0, -1);
  if (body.some((s) => s.x === hx && s.y === hy)) {
    endGame(false);
    return;
  }
  snake.unshift({ x: hx, y: hy });
  if (eating) {
    addScore(10);
    pulse = 1;
    tickMs = Math.max(40, tickMs - RAMP_MS);
    placeFood();
  } else {
    snake.pop();
  }
}

const DIRS = {
  arrowup: [0, -1],
  w: [0, -1],
  arrowdown: [0, 1],
  s: [0, 1],
  arrowleft: [-1, 0],
  a: [-1, 0],
  arrowright: [1, 0],
  d: [1, 0],
};

onKey((k) => {
  if (DIRS[k]) turn(DIRS[k][0], DIRS[k][1]);
});
onSwipe((dx, dy) => turn(dx, dy));
onTap((p) => {
  // A tap turns towards the tapped side of the head.
  const head = snake[0];
  const vx = p.x - (LEFT + (head.x + 0.5) * CELL);
  const vy = p.y - (TOP + (head.y + 0.5) * CELL);
  if (dir.x !== 0) turn(0, vy < 0 ? -1 : 1);
  else turn(vx < 0 ? -1 : 1, 0);
});

function update(dt) {
  pulse = Math.max(0, pulse - dt * 3);
  acc += dt * 1000;
  while (acc >= tickMs && state === 'playing') {
    acc -= tickMs;
    step();
  }
}

function lerpColor(a, b, k) {
  const pa = parseInt(a.slice(1), 16);
  const pb = parseInt(b.slice(1), 16);
  const ch = (shift) => {
    const ca = (pa >> shift) & 255;
    const cb = (pb >> shift) & 255;
    return Math.round(ca + (cb - ca) * k);
  };
  return 'rgb(' + ch(16) + ',' + ch(8) + ',' + ch(0) + ')';
}

function drawBoard() {
  drawBackground();
  ctx.strokeStyle = COLORS.secondary;
  ctx.globalAlpha = 0.12;
  ctx.lineWidth = 1;
  for (let i = 0; i <= COLS; i++) {
    ctx.beginPath();
    ctx.moveTo(LEFT + i * CELL + 0.5, TOP);
    ctx.lineTo(LEFT + i * CELL + 0.5, H);
    ctx.stroke();
  }
  for (let j = 0; j <= ROWS; j++) {
    ctx.beginPath();
    ctx.moveTo(LEFT, TOP + j * CELL + 0.5);
    ctx.lineTo(LEFT + COLS * CELL, TOP + j * CELL + 0.5);
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
}

function drawFood() {
  const size = CELL * (0.9 + 0.15 * Math.sin(performance.now() / 180));
  const cx = LEFT + (food.x + 0.5) * CELL;
  const cy = TOP + (food.y + 0.5) * CELL;
  glow(COLORS.accent);
  drawSprite('food', cx - size / 2, cy - size / 2, size, size, () => {
    ctx.fillStyle = COLORS.accent;
    circle(cx, cy, size * 0.38);
    ctx.fill();
  });
  noGlow();
}

function drawSnake() {
  const n = snake.length;
  for (let i = n - 1; i >= 1; i--) {
    const s = snake[i];
    const color = lerpColor(COLORS.primary, COLORS.secondary, i / Math.max(1, n - 1));
    glow(color, GLOW / 2);
    ctx.fillStyle = color;
    roundRect(LEFT + s.x * CELL + 2, TOP + s.y * CELL + 2, CELL - 4, CELL - 4, CELL / 4);
    ctx.fill();
  }
  const head = snake[0];
  const grow = pulse * 4;
  glow(COLORS.primary);
  ctx.save();
  ctx.translate(LEFT + head.x * CELL + CELL / 2, TOP + head.y * CELL + CELL / 2);
  ctx.rotate(Math.atan2(dir.y, dir.x));
  drawSprite('head', -CELL / 2 - grow, -CELL / 2 - grow, CELL + grow * 2, CELL + grow * 2, () => {
    ctx.fillStyle = COLORS.primary;
    roundRect(-CELL / 2 + 1, -CELL / 2 + 1, CELL - 2, CELL - 2, CELL / 3);
    ctx.fill();
    ctx.fillStyle = COLORS.background;
    circle(CELL / 6, -CELL / 5, CELL / 8);
    ctx.fill();
    circle(CELL / 6, CELL / 5, CELL / 8);
    ctx.fill();
  });
  ctx.restore();
  noGlow();
}

function render() {
  drawBoard();
  if (state !== 'ready') {
    drawFood();
    drawSnake();
  }
  drawHud(TITLE, scoreText() + '   ' + t('speed') + ' ' + SPEED, TOP);
  drawStateOverlay();
}

resetGame();
expose({ probe: () => ({ turns }) });
startLoop(update, render);
