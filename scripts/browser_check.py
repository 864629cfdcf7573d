#!/usr/bin/env python3
"""Play generated games in headless Chromium and report what really happened.

Drives Chromium through :mod:`enginev2d.browser` (the DevTools protocol on
``--remote-debugging-pipe``): uncaught exceptions, ``console.error`` calls and failed
resource loads are collected per page; real key presses (``Input.dispatchKeyEvent``),
touches (``Input.dispatchTouchEvent``) and clicks are sent; the screenshot is a PNG.

:data:`CHECKS` says, for every template of the library, how to play it: which keys and
touches must change its state, how to score, how to reach game over. :func:`check_game`
runs them all on one page: start, keys, touch, score, game over, restart by key, game
over again, restart by touch, and no console error throughout.

As a command::

    python scripts/browser_check.py "make me a neon snake game" \
        --screenshot docs/screenshot-snake.png
    python scripts/browser_check.py --all        # every template, one browser

writes the game(s) (files and sprites) to a temporary directory, serves it on
127.0.0.1, plays and prints a JSON report (exit status 1 on any failure).
The integration test imports this file for the same machinery.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The DevTools machinery lives in the package (enginev2d.browser); re-exported here for
# the command below and the tests that load this file. _KEYS is the key table press()
# uses: hold() below sends the same key events, down and up apart.
from enginev2d.browser import (  # noqa: F401
    _KEYS,
    CHROMIUM_CANDIDATES,
    FRAME_COUNTER_JS,
    Chromium,
    DevToolsError,
    Page,
    find_chromium,
    serve_directory,
)

# ---- generating -----------------------------------------------------------------------


def write_game(message: str, dest: Path) -> dict[str, Any]:
    """Run plan -> codegen -> images with the offline provider and write the result."""
    from enginev2d.providers.offline import OfflineProvider

    provider = OfflineProvider()
    plan = provider.plan(message, "edit", {})
    out = provider.codegen(message, plan, {})
    plan["summary"] = out["summary"]
    for f in out["files"]:
        target = dest / f["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f["content"], encoding="utf-8")
    for name, data in provider.images(plan, provider.image_specs(plan)):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return plan


# ---- real input beyond press() and click(): held keys and touches ---------------------


def _key(name: str) -> dict[str, Any]:
    key, code, vk = _KEYS.get(name, (name, f"Key{name.upper()}", ord(name.upper()[0])))
    return {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}


def hold(page: Page, name: str, frames: int) -> None:
    """Key down, ``frames`` animation frames, key up: a key held by a player."""
    base = _key(name)
    page.browser.send("Input.dispatchKeyEvent", {**base, "type": "keyDown"}, session=page.session)
    try:
        page.wait_frames(frames)
    finally:
        page.browser.send("Input.dispatchKeyEvent", {**base, "type": "keyUp"}, session=page.session)


def page_point(page: Page, x: float, y: float) -> tuple[float, float]:
    """Where canvas pixel (x, y) of the game is on the page."""
    px, py = page.evaluate(
        "(() => { const r = canvas.getBoundingClientRect();"
        f" return [r.left + ({x}) * r.width / W, r.top + ({y}) * r.height / H]; }})()"
    )
    return float(px), float(py)


def touch(page: Page, kind: str, points: list[tuple[float, float]]) -> None:
    page.browser.send(
        "Input.dispatchTouchEvent",
        {"type": kind, "touchPoints": [{"x": x, "y": y} for x, y in points]},
        session=page.session,
    )


def tap(page: Page, x: float, y: float) -> None:
    """A real touch at canvas pixel (x, y)."""
    px, py = page_point(page, x, y)
    touch(page, "touchStart", [(px, py)])
    touch(page, "touchEnd", [])


def swipe(page: Page, x0: float, y0: float, x1: float, y1: float) -> None:
    (ax, ay), (bx, by) = page_point(page, x0, y0), page_point(page, x1, y1)
    touch(page, "touchStart", [(ax, ay)])
    for k in (1, 2, 3):
        touch(page, "touchMove", [(ax + (bx - ax) * k / 3, ay + (by - ay) * k / 3)])
    touch(page, "touchEnd", [])


def touch_hold(page: Page, x: float, y: float, frames: int) -> None:
    px, py = page_point(page, x, y)
    touch(page, "touchStart", [(px, py)])
    try:
        page.wait_frames(frames)
    finally:
        touch(page, "touchEnd", [])


# ---- screenshots ------------------------------------------------------------------------


@dataclass
class PixelStats:
    width: int
    height: int
    distinct_colors: int
    non_background_fraction: float  # share of pixels unlike the most common colour


def pixel_stats(png: bytes, step: int = 2) -> PixelStats:
    """Decode ``png`` (our own zlib decoder) and measure how much is drawn on it."""
    from enginev2d.providers.offline.png import decode_png

    width, height, channels, px = decode_png(png)
    counts: dict[bytes, int] = {}
    total = 0
    for y in range(0, height, step):
        row = y * width * channels
        for x in range(0, width, step):
            i = row + x * channels
            color = px[i : i + min(3, channels)]
            counts[color] = counts.get(color, 0) + 1
            total += 1
    background = max(counts.values()) if counts else 0
    return PixelStats(width, height, len(counts), (total - background) / max(1, total))


# ---- how each template is played ---------------------------------------------------------

# An action is a tuple: ("press", key), ("hold", key, frames), ("tap", x, y),
# ("swipe", x0, y0, x1, y1), ("touch_hold", x, y, frames) or ("eval", js). Coordinates are
# canvas pixels, numbers or JavaScript expressions evaluated in the game's page.
Action = tuple[Any, ...]


@dataclass(frozen=True)
class GameCheck:
    request: str  # an English request that must choose this template
    request_ja: str  # a Japanese one
    keys: tuple[Action, ...]  # real key presses that must change window.enginev2d.probe()
    touch: tuple[Action, ...]  # real touches that must change it again
    score: tuple[Action, ...]  # a setup (and input) after which `goal` holds
    brink: str  # JavaScript that leads to game over
    goal: str = "score > 0"


CHECKS: dict[str, GameCheck] = {
    "snake": GameCheck(
        "make me a neon snake game",
        "ネオンのヘビゲームを作って",
        keys=(("press", "arrowup"),),
        touch=(("swipe", "W / 2", "H / 2", "W / 2 + 120", "H / 2"),),
        score=(
            (
                "eval",
                "snake = [{x: 5, y: 5}, {x: 4, y: 5}, {x: 3, y: 5}]; dir = {x: 1, y: 0};"
                " queue = []; food = {x: 6, y: 5};",
            ),
        ),
        brink="snake[0].x = COLS - 1; snake[0].y = 2; dir = {x: 1, y: 0}; queue = [];",
    ),
    "breakout": GameCheck(
        "a pastel breakout game",
        "ブロック崩しを作って",
        keys=(("press", "space"),),
        touch=(("tap", 60, 560),),
        score=(
            (
                "eval",
                "ball.stuck = false; ball.x = bricks[0].x + BRICK_W / 2;"
                " ball.y = bricks[0].y + 60; ball.vx = 0; ball.vy = -300;",
            ),
        ),
        brink="lives = 1; ball.stuck = false; ball.vy = 400; ball.y = H + 40;",
    ),
    "shooter": GameCheck(
        "a retro space shooter",
        "シューティングゲームを作って",
        keys=(("hold", "arrowleft", 10),),
        touch=(("touch_hold", 400, 600, 15),),
        score=(
            (
                "eval",
                "target = null;"
                " enemies.push({x: ship.x, baseX: ship.x, y: ship.y - 160,"
                " t: 0, speed: 0, hp: 1});",
            ),
        ),
        brink="lives = 1; ship.inv = 0; hurt();",
    ),
    "runner": GameCheck(
        "a fast endless runner",
        "ランナーゲームを作って",
        keys=(("press", "space"),),
        touch=(("tap", "W / 2", "H / 2"),),
        score=(),
        brink="obstacles.push({x: HERO_X, w: 40, h: 60}); hero.y = GROUND - HERO_H;",
    ),
    "clicker": GameCheck(
        "a cookie clicker",
        "クリッカーゲームを作って",
        keys=(("press", "space"),),
        touch=(("tap", "ORB.x", "ORB.y"),),
        score=(("press", "space"),),
        brink="timeLeft = 0.05;",
    ),
    "platformer": GameCheck(
        "a platformer with a cat",
        "ネコのジャンプアクションを作って",
        keys=(("hold", "arrowright", 10),),
        touch=(("tap", "player.x - camera + PW / 2", "player.y - 60"),),
        score=(
            ("eval", "coins.push({x: player.x + PW / 2, y: player.y + PH / 2, taken: false});"),
        ),
        brink="lives = 1; player.y = H + 100;",
    ),
    "pong": GameCheck(
        "a pong game",
        "ピンポンゲームを作って",
        keys=(("hold", "arrowup", 10),),
        touch=(("tap", 30, 330),),
        score=(
            (
                "eval",
                "ball.wait = 0; ball.x = W - 5; ball.y = H / 2; ball.vx = 600; ball.vy = 0;"
                " cpu.y = HUD_H + PADDLE_H / 2;",
            ),
        ),
        brink=(
            "cpuScore = WIN_POINTS - 1; ball.wait = 0; ball.x = 3; ball.y = H / 2;"
            " ball.vx = -600; ball.vy = 0; you.y = HUD_H + PADDLE_H / 2;"
        ),
    ),
    "flappy": GameCheck(
        "a flappy bird game",
        "フラッピーバードみたいなゲームを作って",
        keys=(("press", "space"),),
        touch=(("tap", "W / 2", "H / 2"),),
        score=(
            ("eval", "pipes.push({x: BIRD_X - BIRD_R - PIPE_W - 2, gapY: bird.y, scored: false});"),
        ),
        brink="bird.y = GROUND;",
    ),
    "blocks": GameCheck(
        "a tetris game",
        "テトリスを作って",
        keys=(("press", "arrowleft"),),
        touch=(("swipe", "BX + COLS * CELL / 2", "H / 2", "BX + 20", "H / 2"),),
        score=(("eval", "board[ROWS - 1] = Array(COLS).fill(1);"), ("press", "space")),
        brink="board.forEach((r) => r.fill(1)); spawnPiece();",
        goal="lines >= 1 && score > 0",
    ),
    "memory": GameCheck(
        "a memory card matching game",
        "神経衰弱を作って",
        keys=(("press", "arrowright"),),
        touch=(("tap", "cardRect(5).x + 10", "cardRect(5).y + 10"),),
        score=(
            ("eval", "for (const c of cards) c.up = false; open = []; hideIn = 0; cursor = 0;"),
            ("press", "space"),
            ("eval", "cursor = cards.findIndex((c, i) => i !== 0 && c.kind === cards[0].kind);"),
            ("press", "space"),
        ),
        brink="timeLeft = 0.05;",
        goal="pairs === 1 && score > 0",
    ),
    "maze": GameCheck(
        "a maze game",
        "迷路ゲームを作って",
        keys=(("press", "arrowright"), ("press", "arrowdown")),
        touch=(
            ("swipe", "W / 2", "H / 2", "W / 2 + 100", "H / 2"),
            ("swipe", "W / 2", "H / 2", "W / 2", "H / 2 + 100"),
            ("swipe", "W / 2", "H / 2", "W / 2 - 100", "H / 2"),
            ("swipe", "W / 2", "H / 2", "W / 2", "H / 2 - 100"),
        ),
        score=(
            (
                "eval",
                "player.x = 0; player.y = 0; gems.push({x: 1, y: 0, taken: false},"
                " {x: 0, y: 1, taken: false});",
            ),
            ("press", "arrowright"),
            ("press", "arrowdown"),
        ),
        brink="timeLeft = 0.05;",
    ),
    "racing": GameCheck(
        "a top-down racing game",
        "レースゲームを作って",
        keys=(("hold", "arrowleft", 10),),
        touch=(("touch_hold", 360, 520, 15),),
        score=(),
        brink="lives = 1; car.inv = 0; crash();",
    ),
    "tictactoe": GameCheck(
        "tic-tac-toe",
        "三目並べを作って",
        keys=(("press", "arrowright"),),
        touch=(("tap", "BX + CELL / 2", "BY + CELL / 2"),),
        score=(
            (
                "eval",
                "board = ['X', 'X', '', 'O', 'O', '', '', '', '']; turnOf = 'X';"
                " roundOver = 0; cursor = 2;",
            ),
            ("press", "space"),
        ),
        brink="round = ROUNDS; finishRound('O');",
    ),
    "catcher": GameCheck(
        "a cat catches fish",
        "猫が魚をキャッチするゲームを作って",
        keys=(("hold", "arrowleft", 10),),
        touch=(("tap", 420, 500),),
        score=(("eval", "items.push({x: catcher.x, y: catcher.y - 30, vy: 60, bad: false});"),),
        brink="lives = 1; items.push({x: catcher.x, y: catcher.y - 20, vy: 60, bad: true});",
    ),
}


# ---- one game, end to end -------------------------------------------------------------


@dataclass
class GameReport:
    template_id: str
    url: str
    errors: list[str] = field(default_factory=list)
    frames: int = 0
    states: list[str] = field(default_factory=list)
    loaded_sprites: list[str] = field(default_factory=list)
    steps: dict[str, bool] = field(default_factory=dict)  # check name -> passed
    failures: list[str] = field(default_factory=list)
    lang: str = ""
    title: str = ""
    screenshot: bytes = b""

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failures and all(self.steps.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "template_id": self.template_id,
            "url": self.url,
            "errors": self.errors,
            "frames": self.frames,
            "states": self.states,
            "loaded_sprites": self.loaded_sprites,
            "steps": self.steps,
            "failures": self.failures,
            "lang": self.lang,
            "title": self.title,
        }


def _coord(page: Page, value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float(page.evaluate(str(value)))


def run_action(page: Page, action: Action) -> None:
    kind, *args = action
    if kind == "press":
        page.press(args[0])
        page.wait_frames(2)
    elif kind == "hold":
        hold(page, args[0], int(args[1]))
    elif kind == "eval":
        page.evaluate(f"(() => {{ {args[0]} }})()")
    elif kind == "tap":
        tap(page, _coord(page, args[0]), _coord(page, args[1]))
        page.wait_frames(2)
    elif kind == "swipe":
        swipe(page, *(_coord(page, a) for a in args))
        page.wait_frames(2)
    elif kind == "touch_hold":
        touch_hold(page, _coord(page, args[0]), _coord(page, args[1]), int(args[2]))
    else:
        raise ValueError(f"unknown action {kind!r}")


_PROBE = "JSON.stringify(window.enginev2d.probe(), Object.keys(window.enginev2d.probe()).sort())"


def _changed(page: Page, actions: tuple[Action, ...]) -> None:
    """Run ``actions``; the game's probe (input-driven state only) must change."""
    before = page.evaluate(_PROBE)
    for action in actions:
        run_action(page, action)
    page.wait_for(f"{_PROBE} !== {json.dumps(before)}", timeout=3)


def _step(report: GameReport, name: str, page: Page, fn: Any) -> None:
    """Run one check; a timeout or failure is recorded, and later steps still run."""
    try:
        fn()
        report.steps[name] = True
    except (DevToolsError, AssertionError) as exc:
        report.steps[name] = False
        report.failures.append(f"{name}: {exc}")


def _state(page: Page) -> str:
    return str(page.evaluate("window.enginev2d.state()"))


def check_game(browser: Chromium, url: str, template_id: str, check: GameCheck) -> GameReport:
    """Every check of one game on one page (see the module docstring)."""
    report = GameReport(template_id, url)
    with browser.page(url) as page:
        page.wait_for("window.enginev2d && window.__frames > 5")
        report.lang = page.evaluate("document.documentElement.lang")
        report.title = page.evaluate("document.title")
        report.states.append(_state(page))

        def start() -> None:
            page.press("space")
            page.wait_for("window.enginev2d.state() === 'playing'", timeout=3)

        def over(debounce: bool) -> None:
            page.evaluate(f"(() => {{ {check.brink} }})()")
            page.wait_for("window.enginev2d.state() === 'over'", timeout=5)
            if debounce:  # a key right at game over must not restart at once
                page.press("space")
                assert _state(page) == "over", "restarted within RESTART_MS of game over"
            page.evaluate("overAt -= RESTART_MS + 1")  # skip the wait itself

        def restart(by_touch: bool) -> None:
            games = int(page.evaluate("window.enginev2d.games()"))
            if by_touch:
                tap(page, _coord(page, "W / 2"), _coord(page, "H / 2"))
            else:
                page.press("space")
            page.wait_for(
                "window.enginev2d.state() === 'playing'"
                f" && window.enginev2d.games() === {games + 1}",
                timeout=3,
            )

        _step(report, "start", page, start)
        report.states.append(_state(page))
        _step(report, "keys", page, lambda: _changed(page, check.keys))
        _step(report, "touch", page, lambda: _changed(page, check.touch))

        def score() -> None:
            for action in check.score:
                run_action(page, action)
            page.wait_for(check.goal, timeout=5)

        _step(report, "score", page, score)
        _step(report, "over", page, lambda: over(True))
        report.states.append(_state(page))
        _step(report, "restart_key", page, lambda: restart(False))
        _step(report, "over_again", page, lambda: over(False))
        _step(report, "restart_touch", page, lambda: restart(True))
        report.states.append(_state(page))
        page.wait_for("window.enginev2d.loadedSprites().length >= 0")
        report.loaded_sprites = list(page.evaluate("window.enginev2d.loadedSprites()"))
        report.frames = page.frames()
        report.screenshot = page.screenshot()
        report.errors = page.errors()
    return report


def play(browser: Chromium, url: str, template_id: str, expected_sprites: int) -> GameReport:
    """Load the game, wait for its sprites and frames, start it, play a little, screenshot."""
    report = GameReport(template_id, url)
    with browser.page(url) as page:
        page.wait_for("window.enginev2d && window.__frames > 5")
        page.wait_for(f"window.enginev2d.loadedSprites().length >= {expected_sprites}", timeout=5)
        report.states.append(_state(page))
        page.press("space")  # start
        page.wait_frames(3)
        report.states.append(_state(page))
        for key in ("arrowup", "arrowleft", "arrowdown", "space"):
            page.press(key)
            page.wait_frames(4)
        page.wait_frames(20)
        report.states.append(_state(page))
        report.loaded_sprites = list(page.evaluate("window.enginev2d.loadedSprites()"))
        report.frames = page.frames()
        report.screenshot = page.screenshot()
        report.errors = page.errors()
    return report


def check_all(root: Path, templates: list[str] | None = None) -> dict[str, GameReport]:
    """Write every template's game under ``root``, serve it and check each in one browser."""
    exe = find_chromium()
    if exe is None:
        raise RuntimeError("chromium not found (apt-get install chromium)")
    reports = {}
    for tid in templates or sorted(CHECKS):
        write_game(CHECKS[tid].request, root / tid)
    with serve_directory(root) as url, Chromium(exe) as browser:
        for tid in templates or sorted(CHECKS):
            reports[tid] = check_game(browser, f"{url}{tid}/index.html", tid, CHECKS[tid])
    return reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("message", nargs="?", help='the request, e.g. "make me a neon snake game"')
    ap.add_argument("--all", action="store_true", help="check every template of the library")
    ap.add_argument("--screenshot", type=Path, help="write the screenshot PNG here")
    ap.add_argument("--keep", type=Path, help="write the game(s) here instead of a temp dir")
    args = ap.parse_args(argv)
    if not args.message and not args.all:
        ap.error("give a request or --all")
    exe = find_chromium()
    if exe is None:
        print("chromium not found (apt-get install chromium)", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        if args.keep:
            game_dir = args.keep
            game_dir.mkdir(parents=True, exist_ok=True)
        else:
            game_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="enginev2d-game-"))
            )
        if args.all:
            reports = check_all(game_dir)
            print(json.dumps({t: r.to_json() for t, r in reports.items()}, indent=2))
            return 0 if all(r.ok for r in reports.values()) else 1
        plan = write_game(args.message, game_dir)
        url = stack.enter_context(serve_directory(game_dir))
        browser = stack.enter_context(Chromium(exe))
        tid = plan["template_id"]
        if tid in CHECKS:
            report = check_game(browser, url + "index.html", tid, CHECKS[tid])
        else:
            report = play(browser, url + "index.html", tid, plan["image_count"])
    if args.screenshot:
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        args.screenshot.write_bytes(report.screenshot)
    stats = pixel_stats(report.screenshot)
    print(
        json.dumps(
            {
                **report.to_json(),
                "summary": plan.get("summary"),
                "distinct_colors": stats.distinct_colors,
                "non_background": round(stats.non_background_fraction, 3),
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
