'use strict';
// Top-down racing: the road scrolls, traffic comes towards you; steer around it, pick
// up coins. A crash costs a life. Settings are in config.js, helpers in runtime.js.

const HUD_H = 36;
const LANES = 4;
const ROAD_X = 40;
const ROAD_W = W - 80;
const LANE_W = ROAD_W / LANES;
const CAR_W = 34 * SCALE;
const CAR_H = 58 * SCALE;
const BASE = 200 + SPEED * 30; // road speed in px per second: speed 5 -> 350
const STEER = 300;
const DENSITY = { easy: 0.8, normal: 1.25, hard: 1.8 }[DIFFICULTY] || 1.25; // cars per second
const START_LIVES = OPTIONS.lives || 3;

const car = { x: W / 2, y: H - 100, inv: 0 };
let traffic = [];
let coins = [];
let road = 0;
let speed = BASE;
let distance = 0;
let lives = START_LIVES;
let spawnIn = 0;
let bonus = 0; // coin points

function resetGame() {
  car.x = W / 2;
  car.inv = 1;
  traffic = [];
  coins = [];
  speed = BASE;
  distance = 0;
  lives = START_LIVES;
  spawnIn = 1;
  bonus = 0;
}

function crash() {
  if (car.inv > 0) return;
  lives -= 1;
  car.inv = 1.8;
  speed = BASE;
  sfx('hit');
  if (lives <= 0) endGame(false);
}

function laneX(i) {
  return ROAD_X + LANE_W * (i + 0.5);
}

function spawn() {
  const lane = randInt(0, LANES - 1);
  const y = -CAR_H;
  if (traffic.some((o) => Math.abs(o.y - y) < CAR_H * 2.2 && o.lane === lane)) return;
  traffic.push({ lane, x: laneX(lane), y, v: rand(0.35, 0.6), hue: randInt(0, 5) });
  if (Math.random() < 0.5) coins.push({ x: laneX((lane + randInt(1, LANES - 1)) % LANES), y: -40 });
}

function update(dt) {
  let steer = 0;
  if (isHeld('arrowleft', 'a')) steer -= 1;
  if (isHeld('arrowright', 'd')) steer += 1;
  if (!steer && pointer.down) {
    const dx = pointer.x - car.x;
    if (Math.abs(dx) > 8) steer = Math.sign(dx);
  }
  car.x = clamp(car.x + steer * STEER * dt, ROAD_X + CAR_W / 2, ROAD_X + ROAD_W - CAR_W / 2);
  if (isHeld('arrowup', 'w')) speed = Math.min(BASE * 1.8, speed + 200 * dt);
  else if (isHeld('arrowdown', 's')) speed = Math.max(BASE * 0.5, speed - 300 * dt);
  else speed += 4 * dt; // the road slowly gets faster
  car.inv = Math.max(0, car.inv - dt);
  road = (road + speed * dt) % 60;
  distance += speed * dt;
  score = Math.floor(distance / 50) + bonus;
  spawnIn -= dt * DENSITY * (speed / BASE);
  if (spawnIn <= 0) {
    spawn();
    spawnIn = 1;
  }
  for (const o of traffic) {
    o.y += speed * (1 - o.v) * dt;
    if (Math.abs(o.x - car.x) < CAR_W * 0.9 && Math.abs(o.y - car.y) < CAR_H * 0.9) {
      o.hit = true;
      crash();
    }
  }
  traffic = traffic.filter((o) => o.y < H + CAR_H && !o.hit);
  for (const c of coins) {
    c.y += speed * dt;
    if (!c.taken && Math.abs(c.x - car.x) < CAR_W && Math.abs(c.y - car.y) < CAR_H * 0.7) {
      c.taken = true;
      bonus += 25;
      sfx('score');
    }
  }
  coins = coins.filter((c) => c.y < H + 20 && !c.taken);
}

const TRAFFIC_COLORS = ['#60a5fa', '#f87171', '#fbbf24', '#a78bfa', '#34d399', '#f472b6'];

function drawCarShape(x, y, w, h, color, down) {
  ctx.fillStyle = color;
  roundRect(x - w / 2, y - h / 2, w, h, w * 0.25);
  ctx.fill();
  ctx.fillStyle = 'rgba(20, 30, 50, 0.75)';
  const wy = down ? y + h * 0.08 : y - h * 0.3;
  roundRect(x - w * 0.35, wy, w * 0.7, h * 0.22, 4);
  ctx.fill();
  ctx.fillStyle = '#111111';
  for (const sx of [-1, 1]) {
    ctx.fillRect(x + sx * (w / 2) - 3, y - h * 0.35, 6, h * 0.2);
    ctx.fillRect(x + sx * (w / 2) - 3, y + h * 0.15, 6, h * 0.2);
  }
}

function drawRoad() {
  drawBackground(() => {
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, W, H);
  });
  ctx.fillStyle = 'rgba(40, 44, 52, 0.92)';
  ctx.fillRect(ROAD_X, 0, ROAD_W, H);
  ctx.fillStyle = COLORS.accent;
  ctx.fillRect(ROAD_X - 6, 0, 6, H);
  ctx.fillRect(ROAD_X + ROAD_W, 0, 6, H);
  ctx.fillStyle = 'rgba(255, 255, 255, 0.7)';
  for (let i = 1; i < LANES; i++) {
    for (let y = -60 + road; y < H; y += 60) ctx.fillRect(ROAD_X + i * LANE_W - 2, y, 4, 32);
  }
}

function render() {
  drawRoad();
  glow(COLORS.accent);
  for (const c of coins) {
    drawSprite('coin', c.x - 12, c.y - 12, 24, 24, () => {
      ctx.fillStyle = COLORS.accent;
      circle(c.x, c.y, 10);
      ctx.fill();
    });
  }
  noGlow();
  for (const o of traffic) {
    const color = TRAFFIC_COLORS[o.hue];
    drawSprite('traffic', o.x - CAR_W / 2, o.y - CAR_H / 2, CAR_W, CAR_H, () =>
      drawCarShape(o.x, o.y, CAR_W, CAR_H, color, true),
    );
  }
  if (state !== 'ready' && !(car.inv > 0 && Math.floor(car.inv * 10) % 2 === 0)) {
    glow(COLORS.primary);
    drawSprite('car', car.x - CAR_W / 2, car.y - CAR_H / 2, CAR_W, CAR_H, () =>
      drawCarShape(car.x, car.y, CAR_W, CAR_H, COLORS.primary, false),
    );
    noGlow();
  }
  drawHud(
    t('score') + ' ' + score + '   ' + t('lives') + ' ' + Math.max(0, lives),
    Math.round(speed / 4) + ' ' + t('km') + '/h   ' + t('best') + ' ' + best,
    HUD_H,
  );
  drawStateOverlay();
}

expose({ probe: () => ({ x: Math.round(car.x) }) });
startLoop(update, render);
