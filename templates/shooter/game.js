'use strict';
// Space shooter: the ship fires by itself; shoot the invaders, dodge them and their shots.
// Settings are in config.js, shared helpers in runtime.js.

const HUD_H = 36;
const ENEMY_SPEED = 50 + SPEED * 14; // px per second: speed 5 -> 120
const BASE_SPAWN = { easy: 1.6, normal: 1.2, hard: 0.9 }[DIFFICULTY] || 1.2;
const SPAWN_EVERY = Math.max(0.3, BASE_SPAWN - SPEED * 0.06); // seconds between enemies
const START_LIVES = OPTIONS.lives || 3;
const ENEMY_FIRE = { easy: 0, normal: 0.15, hard: 0.35 }[DIFFICULTY] || 0; // shots per second
const SHIP = 44 * SCALE;
const SHIP_SPEED = 320;
const FIRE_EVERY = 0.2;

const ship = { x: W / 2, y: H - 70, inv: 0 };
let target = null; // pointer position the ship follows
let shots = [];
let enemies = [];
let enemyShots = [];
let powerups = [];
let particles = [];
let lives = START_LIVES;
let kills = 0;
let wave = 1;
let tripleFor = 0;
let fireIn = 0;
let spawnIn = 1;
const stars = [];
for (let i = 0; i < 70; i++) stars.push({ x: rand(0, W), y: rand(0, H), s: rand(0.3, 1.6) });

function resetGame() {
  ship.x = W / 2;
  ship.y = H - 70;
  ship.inv = 1.5;
  target = null;
  shots = [];
  enemies = [];
  enemyShots = [];
  powerups = [];
  particles = [];
  lives = START_LIVES;
  kills = 0;
  wave = 1;
  tripleFor = 0;
  spawnIn = 0.8;
}

onPointerDown((p) => {
  target = p;
});
onPointerMove((p, down) => {
  if (state === 'playing' && down) target = p;
});

function explode(x, y, color, n) {
  for (let i = 0; i < n; i++) {
    const a = Math.random() * Math.PI * 2;
    const v = rand(40, 220);
    particles.push({ x, y, vx: Math.cos(a) * v, vy: Math.sin(a) * v, life: rand(0.3, 0.8), color });
  }
}

function hurt() {
  if (ship.inv > 0) return;
  lives -= 1;
  ship.inv = 2;
  sfx('hit');
  explode(ship.x, ship.y, COLORS.primary, 30);
  if (lives <= 0) endGame(false);
}

function spawnEnemy() {
  const speed = ENEMY_SPEED * (1 + (wave - 1) * 0.1);
  const x = rand(40, W - 40);
  enemies.push({ x, baseX: x, y: HUD_H - 20, t: Math.random() * 6, speed, hp: wave > 3 ? 2 : 1 });
}

function fire() {
  const spread = tripleFor > 0 ? [-0.25, 0, 0.25] : [0];
  for (const s of spread) shots.push({ x: ship.x, y: ship.y - SHIP / 2, vx: s * 520, vy: -520 });
}

function overlaps(ax, ay, ar, bx, by, br) {
  const dx = ax - bx;
  const dy = ay - by;
  return dx * dx + dy * dy < (ar + br) * (ar + br);
}

function moveShip(dt) {
  let mx = 0;
  let my = 0;
  if (isHeld('arrowleft', 'a')) mx -= 1;
  if (isHeld('arrowright', 'd')) mx += 1;
  if (isHeld('arrowup', 'w')) my -= 1;
  if (isHeld('arrowdown', 's')) my += 1;
  if (mx || my) {
    target = null;
    ship.x += mx * SHIP_SPEED * dt;
    ship.y += my * SHIP_SPEED * dt;
  } else if (target) {
    ship.x += clamp(target.x - ship.x, -SHIP_SPEED * 1.6 * dt, SHIP_SPEED * 1.6 * dt);
    ship.y += clamp(target.y - 40 - ship.y, -SHIP_SPEED * 1.6 * dt, SHIP_SPEED * 1.6 * dt);
  }
  ship.x = clamp(ship.x, SHIP / 2, W - SHIP / 2);
  ship.y = clamp(ship.y, H * 0.45, H - SHIP / 2 - 4);
  ship.inv = Math.max(0, ship.inv - dt);
}

function moveEnemies(dt) {
  for (const en of enemies) {
    en.t += dt;
    en.y += en.speed * dt;
    en.x = en.baseX + Math.sin(en.t * 2) * 36;
    if (ENEMY_FIRE > 0 && Math.random() < ENEMY_FIRE * dt) {
      enemyShots.push({ x: en.x, y: en.y + 14, vy: 200 + SPEED * 12 });
    }
    for (const s of shots) {
      if (!s.dead && overlaps(s.x, s.y, 4, en.x, en.y, 18)) {
        s.dead = true;
        en.hp -= 1;
      }
    }
    if (en.hp <= 0) {
      en.dead = true;
      addScore(100);
      kills += 1;
      if (kills % 10 === 0) wave += 1;
      explode(en.x, en.y, COLORS.accent, 18);
      if (Math.random() < 0.1) powerups.push({ x: en.x, y: en.y });
    } else if (overlaps(ship.x, ship.y, SHIP * 0.35, en.x, en.y, 18)) {
      en.dead = true;
      explode(en.x, en.y, COLORS.accent, 18);
      hurt();
    } else if (en.y > H + 30) {
      en.dead = true;
      if (DIFFICULTY === 'hard') hurt();
    }
  }
  enemies = enemies.filter((en) => !en.dead);
  shots = shots.filter((s) => !s.dead);
}

function update(dt) {
  for (const p of particles) {
    p.x += p.vx * dt;
    p.y += p.vy * dt;
    p.life -= dt;
  }
  particles = particles.filter((p) => p.life > 0);
  moveShip(dt);
  tripleFor = Math.max(0, tripleFor - dt);
  fireIn -= dt;
  if (fireIn <= 0) {
    fire(); // auto-fire: works the same with keys, mouse and touch
    fireIn = FIRE_EVERY;
  }
  spawnIn -= dt;
  if (spawnIn <= 0) {
    spawnEnemy();
    spawnIn = SPAWN_EVERY / (1 + (wave - 1) * 0.08);
  }
  for (const s of shots) {
    s.x += s.vx * dt;
    s.y += s.vy * dt;
  }
  shots = shots.filter((s) => s.y > HUD_H - 20 && s.x > -20 && s.x < W + 20);
  moveEnemies(dt);
  if (state !== 'playing') return;
  for (const s of enemyShots) {
    s.y += s.vy * dt;
    if (overlaps(s.x, s.y, 4, ship.x, ship.y, SHIP * 0.35)) {
      s.dead = true;
      hurt();
    }
  }
  enemyShots = enemyShots.filter((s) => !s.dead && s.y < H + 10);
  for (const p of powerups) {
    p.y += 90 * dt;
    if (overlaps(p.x, p.y, 16, ship.x, ship.y, SHIP * 0.45)) {
      p.dead = true;
      tripleFor = 8;
      addScore(50);
    }
  }
  powerups = powerups.filter((p) => !p.dead && p.y < H + 20);
}

function drawSpace() {
  ctx.fillStyle = COLORS.background;
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = COLORS.text;
  const now = performance.now() / 1000;
  for (const st of stars) {
    const y = (st.y + now * st.s * 60) % H;
    ctx.globalAlpha = 0.25 + st.s * 0.4;
    ctx.fillRect(st.x, y, st.s * 1.6, st.s * 1.6);
  }
  ctx.globalAlpha = 1;
}

function drawShip() {
  if (state === 'ready') return;
  if (ship.inv > 0 && Math.floor(ship.inv * 10) % 2 === 0) return; // blink while invulnerable
  glow(COLORS.primary);
  drawSprite('ship', ship.x - SHIP / 2, ship.y - SHIP / 2, SHIP, SHIP, () => {
    ctx.fillStyle = COLORS.primary;
    ctx.beginPath();
    ctx.moveTo(ship.x, ship.y - SHIP / 2);
    ctx.lineTo(ship.x + SHIP / 2, ship.y + SHIP / 2);
    ctx.lineTo(ship.x, ship.y + SHIP / 4);
    ctx.lineTo(ship.x - SHIP / 2, ship.y + SHIP / 2);
    ctx.closePath();
    ctx.fill();
  });
  noGlow();
}

function render() {
  drawBackground(drawSpace);
  glow(COLORS.secondary);
  for (const p of powerups) {
    drawSprite('powerup', p.x - 16, p.y - 16, 32, 32, () => {
      ctx.strokeStyle = COLORS.secondary;
      ctx.lineWidth = 3;
      circle(p.x, p.y, 13);
      ctx.stroke();
    });
  }
  glow(COLORS.accent);
  for (const en of enemies) {
    drawSprite('enemy', en.x - 20, en.y - 15, 40, 30, () => {
      ctx.fillStyle = COLORS.accent;
      ctx.beginPath();
      ctx.moveTo(en.x - 18, en.y - 12);
      ctx.lineTo(en.x + 18, en.y - 12);
      ctx.lineTo(en.x, en.y + 14);
      ctx.closePath();
      ctx.fill();
    });
  }
  ctx.fillStyle = COLORS.accent;
  for (const s of enemyShots) {
    circle(s.x, s.y, 4);
    ctx.fill();
  }
  glow(COLORS.primary);
  for (const s of shots) {
    drawSprite('laser', s.x - 4, s.y - 10, 8, 20, () => {
      ctx.fillStyle = COLORS.primary;
      ctx.fillRect(s.x - 2, s.y - 9, 4, 18);
    });
  }
  noGlow();
  drawShip();
  for (const p of particles) {
    ctx.globalAlpha = clamp(p.life * 2, 0, 1);
    ctx.fillStyle = p.color;
    ctx.fillRect(p.x - 2, p.y - 2, 4, 4);
  }
  ctx.globalAlpha = 1;
  const extra = tripleFor > 0 ? '   ' + t('triple') + ' ' + Math.ceil(tripleFor) : '';
  drawHud(
    t('score') + ' ' + score + '   ' + t('lives') + ' ' + Math.max(0, lives) + extra,
    t('wave') + ' ' + wave + '   ' + t('best') + ' ' + best,
    HUD_H,
  );
  drawStateOverlay();
}

expose({ probe: () => ({ x: Math.round(ship.x), y: Math.round(ship.y) }) });
startLoop(update, render);
