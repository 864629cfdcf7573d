'use strict';
// Flappy: gravity pulls the bird down, every flap lifts it; pass through the gaps
// between the pipes. Touching a pipe or the ground ends the game. Settings in config.js.

const HUD_H = 36;
const GROUND = H - 60;
const GRAVITY = 1500;
const FLAP_V = 430;
const SCROLL = 110 + SPEED * 16; // px per second: speed 5 -> 190
const GAP_H = { easy: 190, normal: 160, hard: 130 }[DIFFICULTY] || 160;
const PIPE_W = 62;
const PIPE_EVERY = 230; // px between pipes
const BIRD_X = 110;
const BIRD_R = 15 * SCALE;

const bird = { y: H / 2, vy: 0, tilt: 0 };
let pipes = [];
let groundX = 0;
let nextPipe = 0;
let flaps = 0;

function resetGame() {
  bird.y = H / 2 - 40;
  bird.vy = -FLAP_V; // starting is the first flap
  pipes = [];
  nextPipe = 140;
}

function flap() {
  bird.vy = -FLAP_V;
  flaps += 1;
  sfx('jump');
}

onKey((k) => {
  if (k === 'space' || k === 'arrowup' || k === 'w' || k === 'enter') flap();
});
onPointerDown(() => flap());

function addPipe() {
  const margin = 60;
  const gapY = rand(HUD_H + margin + GAP_H / 2, GROUND - margin - GAP_H / 2);
  pipes.push({ x: W + 10, gapY, scored: false });
}

function hitsPipe(p) {
  const cx = clamp(BIRD_X, p.x, p.x + PIPE_W);
  const topBottom = p.gapY - GAP_H / 2;
  const bottomTop = p.gapY + GAP_H / 2;
  for (const [y0, y1] of [
    [0, topBottom],
    [bottomTop, GROUND],
  ]) {
    const cy = clamp(bird.y, y0, y1);
    if ((BIRD_X - cx) ** 2 + (bird.y - cy) ** 2 < (BIRD_R * 0.85) ** 2) return true;
  }
  return false;
}

function update(dt) {
  bird.vy = Math.min(900, bird.vy + GRAVITY * dt);
  bird.y += bird.vy * dt;
  bird.tilt = clamp(bird.vy / 900, -0.5, 1) * 0.9;
  if (bird.y < HUD_H + BIRD_R) {
    bird.y = HUD_H + BIRD_R;
    bird.vy = 0;
  }
  groundX = (groundX + SCROLL * dt) % 24;
  nextPipe -= SCROLL * dt;
  if (nextPipe <= 0) {
    addPipe();
    nextPipe = PIPE_EVERY;
  }
  for (const p of pipes) {
    p.x -= SCROLL * dt;
    if (!p.scored && p.x + PIPE_W < BIRD_X - BIRD_R) {
      p.scored = true;
      addScore(1);
    }
    if (hitsPipe(p)) {
      sfx('hit');
      endGame(false);
      return;
    }
  }
  pipes = pipes.filter((p) => p.x + PIPE_W > -10);
  if (bird.y + BIRD_R >= GROUND) {
    bird.y = GROUND - BIRD_R;
    sfx('hit');
    endGame(false);
  }
}

function drawPipe(x, y, h, flip) {
  drawSprite('pipe', x, y, PIPE_W, h, () => {
    ctx.fillStyle = COLORS.secondary;
    ctx.fillRect(x + 4, y, PIPE_W - 8, h);
    ctx.fillStyle = COLORS.primary;
    ctx.fillRect(x, flip ? y + h - 22 : y, PIPE_W, 22);
    ctx.fillStyle = 'rgba(255, 255, 255, 0.18)';
    ctx.fillRect(x + 10, y, 8, h);
  });
}

function drawDaySky() {
  ctx.fillStyle = vertical(COLORS.background, COLORS.secondary);
  ctx.fillRect(0, 0, W, H);
}

function render() {
  drawBackground(drawDaySky);
  for (const p of pipes) {
    const top = p.gapY - GAP_H / 2;
    const bottom = p.gapY + GAP_H / 2;
    drawPipe(p.x, 0, top, true);
    drawPipe(p.x, bottom, GROUND - bottom, false);
  }
  ctx.fillStyle = COLORS.accent;
  ctx.fillRect(0, GROUND, W, H - GROUND);
  ctx.fillStyle = 'rgba(0, 0, 0, 0.18)';
  for (let x = -groundX; x < W; x += 24) ctx.fillRect(x, GROUND + 6, 12, 6);
  glow(COLORS.primary);
  ctx.save();
  ctx.translate(BIRD_X, bird.y);
  ctx.rotate(bird.tilt);
  drawSprite('bird', -BIRD_R * 1.3, -BIRD_R * 1.1, BIRD_R * 2.6, BIRD_R * 2.2, () => {
    ctx.fillStyle = COLORS.primary;
    circle(0, 0, BIRD_R);
    ctx.fill();
    ctx.fillStyle = COLORS.accent;
    ctx.beginPath();
    ctx.moveTo(BIRD_R * 0.7, -3);
    ctx.lineTo(BIRD_R * 1.4, 2);
    ctx.lineTo(BIRD_R * 0.7, 6);
    ctx.fill();
    ctx.fillStyle = '#ffffff';
    circle(BIRD_R * 0.35, -BIRD_R * 0.35, BIRD_R * 0.3);
    ctx.fill();
    ctx.fillStyle = '#111111';
    circle(BIRD_R * 0.45, -BIRD_R * 0.35, BIRD_R * 0.14);
    ctx.fill();
  });
  ctx.restore();
  noGlow();
  if (state === 'playing') centerText(String(score), W / 2, HUD_H + 50, 48, '#ffffff', true);
  drawHud(scoreText(), t('speed') + ' ' + SPEED, HUD_H);
  drawStateOverlay();
}

expose({ probe: () => ({ flaps }) });
startLoop(update, render);
