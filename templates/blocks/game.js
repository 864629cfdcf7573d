'use strict';
// Falling blocks: move and rotate the falling piece; a full row clears. The pieces fall
// faster each level (10 lines); a piece that cannot enter the board ends the game.

const HUD_H = 36;
const COLS = 10;
const ROWS = 20;
const CELL = 27;
const BX = 14;
const BY = HUD_H + 24;
const PANEL_X = BX + COLS * CELL + 18;
const START_LEVEL = { easy: 1, normal: 1, hard: 3 }[DIFFICULTY] || 1;
const BASE_FALL = 1.05 - SPEED * 0.075; // seconds per row at level 1: speed 5 -> 0.68
const SHAPES = [
  [[1, 1, 1, 1]],
  [
    [1, 1],
    [1, 1],
  ],
  [
    [0, 1, 0],
    [1, 1, 1],
  ],
  [
    [1, 0, 0],
    [1, 1, 1],
  ],
  [
    [0, 0, 1],
    [1, 1, 1],
  ],
  [
    [0, 1, 1],
    [1, 1, 0],
  ],
  [
    [1, 1, 0],
    [0, 1, 1],
  ],
];
const PIECE_COLORS = ['#22d3ee', '#facc15', '#a855f7', '#3b82f6', '#fb923c', '#22c55e', '#ef4444'];

let board = [];
let piece = null;
let nextKind = 0;
let lines = 0;
let level = START_LEVEL;
let fallIn = 0;
let flash = 0;
let moves = 0; // moves and turns the player made

function emptyBoard() {
  return Array.from({ length: ROWS }, () => Array(COLS).fill(0));
}

function fallTime() {
  return Math.max(0.06, BASE_FALL * Math.pow(0.85, level - 1));
}

function collides(shape, x, y) {
  for (let r = 0; r < shape.length; r++) {
    for (let c = 0; c < shape[r].length; c++) {
      if (!shape[r][c]) continue;
      const bx = x + c;
      const by = y + r;
      if (bx < 0 || bx >= COLS || by >= ROWS) return true;
      if (by >= 0 && board[by][bx]) return true;
    }
  }
  return false;
}

function spawnPiece() {
  const kind = nextKind;
  nextKind = Math.floor(Math.random() * SHAPES.length);
  const shape = SHAPES[kind].map((row) => row.slice());
  piece = { kind, shape, x: Math.floor((COLS - shape[0].length) / 2), y: 0 };
  if (collides(piece.shape, piece.x, piece.y)) endGame(false);
}

function resetGame() {
  board = emptyBoard();
  lines = 0;
  level = START_LEVEL;
  flash = 0;
  nextKind = Math.floor(Math.random() * SHAPES.length);
  spawnPiece();
  fallIn = fallTime();
}

function move(dx) {
  if (!collides(piece.shape, piece.x + dx, piece.y)) {
    piece.x += dx;
    moves += 1;
    sfx('move');
  }
}

function rotate() {
  const s = piece.shape;
  const turned = s[0].map((_, c) => s.map((row) => row[c]).reverse());
  for (const kick of [0, -1, 1, -2, 2]) {
    if (!collides(turned, piece.x + kick, piece.y)) {
      piece.shape = turned;
      piece.x += kick;
      moves += 1;
      sfx('move');
      return;
    }
  }
}

function clearLines() {
  let cleared = 0;
  for (let r = ROWS - 1; r >= 0; r--) {
    if (board[r].every((v) => v)) {
      board.splice(r, 1);
      board.unshift(Array(COLS).fill(0));
      cleared += 1;
      r += 1;
    }
  }
  if (cleared) {
    lines += cleared;
    addScore([0, 100, 300, 500, 800][cleared] * level);
    flash = 0.25;
    level = Math.max(level, START_LEVEL + Math.floor(lines / 10));
  }
}

function lockPiece() {
  piece.shape.forEach((row, r) =>
    row.forEach((v, c) => {
      if (v && piece.y + r >= 0) board[piece.y + r][piece.x + c] = piece.kind + 1;
    }),
  );
  clearLines();
  spawnPiece();
  fallIn = fallTime();
}

function softDrop() {
  if (!collides(piece.shape, piece.x, piece.y + 1)) {
    piece.y += 1;
    return true;
  }
  lockPiece();
  return false;
}

function hardDrop() {
  let rows = 0;
  while (!collides(piece.shape, piece.x, piece.y + 1)) {
    piece.y += 1;
    rows += 1;
  }
  score += rows * 2;
  sfx('jump');
  lockPiece();
}

onKey((k) => {
  if (k === 'arrowleft' || k === 'a') move(-1);
  else if (k === 'arrowright' || k === 'd') move(1);
  else if (k === 'arrowup' || k === 'w' || k === 'x') rotate();
  else if (k === 'arrowdown' || k === 's') softDrop();
  else if (k === 'space') hardDrop();
});
onSwipe((dx, dy) => {
  if (dx) move(dx);
  else if (dy > 0) hardDrop();
  else rotate();
});
onTap(() => rotate());

function update(dt) {
  flash = Math.max(0, flash - dt);
  const soft = isHeld('arrowdown', 's');
  fallIn -= dt * (soft ? 8 : 1);
  if (fallIn <= 0) {
    fallIn = fallTime();
    softDrop();
  }
}

function drawCell(x, y, color) {
  const px = BX + x * CELL;
  const py = BY + y * CELL;
  glow(color, GLOW / 2);
  ctx.fillStyle = color;
  roundRect(px + 1, py + 1, CELL - 2, CELL - 2, 5);
  ctx.fill();
  noGlow();
  if (hasSprite('block')) {
    ctx.globalAlpha = 0.6;
    ctx.globalCompositeOperation = 'overlay';
    drawSprite('block', px + 1, py + 1, CELL - 2, CELL - 2, () => {});
    ctx.globalCompositeOperation = 'source-over';
    ctx.globalAlpha = 1;
  } else {
    ctx.fillStyle = 'rgba(255, 255, 255, 0.25)';
    ctx.fillRect(px + 4, py + 4, CELL - 8, 4);
  }
}

function drawBoard() {
  ctx.fillStyle = 'rgba(0, 0, 0, 0.35)';
  ctx.fillRect(BX, BY, COLS * CELL, ROWS * CELL);
  ctx.strokeStyle = COLORS.secondary;
  ctx.lineWidth = 2;
  ctx.strokeRect(BX - 1, BY - 1, COLS * CELL + 2, ROWS * CELL + 2);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) if (board[r] && board[r][c]) drawCell(c, r, PIECE_COLORS[board[r][c] - 1]);
  }
  if (piece && state !== 'ready') {
    let ghost = piece.y;
    while (!collides(piece.shape, piece.x, ghost + 1)) ghost += 1;
    ctx.globalAlpha = 0.25;
    piece.shape.forEach((row, r) => row.forEach((v, c) => v && drawCell(piece.x + c, ghost + r, '#ffffff')));
    ctx.globalAlpha = 1;
    piece.shape.forEach((row, r) =>
      row.forEach((v, c) => v && piece.y + r >= 0 && drawCell(piece.x + c, piece.y + r, PIECE_COLORS[piece.kind])),
    );
  }
  if (flash > 0) {
    ctx.fillStyle = 'rgba(255, 255, 255, ' + flash * 1.6 + ')';
    ctx.fillRect(BX, BY, COLS * CELL, ROWS * CELL);
  }
}

function drawPanel() {
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillStyle = COLORS.text;
  ctx.font = font(15, true);
  const rows = [
    [t('next'), ''],
    ['', ''],
    ['', ''],
    ['', ''],
    [t('score'), String(score)],
    [t('lines'), String(lines)],
    [t('level'), String(level)],
    [t('best'), String(best)],
  ];
  rows.forEach(([label, value], i) => {
    if (!label) return;
    ctx.fillText(label, PANEL_X, BY + i * 44);
    ctx.fillText(value, PANEL_X, BY + i * 44 + 18);
  });
  const shape = SHAPES[nextKind];
  shape.forEach((row, r) =>
    row.forEach((v, c) => {
      if (!v) return;
      ctx.fillStyle = PIECE_COLORS[nextKind];
      ctx.fillRect(PANEL_X + c * 18, BY + 28 + r * 18, 16, 16);
    }),
  );
}

function render() {
  drawBackground();
  drawBoard();
  drawPanel();
  drawHud(TITLE, t('speed') + ' ' + SPEED, HUD_H);
  drawStateOverlay();
}

board = emptyBoard();
expose({ probe: () => ({ moves }) });
startLoop(update, render);
