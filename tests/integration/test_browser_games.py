"""Every offline template really plays in headless Chromium, with no JavaScript errors.

The games are written to a temporary directory with their sprites, served on
127.0.0.1 and driven over the DevTools protocol (``scripts/browser_check.py``):
real key presses and clicks, uncaught exceptions / console errors / failed loads
collected from the browser, and the screenshot decoded to prove pixels were drawn.
The checker itself is tested against games with injected faults.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from enginev2d.providers.offline import TEMPLATE_IDS
from enginev2d.providers.offline.catalog import TEMPLATES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = {
    "snake": "make me a neon snake game",
    "breakout": "a pastel breakout game",
    "shooter": "a retro space shooter",
    "runner": "a fast runner platformer",
    "clicker": "a cookie clicker",
}


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "browser_check", ROOT / "scripts/browser_check.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


bc = _load_checker()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    exe = bc.find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (scripts/ensure-system-deps.sh installs it)")
    with bc.Chromium(exe) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One directory per game under a served root; yields (root, base URL)."""
    root = tmp_path_factory.mktemp("games")
    for template_id, message in REQUESTS.items():
        plan = bc.write_game(message, root / template_id)
        assert plan["template_id"] == template_id
    with bc.serve_directory(root) as url:
        yield root, url


def _wait_for_errors(page: object, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while not (errors := page.errors()):
        if time.monotonic() > deadline:
            return []
        time.sleep(0.02)
    return errors


def test_every_template_is_covered() -> None:
    assert set(REQUESTS) == set(TEMPLATE_IDS)


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_game_plays_without_errors(
    browser: object, site: tuple[Path, str], template_id: str
) -> None:
    _, url = site
    roles = sorted(s.role for s in TEMPLATES[template_id].sprites)
    report = bc.play(browser, f"{url}{template_id}/index.html", template_id, len(roles))
    assert report.errors == []
    assert report.states[:2] == ["ready", "playing"]  # Space started the game
    assert report.frames >= 30  # the requestAnimationFrame loop kept running
    assert sorted(report.loaded_sprites) == roles  # every sprite image loaded and is used
    stats = bc.pixel_stats(report.screenshot)
    assert (stats.width, stats.height) == (browser.width, browser.height)
    assert stats.distinct_colors > 50
    assert stats.non_background_fraction > 0.01  # a blank page is 1 colour, 0.0


# Moves each game to the brink of losing through its own globals (top-level
# let/const of a classic script are visible to Runtime.evaluate).
BRINK = {
    "snake": "snake[0].x = COLS - 1; snake[0].y = 2; dir = {x: 1, y: 0}; queue = [];",
    "breakout": "lives = 1; ball.stuck = false; ball.vy = 400; ball.y = H + 40;",
    "shooter": "lives = 1; ship.inv = 0; hurt();",
    "runner": "obstacles.push({x: HERO_X, w: 40, h: 60}); hero.y = GROUND - HERO_H;",
    "clicker": "timeLeft = 0.05;",
}


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_game_over_then_restart_by_click(
    browser: object, site: tuple[Path, str], template_id: str
) -> None:
    _, url = site
    with browser.page(f"{url}{template_id}/index.html") as page:
        page.wait_for("window.enginev2d && window.__frames > 2")
        page.press("space")
        page.wait_for("window.enginev2d.state() === 'playing'")
        page.evaluate(BRINK[template_id])
        page.wait_for("window.enginev2d.state() === 'over'", timeout=5)
        page.wait_for("performance.now() - overAt > 700")  # restart is debounced
        page.click(browser.width / 2, browser.height / 2)  # pointer path, as a tap
        page.wait_for("window.enginev2d.state() === 'playing'", timeout=5)
        assert page.evaluate("window.enginev2d.score()") == 0
        assert page.errors() == []


# (set-up through the game's globals, player action, goal that proves the game reacted)
PLAY = {
    "snake": (
        "food = {x: snake[0].x + 1, y: snake[0].y}; dir = {x: 1, y: 0}; queue = [];",
        "",
        "score > 0",
    ),
    "breakout": (
        "ball.stuck = false; ball.x = bricks[0].x + BRICK_W / 2; ball.y = bricks[0].y + 60;"
        " ball.vx = 0; ball.vy = -300;",
        "",
        "score > 0 && bricks.some((b) => !b.alive)",
    ),
    "shooter": (
        "enemies.push({x: ship.x, baseX: ship.x, y: ship.y - 160, t: 0, speed: 0, hp: 1});",
        "",
        "score > 0",
    ),
    "runner": ("", "jump", "hero.jumps > 0"),
    "clicker": ("", "click-orb", "earned >= 1 && points >= 1"),
}
ORB_ON_PAGE = """(() => {
  const r = canvas.getBoundingClientRect();
  return [r.left + (ORB.x * r.width) / W, r.top + (ORB.y * r.height) / H];
})()"""


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_game_responds_to_play(browser: object, site: tuple[Path, str], template_id: str) -> None:
    _, url = site
    setup, action, goal = PLAY[template_id]
    with browser.page(f"{url}{template_id}/index.html") as page:
        page.wait_for("window.enginev2d && window.__frames > 2")
        page.press("space")
        page.wait_for("window.enginev2d.state() === 'playing'")
        assert page.evaluate("window.enginev2d.score()") == 0
        if setup:
            page.evaluate(setup)
        if action == "jump":
            page.press("space")
        elif action == "click-orb":
            page.click(*page.evaluate(ORB_ON_PAGE))  # real pointer event, mapped to the canvas
        page.wait_for(goal, timeout=5)
        assert page.errors() == []


def test_checker_catches_a_runtime_exception(browser: object, site: tuple[Path, str]) -> None:
    root, url = site
    broken_dir = root / "snake-broken"
    shutil.copytree(root / "snake", broken_dir)
    game = broken_dir / "game.js"
    game.write_text(
        game.read_text().replace(
            "function step() {", "function step() {\n  notDefinedAnywhere();", 1
        )
    )
    with browser.page(f"{url}snake-broken/index.html") as page:
        page.wait_for("window.enginev2d && window.__frames > 2")
        assert page.errors() == []  # fine until the game starts stepping
        page.press("space")
        errors = _wait_for_errors(page)
    assert len(errors) == 1
    assert "notDefinedAnywhere is not defined" in errors[0]


def test_checker_catches_a_syntax_error(browser: object, site: tuple[Path, str]) -> None:
    root, url = site
    bad = root / "syntax"
    bad.mkdir()
    (bad / "index.html").write_text((root / "runner" / "index.html").read_text())
    (bad / "style.css").write_text("")
    (bad / "game.js").write_text("const broken = (1 + ;\n")
    with browser.page(f"{url}syntax/index.html") as page:
        errors = _wait_for_errors(page)
    assert errors and "SyntaxError" in errors[0]


def test_game_still_plays_when_every_sprite_fails(browser: object, site: tuple[Path, str]) -> None:
    """Missing images: the browser logs the 404s, and the game draws fallback shapes."""
    root, url = site
    bare = root / "no-assets"
    bare.mkdir()
    for name in ("index.html", "game.js", "style.css"):
        (bare / name).write_text((root / "shooter" / name).read_text())
    report = bc.play(browser, f"{url}no-assets/index.html", "shooter", 0)
    assert report.states[:2] == ["ready", "playing"]
    assert report.loaded_sprites == []
    assert report.errors and all("404" in e for e in report.errors)
    assert len(report.errors) == len(TEMPLATES["shooter"].sprites)
    assert bc.pixel_stats(report.screenshot).distinct_colors > 20
