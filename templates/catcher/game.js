'use strict';
// Catcher: move along the bottom to catch the falling treats; a missed treat or a caught
// bomb costs a life. Things fall faster as the score grows. Settings in config.js.

const HUD_H = 36;
const CW = 70 * SCALE;
const CH = 46 * SCALE;
const MOVE = 380;
const FALL = 120 + SPEED * 22; // px per second: speed 5 -> 230
const BOMBS = { easy: 0.1, normal: 0.22, hard: 0.35 }[DIFFICULTY] || 0.22; // share of bombs
const EVERY = { easy: 1.0, normal: 0.8, hard: 0.6 }[DIFFICULTY] || 0.8; // seconds between drops
const START_LIVES = OPTIONS.lives || 3;
const R = 15;

const catcher = { x: W / 2, y: H - 40 - CH / 2, squash: 0 };
let items = [];
let lives = START_LIVES;
let dropIn = 0;
let pops = [];

function resetGame() {
  catcher.x = W / 2;
  items = [];
  pops = [];
  lives = START_LIVES;
  dropIn = 0.5;
}

onPointerDown((p) => {
  catcher.x = clamp(p.x, CW / 2, W - CW / 2);
});
onPointerMove((p, down) => {
  if (state === 'playing' && (down || !('ontouchstart' in window))) catcher.x = clamp(p.x, CW / 2, W - CW / 2);
});

function loseLife() {
  lives -= 1;
  sfx('hit');
  if (lives <= 0) endGame(false);
}

function update(dt) {
  let move = 0;
  if (isHeld('arrowleft', 'a')) move -= 1;
  if (isHeld('arrowright', 'd')) move += 1;
  catcher.x = clamp(catcher.x + move * MOVE * dt, CW / 2, W - CW / 2);
  catcher.squash = Math.max(0, catcher.squash - dt * 5);
  dropIn -= dt;
  if (dropIn <= 0) {
    items.push({ x: rand(R + 10, W - R - 10), y: HUD_H - R, vy: FALL * rand(0.85, 1.2), bad: Math.random() < BOMBS });
    dropIn = EVERY / (1 + score / 400);
  }
  const speedUp = 1 + score / 500;
  for (const it of items) {
    it.y += it.vy * speedUp * dt;
    const caught = Math.abs(it.x - catcher.x) < CW / 2 + R * 0.5 && Math.abs(it.y - catcher.y) < CH / 2 + R * 0.5;
    if (caught) {
      it.gone = true;
      if (it.bad) loseLife();
      else {
        addScore(10);
        catcher.squash = 1;
        pops.push({ x: it.x, y: it.y, life: 0.6 });
      }
    } else if (it.y > H + R) {
      it.gone = true;
      if (!it.bad) loseLife();
    }
    if (state !== 'playing') return;
  }
  items = items.filter((it) => !it.gone);
  for (const p of pops) {
    p.y -= 50 * dt;
    p.life -= dt;
  }
  pops = pops.filter((p) => p.life > 0);
}

function drawItem(it) {
  if (it.bad) {
    drawSprite('bomb', it.x - R, it.y - R, R * 2, R * 2, () => {
      ctx.fillStyle = '#1f2937';
      circle(it.x, it.y + 2, R - 2);
      ctx.fill();
      ctx.fillStyle = '#f97316';
      circle(it.x + 6, it.y - R + 2, 4);
      ctx.fill();
    });
    return;
  }
  glow(COLORS.accent);
  drawSprite('treat', it.x - R, it.y - R, R * 2, R * 2, () => {
    ctx.fillStyle = COLORS.accent;
    circle(it.x, it.y, R - 2);
    ctx.fill();
  });
  noGlow();
}

function render() {
  drawBackground();
  ctx.fillStyle = COLORS.secondary;
  ctx.fillRect(0, H - 30, W, 30);
  for (const it of items) drawItem(it);
  if (state !== 'ready') {
    const sq = catcher.squash * 6;
    glow(COLORS.primary);
    drawSprite('catcher', catcher.x - CW / 2 - sq / 2, catcher.y - CH / 2 + sq, CW + sq, CH - sq, () => {
      ctx.fillStyle = COLORS.primary;
      ctx.beginPath();
      ctx.moveTo(catcher.x - CW / 2, catcher.y - CH / 2 + sq);
      ctx.lineTo(catcher.x + CW / 2, catcher.y - CH / 2 + sq);
      ctx.lineTo(catcher.x + CW / 2 - 10, catcher.y + CH / 2);
      ctx.lineTo(catcher.x - CW / 2 + 10, catcher.y + CH / 2);
      ctx.closePath();
      ctx.fill();
    });
    noGlow();
  }
  ctx.font = font(18, true);
  ctx.textAlign = 'center';
  for (const p of pops) {
    ctx.globalAlpha = clamp(p.life * 2, 0, 1);
    ctx.fillStyle = COLORS.text;
    ctx.fillText('+10', p.x, p.y);
  }
  ctx.globalAlpha = 1;
  drawHud(t('score') + ' ' + score + '   ' + t('lives') + ' ' + Math.max(0, lives), t('best') + ' ' + best, HUD_H);
  drawStateOverlay();
}

expose({ probe: () => ({ x: Math.round(catcher.x) }) });
startLoop(update, render);
