'use strict';
// Breakout: keep the ball in play with the paddle and clear the bricks; five levels.
// Settings are in config.js, shared helpers in runtime.js.

const HUD_H = 36;
const BALL_SPEED = 220 + SPEED * 32; // px per second: speed 5 -> 380
const PADDLE_W = ({ easy: 112, normal: 90, hard: 70 }[DIFFICULTY] || 90) * SCALE;
const PADDLE_H = 14 * Math.sqrt(SCALE);
const PADDLE_SPEED = 560;
const BALL_R = 7 * SCALE;
const START_LIVES = OPTIONS.lives || 3;
const BRICK_ROWS = { easy: 4, normal: 5, hard: 6 }[DIFFICULTY] || 5;
const BRICK_COLS = 8;
const BRICK_GAP = 6;
const BRICK_H = 20;
const BRICK_TOP = HUD_H + 40;
const BRICK_W = (W - 24 - BRICK_GAP * (BRICK_COLS - 1)) / BRICK_COLS;
const ROW_COLORS = [COLORS.accent, COLORS.primary, COLORS.secondary];

const paddle = { x: W / 2, y: H - 44 };
const ball = { x: W / 2, y: 0, vx: 0, vy: 0, stuck: true };
let bricks = [];
let lives = START_LIVES;
let level = 1;
let speedNow = BALL_SPEED;

function buildBricks() {
  bricks = [];
  for (let r = 0; r < BRICK_ROWS; r++) {
    for (let c = 0; c < BRICK_COLS; c++) {
      bricks.push({
        x: 12 + c * (BRICK_W + BRICK_GAP),
        y: BRICK_TOP + r * (BRICK_H + BRICK_GAP),
        row: r,
        alive: true,
      });
    }
  }
}

function stickBall() {
  ball.stuck = true;
  ball.vx = 0;
  ball.vy = 0;
}

function launch() {
  if (!ball.stuck) return;
  const angle = (Math.random() - 0.5) * 0.8;
  ball.stuck = false;
  ball.vx = speedNow * Math.sin(angle);
  ball.vy = -speedNow * Math.cos(angle);
  sfx('jump');
}

function resetGame() {
  lives = START_LIVES;
  level = 1;
  speedNow = BALL_SPEED;
  paddle.x = W / 2;
  buildBricks();
  stickBall();
}

onKey((k) => {
  if (k === 'space' || k === 'enter' || k === 'arrowup' || k === 'w') launch();
});
onPointerMove((p) => {
  if (state === 'playing') paddle.x = clamp(p.x, PADDLE_W / 2, W - PADDLE_W / 2);
});
onPointerDown((p) => {
  paddle.x = clamp(p.x, PADDLE_W / 2, W - PADDLE_W / 2);
  launch();
});

function hitBricks() {
  for (const b of bricks) {
    if (!b.alive) continue;
    const nx = clamp(ball.x, b.x, b.x + BRICK_W);
    const ny = clamp(ball.y, b.y, b.y + BRICK_H);
    const dx = ball.x - nx;
    const dy = ball.y - ny;
    if (dx * dx + dy * dy > BALL_R * BALL_R) continue;
    b.alive = false;
    addScore(10 * (BRICK_ROWS - b.row));
    // Bounce on the axis with the smaller penetration.
    const overlapX = BRICK_W / 2 + BALL_R - Math.abs(ball.x - (b.x + BRICK_W / 2));
    const overlapY = BRICK_H / 2 + BALL_R - Math.abs(ball.y - (b.y + BRICK_H / 2));
    if (overlapX < overlapY) ball.vx = Math.sign(ball.x - (b.x + BRICK_W / 2)) * Math.abs(ball.vx);
    else ball.vy = Math.sign(ball.y - (b.y + BRICK_H / 2)) * Math.abs(ball.vy);
    return;
  }
}

function moveBall(dt) {
  const steps = Math.max(1, Math.ceil((speedNow * dt) / 4));
  const sdt = dt / steps;
  for (let i = 0; i < steps; i++) {
    ball.x += ball.vx * sdt;
    ball.y += ball.vy * sdt;
    if (ball.x < BALL_R) {
      ball.x = BALL_R;
      ball.vx = Math.abs(ball.vx);
    } else if (ball.x > W - BALL_R) {
      ball.x = W - BALL_R;
      ball.vx = -Math.abs(ball.vx);
    }
    if (ball.y < HUD_H + BALL_R) {
      ball.y = HUD_H + BALL_R;
      ball.vy = Math.abs(ball.vy);
    }
    const top = paddle.y - PADDLE_H / 2;
    if (
      ball.vy > 0 &&
      ball.y + BALL_R >= top &&
      ball.y - BALL_R <= top + PADDLE_H &&
      Math.abs(ball.x - paddle.x) <= PADDLE_W / 2 + BALL_R
    ) {
      const offset = clamp((ball.x - paddle.x) / (PADDLE_W / 2), -1, 1);
      const angle = offset * 1.05; // up to ~60 degrees from vertical
      ball.vx = speedNow * Math.sin(angle);
      ball.vy = -speedNow * Math.cos(angle);
      ball.y = top - BALL_R;
      sfx('move');
    }
    if (ball.y > H + BALL_R) {
      lives -= 1;
      sfx('hit');
      if (lives <= 0) endGame(false);
      else stickBall();
      return;
    }
    hitBricks();
  }
}

function update(dt) {
  let move = 0;
  if (isHeld('arrowleft', 'a')) move -= 1;
  if (isHeld('arrowright', 'd')) move += 1;
  paddle.x = clamp(paddle.x + move * PADDLE_SPEED * dt, PADDLE_W / 2, W - PADDLE_W / 2);
  if (ball.stuck) {
    ball.x = paddle.x;
    ball.y = paddle.y - PADDLE_H / 2 - BALL_R - 1;
    return;
  }
  moveBall(dt);
  if (state === 'playing' && bricks.every((b) => !b.alive)) {
    level += 1;
    if (level > 5) {
      endGame(true);
      return;
    }
    speedNow *= 1.08;
    buildBricks();
    stickBall();
  }
}

function render() {
  drawBackground();
  for (const b of bricks) {
    if (!b.alive) continue;
    const color = ROW_COLORS[b.row % ROW_COLORS.length];
    glow(color, GLOW / 2);
    ctx.fillStyle = color;
    roundRect(b.x, b.y, BRICK_W, BRICK_H, 4);
    ctx.fill();
    noGlow();
    if (hasSprite('brick')) {
      // The sprite adds bevel and shine; the row colour shows through it.
      ctx.globalAlpha = 0.7;
      ctx.globalCompositeOperation = 'overlay';
      drawSprite('brick', b.x, b.y, BRICK_W, BRICK_H, () => {});
      ctx.globalCompositeOperation = 'source-over';
      ctx.globalAlpha = 1;
    }
  }
  if (state !== 'ready') {
    glow(COLORS.primary);
    drawSprite('paddle', paddle.x - PADDLE_W / 2, paddle.y - PADDLE_H / 2, PADDLE_W, PADDLE_H, () => {
      ctx.fillStyle = COLORS.primary;
      roundRect(paddle.x - PADDLE_W / 2, paddle.y - PADDLE_H / 2, PADDLE_W, PADDLE_H, PADDLE_H / 2);
      ctx.fill();
    });
    glow(COLORS.text);
    drawSprite('ball', ball.x - BALL_R, ball.y - BALL_R, BALL_R * 2, BALL_R * 2, () => {
      ctx.fillStyle = COLORS.text;
      circle(ball.x, ball.y, BALL_R);
      ctx.fill();
    });
    noGlow();
  }
  drawHud(
    t('score') + ' ' + score + '   ' + t('lives') + ' ' + Math.max(0, lives),
    t('level') + ' ' + level + '   ' + t('best') + ' ' + best,
    HUD_H,
  );
  if (state === 'playing' && ball.stuck && !paused) {
    centerText(t('launch'), W / 2, H / 2 + 80, 16, COLORS.text);
  }
  drawStateOverlay();
}

buildBricks();
expose({ probe: () => ({ paddle: Math.round(paddle.x), stuck: ball.stuck }) });
startLoop(update, render);
