'use strict';
// Maze: walk from the mazeTop-mazeLeft corner to the exit in the bottom-right one before the time
// runs out; three mazes, each larger. Gems are bonus points. Settings in config.js.

const HUD_H = 36;
const LEVELS = 3;
const BASE_CELL = 40 * SCALE;
const TIME_PER_CELL = { easy: 1.2, normal: 0.8, hard: 0.55 }[DIFFICULTY] || 0.8;
const STEP_S = Math.max(0.05, 0.2 - SPEED * 0.014); // time per cell while a key is held

let grid = [];
let cols = 0;
let rows = 0;
let cell = BASE_CELL;
let mazeLeft = 0;
let mazeTop = 0;
let level = 1;
let timeLeft = 0;
let stepIn = 0;
let gems = [];
let moves = 0;
const player = { x: 0, y: 0, px: 0, py: 0 };

// Walls per cell as bits: 1 up, 2 right, 4 down, 8 mazeLeft. Depth-first carving.
function carve(c, r) {
  const g = Array.from({ length: r }, () => Array(c).fill(15));
  const seen = Array.from({ length: r }, () => Array(c).fill(false));
  const stack = [[0, 0]];
  seen[0][0] = true;
  const dirs = [
    [0, -1, 1, 4],
    [1, 0, 2, 8],
    [0, 1, 4, 1],
    [-1, 0, 8, 2],
  ];
  while (stack.length) {
    const [x, y] = stack[stack.length - 1];
    const options = dirs.filter(([dx, dy]) => {
      const nx = x + dx;
      const ny = y + dy;
      return nx >= 0 && ny >= 0 && nx < c && ny < r && !seen[ny][nx];
    });
    if (!options.length) {
      stack.pop();
      continue;
    }
    const [dx, dy, wall, opposite] = options[Math.floor(Math.random() * options.length)];
    g[y][x] &= ~wall;
    g[y + dy][x + dx] &= ~opposite;
    seen[y + dy][x + dx] = true;
    stack.push([x + dx, y + dy]);
  }
  return g;
}

function buildLevel() {
  cell = BASE_CELL * Math.pow(0.8, level - 1);
  cols = Math.max(4, Math.floor((W - 20) / cell));
  rows = Math.max(4, Math.floor((H - HUD_H - 20) / cell));
  mazeLeft = (W - cols * cell) / 2;
  mazeTop = HUD_H + (H - HUD_H - rows * cell) / 2;
  grid = carve(cols, rows);
  gems = [];
  const count = 3 + level;
  for (let i = 0; i < count; i++) gems.push({ x: randInt(1, cols - 1), y: randInt(1, rows - 1) });
  Object.assign(player, { x: 0, y: 0, px: 0, py: 0 });
  timeLeft = Math.ceil(cols * rows * TIME_PER_CELL * 0.5) + 10;
}

function resetGame() {
  level = 1;
  buildLevel();
}

function tryMove(dx, dy) {
  const wall = dx > 0 ? 2 : dx < 0 ? 8 : dy > 0 ? 4 : 1;
  if (grid[player.y][player.x] & wall) return false;
  player.x += dx;
  player.y += dy;
  moves += 1;
  sfx('move');
  for (const g of gems) {
    if (!g.taken && g.x === player.x && g.y === player.y) {
      g.taken = true;
      addScore(10);
    }
  }
  if (player.x === cols - 1 && player.y === rows - 1) {
    addScore(100 + Math.ceil(timeLeft));
    if (level >= LEVELS) endGame(true);
    else {
      level += 1;
      buildLevel();
    }
  }
  return true;
}

function run(dx, dy) {
  // A swipe runs along the corridor until a wall or a junction.
  let moved = 0;
  while (state === 'playing' && moved < 50 && tryMove(dx, dy)) {
    moved += 1;
    const walls = grid[player.y] ? grid[player.y][player.x] : 15;
    const open = [1, 2, 4, 8].filter((w) => !(walls & w)).length;
    if (open !== 2) break;
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
  if (DIRS[k]) {
    tryMove(DIRS[k][0], DIRS[k][1]);
    stepIn = STEP_S * 2;
  }
});
onSwipe((dx, dy) => run(dx, dy));
onTap((p) => {
  const dx = p.x - (mazeLeft + (player.x + 0.5) * cell);
  const dy = p.y - (mazeTop + (player.y + 0.5) * cell);
  if (Math.abs(dx) > Math.abs(dy)) tryMove(Math.sign(dx), 0);
  else tryMove(0, Math.sign(dy));
});

function update(dt) {
  timeLeft -= dt;
  if (timeLeft <= 0) {
    timeLeft = 0;
    endGame(false);
    return;
  }
  player.px += (player.x - player.px) * Math.min(1, dt * 18);
  player.py += (player.y - player.py) * Math.min(1, dt * 18);
  stepIn -= dt;
  if (stepIn <= 0) {
    for (const [k, d] of Object.entries(DIRS)) {
      if (isHeld(k)) {
        tryMove(d[0], d[1]);
        stepIn = STEP_S;
        break;
      }
    }
  }
}

function drawMaze() {
  ctx.strokeStyle = COLORS.primary;
  ctx.lineWidth = Math.max(2, cell / 9);
  ctx.lineCap = 'round';
  glow(COLORS.primary, GLOW / 2);
  ctx.beginPath();
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const walls = grid[y][x];
      const px = mazeLeft + x * cell;
      const py = mazeTop + y * cell;
      if (walls & 1) {
        ctx.moveTo(px, py);
        ctx.lineTo(px + cell, py);
      }
      if (walls & 8) {
        ctx.moveTo(px, py);
        ctx.lineTo(px, py + cell);
      }
      if (y === rows - 1 && walls & 4) {
        ctx.moveTo(px, py + cell);
        ctx.lineTo(px + cell, py + cell);
      }
      if (x === cols - 1 && walls & 2) {
        ctx.moveTo(px + cell, py);
        ctx.lineTo(px + cell, py + cell);
      }
    }
  }
  ctx.stroke();
  noGlow();
}

function render() {
  drawBackground();
  if (grid.length) {
    ctx.fillStyle = COLORS.accent;
    ctx.globalAlpha = 0.5 + 0.3 * Math.sin(performance.now() / 200);
    ctx.fillRect(mazeLeft + (cols - 1) * cell + 4, mazeTop + (rows - 1) * cell + 4, cell - 8, cell - 8);
    ctx.globalAlpha = 1;
    drawMaze();
    for (const g of gems) {
      if (g.taken) continue;
      const cx = mazeLeft + (g.x + 0.5) * cell;
      const cy = mazeTop + (g.y + 0.5) * cell;
      drawSprite('gem', cx - cell * 0.3, cy - cell * 0.3, cell * 0.6, cell * 0.6, () => {
        ctx.fillStyle = COLORS.accent;
        ctx.beginPath();
        ctx.moveTo(cx, cy - cell * 0.25);
        ctx.lineTo(cx + cell * 0.2, cy);
        ctx.lineTo(cx, cy + cell * 0.25);
        ctx.lineTo(cx - cell * 0.2, cy);
        ctx.fill();
      });
    }
    const cx = mazeLeft + (player.px + 0.5) * cell;
    const cy = mazeTop + (player.py + 0.5) * cell;
    glow(COLORS.secondary);
    drawSprite('hero', cx - cell * 0.38, cy - cell * 0.38, cell * 0.76, cell * 0.76, () => {
      ctx.fillStyle = COLORS.secondary;
      circle(cx, cy, cell * 0.3);
      ctx.fill();
    });
    noGlow();
  }
  drawHud(
    t('score') + ' ' + score + '   ' + t('maze') + ' ' + level + '/' + LEVELS,
    t('time') + ' ' + Math.ceil(timeLeft) + '   ' + t('best') + ' ' + best,
    HUD_H,
  );
  drawStateOverlay();
}

resetGame();
expose({ probe: () => ({ moves }) });
startLoop(update, render);
