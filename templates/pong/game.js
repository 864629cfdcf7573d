'use strict';
// Pong: return the ball past the computer's paddle; first to OPTIONS.points wins.
// Settings are in config.js, shared helpers in runtime.js.

const HUD_H = 36;
const WIN_POINTS = OPTIONS.points || 7;
const BALL_SPEED = 220 + SPEED * 30; // px per second: speed 5 -> 370
const PADDLE_H = 84 * SCALE;
const PADDLE_W = 12 * Math.sqrt(SCALE);
const BALL_R = 7 * SCALE;
const MOVE = 420;
const AI_SPEED = { easy: 190, normal: 290, hard: 420 }[DIFFICULTY] || 290;
const AI_ERROR = { easy: 40, normal: 18, hard: 4 }[DIFFICULTY] || 18;

const you = { x: 24, y: H / 2 };
const cpu = { x: W - 24, y: H / 2 };
const ball = { x: W / 2, y: H / 2, vx: 0, vy: 0, wait: 0 };
let cpuScore = 0;
let aim = 0;

function serve(direction) {
  ball.x = W / 2;
  ball.y = (H + HUD_H) / 2;
  const a = rand(-0.45, 0.45);
  ball.vx = Math.cos(a) * BALL_SPEED * direction;
  ball.vy = Math.sin(a) * BALL_SPEED;
  ball.wait = 0.6;
  aim = rand(-AI_ERROR, AI_ERROR);
}

function resetGame() {
  cpuScore = 0;
  you.y = H / 2;
  cpu.y = H / 2;
  serve(Math.random() < 0.5 ? -1 : 1);
}

onPointerDown((p) => {
  you.y = p.y;
});
onPointerMove((p, down) => {
  if (state === 'playing' && (down || !('ontouchstart' in window))) you.y = p.y;
});

function point(toYou) {
  if (toYou) addScore(1);
  else {
    cpuScore += 1;
    sfx('hit');
  }
  if (score >= WIN_POINTS) endGame(true);
  else if (cpuScore >= WIN_POINTS) endGame(false);
  else serve(toYou ? 1 : -1);
}

function bounce(paddle, side) {
  const top = paddle.y - PADDLE_H / 2;
  if (ball.y + BALL_R < top || ball.y - BALL_R > top + PADDLE_H) return;
  if (side < 0 && ball.vx < 0 && ball.x - BALL_R <= paddle.x + PADDLE_W / 2 && ball.x > paddle.x) {
    hit(paddle, 1);
  } else if (side > 0 && ball.vx > 0 && ball.x + BALL_R >= paddle.x - PADDLE_W / 2 && ball.x < paddle.x) {
    hit(paddle, -1);
  }
}

function hit(paddle, direction) {
  const offset = clamp((ball.y - paddle.y) / (PADDLE_H / 2), -1, 1);
  const speed = Math.min(BALL_SPEED * 2, Math.hypot(ball.vx, ball.vy) * 1.05);
  const a = offset * 0.9;
  ball.vx = Math.cos(a) * speed * direction;
  ball.vy = Math.sin(a) * speed;
  ball.x = paddle.x + direction * (PADDLE_W / 2 + BALL_R + 1);
  aim = rand(-AI_ERROR, AI_ERROR);
  sfx('move');
}

function update(dt) {
  let move = 0;
  if (isHeld('arrowup', 'w')) move -= 1;
  if (isHeld('arrowdown', 's')) move += 1;
  you.y += move * MOVE * dt;
  const lo = HUD_H + PADDLE_H / 2;
  const hi = H - PADDLE_H / 2;
  you.y = clamp(you.y, lo, hi);
  const goal = ball.vx > 0 ? ball.y + aim : (H + HUD_H) / 2;
  cpu.y = clamp(cpu.y + clamp(goal - cpu.y, -AI_SPEED * dt, AI_SPEED * dt), lo, hi);
  if (ball.wait > 0) {
    ball.wait -= dt;
    return;
  }
  const steps = Math.max(1, Math.ceil((Math.abs(ball.vx) * dt) / 4));
  for (let i = 0; i < steps; i++) {
    ball.x += (ball.vx * dt) / steps;
    ball.y += (ball.vy * dt) / steps;
    if (ball.y < HUD_H + BALL_R || ball.y > H - BALL_R) {
      ball.vy = -ball.vy;
      ball.y = clamp(ball.y, HUD_H + BALL_R, H - BALL_R);
    }
    bounce(you, -1);
    bounce(cpu, 1);
    if (ball.x < -BALL_R) return point(false);
    if (ball.x > W + BALL_R) return point(true);
  }
}

function drawPaddle(p) {
  glow(COLORS.primary);
  drawSprite('paddle', p.x - PADDLE_W / 2, p.y - PADDLE_H / 2, PADDLE_W, PADDLE_H, () => {
    ctx.fillStyle = COLORS.primary;
    roundRect(p.x - PADDLE_W / 2, p.y - PADDLE_H / 2, PADDLE_W, PADDLE_H, PADDLE_W / 2);
    ctx.fill();
  });
  noGlow();
}

function render() {
  drawBackground();
  ctx.fillStyle = COLORS.secondary;
  for (let y = HUD_H + 8; y < H; y += 26) ctx.fillRect(W / 2 - 2, y, 4, 14);
  centerText(String(score), W / 2 - 60, HUD_H + 44, 44, COLORS.text, true);
  centerText(String(cpuScore), W / 2 + 60, HUD_H + 44, 44, COLORS.text, true);
  if (state !== 'ready') {
    drawPaddle(you);
    drawPaddle(cpu);
    glow(COLORS.accent);
    drawSprite('ball', ball.x - BALL_R, ball.y - BALL_R, BALL_R * 2, BALL_R * 2, () => {
      ctx.fillStyle = COLORS.accent;
      circle(ball.x, ball.y, BALL_R);
      ctx.fill();
    });
    noGlow();
  }
  drawHud(t('you') + ' ' + score + ' - ' + t('cpu') + ' ' + cpuScore, t('best') + ' ' + best, HUD_H);
  if (state === 'over') {
    drawOverlay(won ? t('win') : t('gameOver'), [t('scoreLine', score, best, cpuScore), t('again')]);
  } else {
    drawStateOverlay();
  }
}

expose({ probe: () => ({ y: Math.round(you.y) }), cpuScore: () => cpuScore });
startLoop(update, render);
