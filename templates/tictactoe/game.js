'use strict';
// Tic-tac-toe: you are X, the computer is O; five rounds, three in a row wins a round.
// The computer: random on easy, wins/blocks on normal, never loses on hard.

const HUD_H = 36;
const ROUNDS = 5;
const BOARD = Math.min(W - 60, H - HUD_H - 110);
const BX = (W - BOARD) / 2;
const BY = HUD_H + 60;
const CELL = BOARD / 3;
const THINK_S = Math.max(0.1, 0.9 - SPEED * 0.08); // the computer's thinking time
const LINES = [
  [0, 1, 2],
  [3, 4, 5],
  [6, 7, 8],
  [0, 3, 6],
  [1, 4, 7],
  [2, 5, 8],
  [0, 4, 8],
  [2, 4, 6],
];

let board = Array(9).fill('');
let cursor = 4;
let turnOf = 'X';
let round = 1;
let playerWins = 0;
let cpuWins = 0;
let draws = 0;
let thinkIn = 0;
let roundOver = 0;
let message = '';
let winLine = null;

function winner(b) {
  for (const line of LINES) {
    const [a, c, d] = line;
    if (b[a] && b[a] === b[c] && b[a] === b[d]) return { mark: b[a], line };
  }
  return b.every((v) => v) ? { mark: 'draw', line: null } : null;
}

function resetGame() {
  round = 1;
  playerWins = 0;
  cpuWins = 0;
  draws = 0;
  newRound();
}

function newRound() {
  board = Array(9).fill('');
  turnOf = round % 2 === 1 ? 'X' : 'O'; // starts alternate
  thinkIn = THINK_S;
  roundOver = 0;
  message = '';
  winLine = null;
}

function finishRound(mark) {
  if (mark === 'X') {
    playerWins += 1;
    addScore(100);
    message = t('roundWin');
  } else if (mark === 'O') {
    cpuWins += 1;
    message = t('roundLose');
    sfx('hit');
  } else {
    draws += 1;
    addScore(20);
    message = t('roundDraw');
  }
  if (round >= ROUNDS || playerWins > ROUNDS / 2 || cpuWins > ROUNDS / 2) {
    endGame(playerWins > cpuWins);
    return;
  }
  roundOver = 1.2;
}

function place(i, mark) {
  if (board[i] || roundOver > 0) return false;
  board[i] = mark;
  sfx('move');
  const w = winner(board);
  if (w) {
    winLine = w.line;
    finishRound(w.mark);
  } else {
    turnOf = mark === 'X' ? 'O' : 'X';
    thinkIn = THINK_S;
  }
  return true;
}

function minimax(b, mark) {
  const w = winner(b);
  if (w) return { value: w.mark === 'O' ? 1 : w.mark === 'X' ? -1 : 0, move: -1 };
  let bestMove = { value: mark === 'O' ? -2 : 2, move: -1 };
  for (let i = 0; i < 9; i++) {
    if (b[i]) continue;
    b[i] = mark;
    const v = minimax(b, mark === 'O' ? 'X' : 'O').value;
    b[i] = '';
    if ((mark === 'O' && v > bestMove.value) || (mark === 'X' && v < bestMove.value)) {
      bestMove = { value: v, move: i };
    }
  }
  return bestMove;
}

function completing(mark) {
  for (const [a, b, c] of LINES) {
    const cells = [a, b, c];
    const mine = cells.filter((i) => board[i] === mark).length;
    const empty = cells.filter((i) => !board[i]);
    if (mine === 2 && empty.length === 1) return empty[0];
  }
  return -1;
}

function cpuMove() {
  const free = board.map((v, i) => (v ? -1 : i)).filter((i) => i >= 0);
  let move = free[Math.floor(Math.random() * free.length)];
  if (DIFFICULTY === 'hard') move = minimax(board.slice(), 'O').move;
  else if (DIFFICULTY === 'normal') {
    const win = completing('O');
    const block = completing('X');
    if (win >= 0) move = win;
    else if (block >= 0) move = block;
    else if (!board[4]) move = 4;
  }
  place(move, 'O');
}

onKey((k) => {
  const c = cursor % 3;
  const r = Math.floor(cursor / 3);
  if (k === 'arrowleft' || k === 'a') cursor = r * 3 + ((c + 2) % 3);
  else if (k === 'arrowright' || k === 'd') cursor = r * 3 + ((c + 1) % 3);
  else if (k === 'arrowup' || k === 'w') cursor = ((r + 2) % 3) * 3 + c;
  else if (k === 'arrowdown' || k === 's') cursor = ((r + 1) % 3) * 3 + c;
  else if ((k === 'space' || k === 'enter') && turnOf === 'X') place(cursor, 'X');
});
onPointerDown((p) => {
  const c = Math.floor((p.x - BX) / CELL);
  const r = Math.floor((p.y - BY) / CELL);
  if (c < 0 || c > 2 || r < 0 || r > 2) return;
  cursor = r * 3 + c;
  if (turnOf === 'X') place(cursor, 'X');
});

function update(dt) {
  if (roundOver > 0) {
    roundOver -= dt;
    if (roundOver <= 0) {
      round += 1;
      newRound();
    }
    return;
  }
  if (turnOf === 'O') {
    thinkIn -= dt;
    if (thinkIn <= 0) cpuMove();
  }
}

function drawMark(i, mark) {
  const cx = BX + (i % 3) * CELL + CELL / 2;
  const cy = BY + Math.floor(i / 3) * CELL + CELL / 2;
  const s = CELL * 0.3;
  ctx.lineWidth = CELL * 0.1;
  ctx.lineCap = 'round';
  if (mark === 'X') {
    glow(COLORS.primary);
    ctx.strokeStyle = COLORS.primary;
    ctx.beginPath();
    ctx.moveTo(cx - s, cy - s);
    ctx.lineTo(cx + s, cy + s);
    ctx.moveTo(cx + s, cy - s);
    ctx.lineTo(cx - s, cy + s);
    ctx.stroke();
  } else {
    glow(COLORS.accent);
    ctx.strokeStyle = COLORS.accent;
    circle(cx, cy, s);
    ctx.stroke();
  }
  noGlow();
}

function render() {
  drawBackground();
  ctx.strokeStyle = COLORS.secondary;
  ctx.lineWidth = 6;
  ctx.lineCap = 'round';
  ctx.beginPath();
  for (let i = 1; i < 3; i++) {
    ctx.moveTo(BX + i * CELL, BY + 8);
    ctx.lineTo(BX + i * CELL, BY + BOARD - 8);
    ctx.moveTo(BX + 8, BY + i * CELL);
    ctx.lineTo(BX + BOARD - 8, BY + i * CELL);
  }
  ctx.stroke();
  board.forEach((mark, i) => mark && drawMark(i, mark));
  if (winLine) {
    const a = winLine[0];
    const b = winLine[2];
    ctx.strokeStyle = COLORS.text;
    ctx.lineWidth = 8;
    ctx.beginPath();
    ctx.moveTo(BX + (a % 3) * CELL + CELL / 2, BY + Math.floor(a / 3) * CELL + CELL / 2);
    ctx.lineTo(BX + (b % 3) * CELL + CELL / 2, BY + Math.floor(b / 3) * CELL + CELL / 2);
    ctx.stroke();
  }
  if (state === 'playing' && turnOf === 'X' && roundOver <= 0) {
    ctx.strokeStyle = COLORS.primary;
    ctx.globalAlpha = 0.5;
    ctx.lineWidth = 4;
    roundRect(BX + (cursor % 3) * CELL + 6, BY + Math.floor(cursor / 3) * CELL + 6, CELL - 12, CELL - 12, 10);
    ctx.stroke();
    ctx.globalAlpha = 1;
  }
  centerText(message, W / 2, BY + BOARD + 30, 18, COLORS.text, true);
  centerText(
    t('you') + ' ' + playerWins + '   ' + t('cpu') + ' ' + cpuWins + '   ' + t('draws') + ' ' + draws,
    W / 2,
    HUD_H + 30,
    16,
    COLORS.text,
  );
  drawHud(t('round') + ' ' + Math.min(round, ROUNDS) + '/' + ROUNDS, scoreText(), HUD_H);
  drawStateOverlay();
}

expose({ probe: () => ({ cursor, marks: board.join(',') }) });
startLoop(update, render);
