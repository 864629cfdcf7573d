'use strict';
// Clicker: earn as much as you can before the timer runs out. Tap the orb, buy upgrades
// (1: auto income, 2: double per click), grab the flying bonus. Settings in config.js.

const HUD_H = 36;
const ROUND_S = { easy: 90, normal: 60, hard: 45 }[DIFFICULTY] || 60;
const BONUS_SPEED = 60 + SPEED * 25; // px per second the golden bonus flies
const BONUS_EVERY = Math.max(3, 11 - SPEED * 0.6); // seconds between bonuses
const ORB = { x: W / 2, y: 270, r: 96 * Math.min(1.2, SCALE) };
const BUTTONS = [
  { key: '1', x: 24, y: H - 150, w: (W - 72) / 2, h: 110 },
  { key: '2', x: 48 + (W - 72) / 2, y: H - 150, w: (W - 72) / 2, h: 110 },
];

let points = 0; // spendable
let earned = 0; // everything earned this round: the score
let perClick = 1;
let perSecond = 0;
let autoLevel = 0;
let powerLevel = 0;
let timeLeft = ROUND_S;
let bonus = null;
let bonusIn = BONUS_EVERY;
let floaters = [];
let squeeze = 0;
let clicks = 0;

function autoCost() {
  return Math.round(15 * Math.pow(1.5, autoLevel));
}

function powerCost() {
  return Math.round(25 * Math.pow(1.7, powerLevel));
}

function resetGame() {
  points = 0;
  earned = 0;
  perClick = 1;
  perSecond = 0;
  autoLevel = 0;
  powerLevel = 0;
  timeLeft = ROUND_S;
  bonus = null;
  bonusIn = BONUS_EVERY;
  floaters = [];
}

function gain(amount, x, y) {
  points += amount;
  earned += amount;
  score = Math.floor(earned);
  floaters.push({ x, y, text: '+' + amount, life: 0.9 });
  sfx('score');
}

function clickOrb() {
  squeeze = 1;
  clicks += 1;
  gain(perClick, ORB.x + rand(-40, 40), ORB.y - ORB.r - 10);
}

function buy(key) {
  if (key === '1' && points >= autoCost()) {
    points -= autoCost();
    autoLevel += 1;
    perSecond += 1 + powerLevel;
  } else if (key === '2' && points >= powerCost()) {
    points -= powerCost();
    powerLevel += 1;
    perClick *= 2;
  }
}

function grabBonus() {
  if (!bonus) return;
  gain(perClick * 10 + perSecond * 5, bonus.x, bonus.y);
  bonus = null;
}

function inRect(p, b) {
  return p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h;
}

onKey((k) => {
  if (k === 'space' || k === 'enter') clickOrb();
  else if (k === '1' || k === '2') buy(k);
  else if (k === 'b') grabBonus();
});
onPointerDown((p) => {
  if (bonus && Math.hypot(p.x - bonus.x, p.y - bonus.y) < 36) grabBonus();
  else if (Math.hypot(p.x - ORB.x, p.y - ORB.y) < ORB.r) clickOrb();
  else for (const b of BUTTONS) if (inRect(p, b)) buy(b.key);
});

function update(dt) {
  squeeze = Math.max(0, squeeze - dt * 6);
  for (const f of floaters) {
    f.y -= 60 * dt;
    f.life -= dt;
  }
  floaters = floaters.filter((f) => f.life > 0);
  timeLeft -= dt;
  if (timeLeft <= 0) {
    timeLeft = 0;
    bonus = null;
    endGame(false);
    return;
  }
  if (perSecond > 0) {
    points += perSecond * dt;
    earned += perSecond * dt;
    score = Math.floor(earned);
  }
  bonusIn -= dt;
  if (!bonus && bonusIn <= 0) {
    const a = rand(0, Math.PI * 2);
    bonus = { x: rand(60, W - 60), y: rand(HUD_H + 40, 420), vx: Math.cos(a), vy: Math.sin(a), life: 5 };
    bonusIn = BONUS_EVERY;
  }
  if (bonus) {
    bonus.x += bonus.vx * BONUS_SPEED * dt;
    bonus.y += bonus.vy * BONUS_SPEED * dt;
    if (bonus.x < 30 || bonus.x > W - 30) bonus.vx *= -1;
    if (bonus.y < HUD_H + 30 || bonus.y > 440) bonus.vy *= -1;
    bonus.x = clamp(bonus.x, 30, W - 30);
    bonus.y = clamp(bonus.y, HUD_H + 30, 440);
    bonus.life -= dt;
    if (bonus.life <= 0) bonus = null;
  }
}

function drawButton(b, title, detail, cost) {
  const affordable = state === 'playing' && points >= cost;
  noGlow();
  ctx.globalAlpha = affordable ? 1 : 0.5;
  ctx.fillStyle = COLORS.secondary;
  roundRect(b.x, b.y, b.w, b.h, 14);
  ctx.fill();
  if (affordable) {
    glow(COLORS.primary);
    ctx.strokeStyle = COLORS.primary;
    ctx.lineWidth = 3;
    roundRect(b.x, b.y, b.w, b.h, 14);
    ctx.stroke();
    noGlow();
  }
  centerText('[' + b.key + '] ' + title, b.x + b.w / 2, b.y + 28, 18, COLORS.text, true);
  centerText(detail, b.x + b.w / 2, b.y + 56, 15, COLORS.text);
  centerText(t('cost', cost), b.x + b.w / 2, b.y + 84, 15, COLORS.text);
  ctx.globalAlpha = 1;
}

function render() {
  drawBackground();
  const r = ORB.r * (1 - squeeze * 0.06) + Math.sin(performance.now() / 400) * 2;
  glow(COLORS.primary, GLOW * 1.5);
  drawSprite('orb', ORB.x - r, ORB.y - r, r * 2, r * 2, () => {
    const g = ctx.createRadialGradient(ORB.x - r * 0.3, ORB.y - r * 0.3, r * 0.1, ORB.x, ORB.y, r);
    g.addColorStop(0, COLORS.text);
    g.addColorStop(0.35, COLORS.primary);
    g.addColorStop(1, COLORS.secondary);
    ctx.fillStyle = g;
    circle(ORB.x, ORB.y, r);
    ctx.fill();
  });
  noGlow();
  centerText(String(Math.floor(points)), W / 2, ORB.y + ORB.r + 44, 44, COLORS.text, true);
  centerText(t('rates', perClick, perSecond), W / 2, ORB.y + ORB.r + 80, 16, COLORS.text);
  if (bonus) {
    glow(COLORS.accent);
    drawSprite('bonus', bonus.x - 24, bonus.y - 24, 48, 48, () => {
      ctx.fillStyle = COLORS.accent;
      circle(bonus.x, bonus.y, 20);
      ctx.fill();
    });
    noGlow();
  }
  drawButton(BUTTONS[0], t('auto'), t('perSecondUp', 1 + powerLevel), autoCost());
  drawButton(BUTTONS[1], t('power'), t('double'), powerCost());
  ctx.font = font(20, true);
  for (const f of floaters) {
    ctx.globalAlpha = clamp(f.life * 1.5, 0, 1);
    ctx.fillStyle = COLORS.accent;
    ctx.fillText(f.text, f.x, f.y);
  }
  ctx.globalAlpha = 1;
  drawHud(scoreText(), t('time') + ' ' + Math.ceil(timeLeft) + '   ' + t('speed') + ' ' + SPEED, HUD_H);
  drawStateOverlay();
}

expose({ probe: () => ({ clicks }) });
startLoop(update, render);
