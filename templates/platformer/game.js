'use strict';
// Platformer: run and jump across three side-scrolling stages to the flag; stomp the
// enemies, collect the coins, don't fall into the pits. Settings are in config.js.

const HUD_H = 34;
const GROUND_Y = H - 44;
const GRAVITY = 2000;
const MOVE = 160 + SPEED * 16; // px per second: speed 5 -> 240
const JUMP_V = 760; // about 140 px high
const PW = 26 * SCALE;
const PH = 34 * SCALE;
const STAGES = 3;
const STAGE_W = W * 3;
const ENEMY_SPEED = 30 + SPEED * 8;
const ENEMIES = { easy: 2, normal: 4, hard: 7 }[DIFFICULTY] || 4;
const GAP = { easy: 50, normal: 70, hard: 95 }[DIFFICULTY] || 70;
const START_LIVES = OPTIONS.lives || 3;

const player = { x: 40, y: 0, vx: 0, vy: 0, onGround: false, face: 1, inv: 0 };
let platforms = [];
let coins = [];
let enemies = [];
let flagX = STAGE_W - 80;
let camera = 0;
let stage = 1;
let lives = START_LIVES;
let clearFor = 0;
let jumps = 0;

function buildStage(n) {
  const r = seeded(n * 7919 + 17);
  platforms = [];
  coins = [];
  enemies = [];
  let x = 0;
  const grounds = [];
  while (x < STAGE_W) {
    const last = x > STAGE_W - 700;
    const w = x === 0 ? 420 : last ? STAGE_W - x : 220 + r() * 240;
    const g = { x, y: GROUND_Y, w, h: H - GROUND_Y, ground: true };
    platforms.push(g);
    grounds.push(g);
    x += w + (last ? 0 : GAP + r() * 30);
  }
  for (let px = 320; px < STAGE_W - 260; px += 200 + r() * 160) {
    const p = { x: px, y: GROUND_Y - 80 - r() * 50, w: 90 + r() * 60, h: 14, ground: false };
    platforms.push(p);
    for (let c = 0; c < 3; c++) coins.push({ x: p.x + 18 + c * 26, y: p.y - 22, taken: false });
  }
  for (let i = 0; i < ENEMIES; i++) {
    const g = grounds[1 + (i % Math.max(1, grounds.length - 1))];
    if (!g || g.w < 120) continue;
    const ex = g.x + 40 + r() * (g.w - 100);
    enemies.push({ x: ex, y: GROUND_Y - 24, w: 30, h: 24, vx: ENEMY_SPEED, min: g.x + 4, max: g.x + g.w - 34 });
  }
  flagX = STAGE_W - 80;
}

function respawn() {
  Object.assign(player, { x: 40, y: GROUND_Y - PH, vx: 0, vy: 0, onGround: true, face: 1, inv: 1.2 });
  camera = 0;
}

function resetGame() {
  stage = 1;
  lives = START_LIVES;
  clearFor = 0;
  buildStage(stage);
  respawn();
}

function jump() {
  if (!player.onGround) return;
  player.vy = -JUMP_V;
  player.onGround = false;
  jumps += 1;
  sfx('jump');
}

function loseLife() {
  lives -= 1;
  sfx('hit');
  if (lives <= 0) endGame(false);
  else respawn();
}

onKey((k) => {
  if (k === 'space' || k === 'arrowup' || k === 'w' || k === 'enter') jump();
});
onPointerDown((p) => {
  if (p.y < player.y - 10) jump(); // a touch above the hero jumps
});

function walkInput() {
  let move = 0;
  if (isHeld('arrowleft', 'a')) move -= 1;
  if (isHeld('arrowright', 'd')) move += 1;
  if (!move && pointer.down) {
    const dx = pointer.x + camera - (player.x + PW / 2);
    if (Math.abs(dx) > 14) move = Math.sign(dx);
  }
  return move;
}

function collide(prevBottom) {
  player.onGround = false;
  for (const p of platforms) {
    const overX = player.x + PW > p.x + 2 && player.x < p.x + p.w - 2;
    if (!overX) continue;
    if (player.vy >= 0 && prevBottom <= p.y + 1 && player.y + PH >= p.y) {
      player.y = p.y - PH;
      player.vy = 0;
      player.onGround = true;
    } else if (p.ground && player.y + PH > p.y + 6) {
      // walked into the side of the ground from a pit: push back out
      player.x = player.x + PW / 2 < p.x + p.w / 2 ? p.x - PW : p.x + p.w;
    }
  }
}

function update(dt) {
  if (clearFor > 0) {
    clearFor -= dt;
    if (clearFor <= 0) {
      stage += 1;
      buildStage(stage);
      respawn();
    }
    return;
  }
  const move = walkInput();
  if (move) player.face = move;
  player.x = clamp(player.x + move * MOVE * dt, 0, STAGE_W - PW);
  player.vy = Math.min(1200, player.vy + GRAVITY * dt);
  const prevBottom = player.y + PH;
  player.y += player.vy * dt;
  collide(prevBottom);
  player.inv = Math.max(0, player.inv - dt);
  camera = clamp(player.x - W * 0.35, 0, STAGE_W - W);
  if (player.y > H + 40) {
    loseLife();
    return;
  }
  for (const c of coins) {
    if (!c.taken && Math.abs(c.x - (player.x + PW / 2)) < 20 && Math.abs(c.y - (player.y + PH / 2)) < 26) {
      c.taken = true;
      addScore(10);
    }
  }
  for (const e of enemies) {
    e.x += e.vx * dt;
    if (e.x < e.min || e.x > e.max) e.vx = -e.vx;
    e.x = clamp(e.x, e.min, e.max);
    if (e.dead || player.x + PW < e.x || player.x > e.x + e.w) continue;
    if (player.y + PH < e.y || player.y > e.y + e.h) continue;
    if (player.vy > 0 && player.y + PH - e.y < 16) {
      e.dead = true;
      player.vy = -JUMP_V * 0.6;
      addScore(50);
    } else if (player.inv <= 0) {
      loseLife();
      return;
    }
  }
  enemies = enemies.filter((e) => !e.dead);
  if (player.x + PW >= flagX) {
    addScore(100);
    if (stage >= STAGES) endGame(true);
    else clearFor = 1.2;
  }
}

function drawMeadow() {
  ctx.fillStyle = vertical(COLORS.background, COLORS.secondary);
  ctx.fillRect(0, 0, W, H);
}

function drawWorld() {
  ctx.save();
  ctx.translate(-Math.round(camera), 0);
  for (const p of platforms) {
    ctx.fillStyle = p.ground ? COLORS.secondary : COLORS.accent;
    ctx.fillRect(p.x, p.y, p.w, p.h);
    ctx.fillStyle = COLORS.primary;
    ctx.fillRect(p.x, p.y, p.w, 5);
  }
  ctx.fillStyle = COLORS.text;
  ctx.fillRect(flagX, GROUND_Y - 120, 4, 120);
  ctx.fillStyle = COLORS.accent;
  ctx.beginPath();
  ctx.moveTo(flagX + 4, GROUND_Y - 120);
  ctx.lineTo(flagX + 44, GROUND_Y - 106);
  ctx.lineTo(flagX + 4, GROUND_Y - 92);
  ctx.fill();
  glow(COLORS.accent);
  for (const c of coins) {
    if (c.taken) continue;
    drawSprite('coin', c.x - 10, c.y - 10, 20, 20, () => {
      ctx.fillStyle = COLORS.accent;
      circle(c.x, c.y, 8);
      ctx.fill();
    });
  }
  noGlow();
  for (const e of enemies) {
    drawSprite('slime', e.x - 4, e.y - 6, e.w + 8, e.h + 6, () => {
      ctx.fillStyle = '#e23b4e';
      roundRect(e.x, e.y, e.w, e.h, 10);
      ctx.fill();
      ctx.fillStyle = '#ffffff';
      circle(e.x + 9, e.y + 9, 4);
      circle(e.x + 21, e.y + 9, 4);
      ctx.fill();
    });
  }
  if (state !== 'ready' && !(player.inv > 0 && Math.floor(player.inv * 10) % 2 === 0)) {
    glow(COLORS.primary);
    ctx.save();
    ctx.translate(player.x + PW / 2, player.y + PH / 2);
    ctx.scale(player.face, 1);
    drawSprite('hero', -PW / 2 - 4, -PH / 2 - 4, PW + 8, PH + 8, () => {
      ctx.fillStyle = COLORS.primary;
      roundRect(-PW / 2, -PH / 2, PW, PH, 7);
      ctx.fill();
      ctx.fillStyle = COLORS.background;
      circle(PW / 4, -PH / 5, 3.5);
      ctx.fill();
    });
    ctx.restore();
    noGlow();
  }
  ctx.restore();
}

function render() {
  drawBackground(drawMeadow);
  drawWorld();
  drawHud(
    t('score') + ' ' + score + '   ' + t('lives') + ' ' + Math.max(0, lives),
    t('stage') + ' ' + stage + '/' + STAGES + '   ' + t('best') + ' ' + best,
    HUD_H,
  );
  if (clearFor > 0) centerText(t('clear'), W / 2, H / 2, 30, COLORS.text, true);
  drawStateOverlay();
}

buildStage(1);
respawn();
expose({ probe: () => ({ x: Math.round(player.x), jumps }) });
startLoop(update, render);
