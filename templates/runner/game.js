'use strict';
// Endless runner: the hero runs by itself; jump (twice for a double jump) over the
// obstacles and grab coins. Settings are in config.js, shared helpers in runtime.js.

const HUD_H = 34;
const GROUND = H - 52;
const RUN_SPEED = 220 + SPEED * 28; // px per second at the start: speed 5 -> 360
const ACCEL = { easy: 3, normal: 6, hard: 10 }[DIFFICULTY] || 6; // px/s gained per second
const GAP = { easy: 1.25, normal: 1.0, hard: 0.9 }[DIFFICULTY] || 1.0;
const GRAVITY = 2300;
const JUMP_V = 820;
const HERO_W = 36 * SCALE;
const HERO_H = 42 * SCALE;
const HERO_X = 90;

const hero = { y: GROUND - HERO_H, vy: 0, jumps: 0, squash: 0 };
let obstacles = [];
let coins = [];
const hills = [];
let speed = RUN_SPEED;
let distance = 0;
let coinScore = 0;
let nextObstacle = 0;
let jumpCount = 0; // for tests

for (let i = 0; i < 6; i++) hills.push({ x: i * 160, h: rand(40, 110) });

function resetGame() {
  hero.y = GROUND - HERO_H;
  hero.vy = 0;
  hero.jumps = 0;
  obstacles = [];
  coins = [];
  speed = RUN_SPEED;
  distance = 0;
  coinScore = 0;
  nextObstacle = W * 0.6;
}

function jump() {
  if (hero.jumps >= 2) return; // double jump
  hero.vy = -JUMP_V * (hero.jumps === 0 ? 1 : 0.85);
  hero.jumps += 1;
  hero.squash = 1;
  jumpCount += 1;
  sfx('jump');
}

onKey((k) => {
  if (k === 'space' || k === 'enter' || k === 'arrowup' || k === 'w') jump();
});
onPointerDown(() => jump());

function spawn() {
  const tall = Math.random() < (DIFFICULTY === 'hard' ? 0.35 : 0.2);
  const h = tall ? rand(70, 92) : rand(28, 54);
  const w = rand(26, 46);
  obstacles.push({ x: W + 20, w, h });
  if (Math.random() < 0.6) {
    coins.push({ x: W + 20 + w / 2, y: GROUND - h - rand(50, 90), taken: false });
  }
  // Next gap in pixels, never shorter than one jump's flight at this speed.
  const airtime = (2 * JUMP_V) / GRAVITY;
  nextObstacle = speed * airtime * rand(1.2, 2.2) * GAP + 80;
}

function update(dt) {
  for (const hl of hills) {
    hl.x -= speed * 0.2 * dt;
    if (hl.x < -160) {
      hl.x += 6 * 160;
      hl.h = rand(40, 110);
    }
  }
  speed += ACCEL * dt;
  distance += speed * dt;
  if (isHeld('arrowdown', 's') && hero.vy < 600) hero.vy += GRAVITY * 2 * dt; // fast fall
  hero.vy += GRAVITY * dt;
  hero.y += hero.vy * dt;
  if (hero.y >= GROUND - HERO_H) {
    hero.y = GROUND - HERO_H;
    hero.vy = 0;
    hero.jumps = 0;
  }
  hero.squash = Math.max(0, hero.squash - dt * 4);

  nextObstacle -= speed * dt;
  if (nextObstacle <= 0) spawn();
  for (const o of obstacles) o.x -= speed * dt;
  for (const c of coins) c.x -= speed * dt;
  obstacles = obstacles.filter((o) => o.x + o.w > -10);
  coins = coins.filter((c) => c.x > -20 && !c.taken);

  const hx = HERO_X + 5;
  const hw = HERO_W - 10;
  const hy = hero.y + 4;
  const hh = HERO_H - 6;
  for (const o of obstacles) {
    const oy = GROUND - o.h;
    if (hx < o.x + o.w && hx + hw > o.x && hy < GROUND && hy + hh > oy) {
      sfx('hit');
      endGame(false);
      return;
    }
  }
  for (const c of coins) {
    const dx = c.x - (HERO_X + HERO_W / 2);
    const dy = c.y - (hero.y + HERO_H / 2);
    if (dx * dx + dy * dy < 30 * 30) {
      c.taken = true;
      coinScore += 25;
      sfx('score');
    }
  }
  score = Math.floor(distance / 10) + coinScore;
}

function drawDusk() {
  const sky = ctx.createLinearGradient(0, 0, 0, H);
  sky.addColorStop(0, COLORS.background);
  sky.addColorStop(1, COLORS.secondary);
  ctx.fillStyle = sky;
  ctx.fillRect(0, 0, W, H);
}

function render() {
  drawBackground(drawDusk);
  ctx.globalAlpha = 0.25;
  ctx.fillStyle = COLORS.background;
  for (const hl of hills) {
    ctx.beginPath();
    ctx.moveTo(hl.x, GROUND);
    ctx.lineTo(hl.x + 80, GROUND - hl.h);
    ctx.lineTo(hl.x + 160, GROUND);
    ctx.closePath();
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  ctx.fillStyle = COLORS.background;
  ctx.fillRect(0, GROUND, W, H - GROUND);
  glow(COLORS.primary);
  ctx.strokeStyle = COLORS.primary;
  ctx.lineWidth = 3;
  ctx.beginPath();
  ctx.moveTo(0, GROUND + 1.5);
  ctx.lineTo(W, GROUND + 1.5);
  ctx.stroke();

  glow(COLORS.accent);
  for (const c of coins) {
    drawSprite('coin', c.x - 12, c.y - 12, 24, 24, () => {
      ctx.fillStyle = COLORS.accent;
      circle(c.x, c.y, 10);
      ctx.fill();
    });
  }
  for (const o of obstacles) {
    drawSprite('obstacle', o.x, GROUND - o.h, o.w, o.h, () => {
      ctx.fillStyle = COLORS.accent;
      roundRect(o.x, GROUND - o.h, o.w, o.h, 4);
      ctx.fill();
    });
  }
  glow(COLORS.primary);
  const sq = hero.squash * 6;
  drawSprite('hero', HERO_X - sq / 2, hero.y + sq, HERO_W + sq, HERO_H - sq, () => {
    ctx.fillStyle = COLORS.primary;
    roundRect(HERO_X - sq / 2, hero.y + sq, HERO_W + sq, HERO_H - sq, 8);
    ctx.fill();
    ctx.fillStyle = COLORS.background;
    circle(HERO_X + HERO_W - 11, hero.y + 14 + sq, 4);
    ctx.fill();
  });
  noGlow();
  drawHud(scoreText(), t('speed') + ' ' + SPEED + '   ' + Math.round(speed) + ' px/s', HUD_H);
  drawStateOverlay();
}

expose({ probe: () => ({ jumpCount }) });
startLoop(update, render);
