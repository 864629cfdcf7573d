"""Every template of the library really plays in headless Chromium, with no console error.

All games run in one browser session (``scripts/browser_check.py``): each is written to a
temporary directory with its sprites, served on 127.0.0.1 and played with real key
presses (``Input.dispatchKeyEvent``) and real touches (``Input.dispatchTouchEvent``):
it starts, keys change its state, touches change it again, it scores, reaches game over,
restarts by key and (after a second game over) by touch, and no exception, console error
or failed load happens. Templates alternate between an English and a Japanese request, so
both languages are played. The checker itself is tested against games with faults.
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

from enginev2d.templates import catalogue

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


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
TEMPLATES = sorted(bc.CHECKS)
LANG = {tid: ("ja" if i % 2 else "en") for i, tid in enumerate(TEMPLATES)}


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
    for tid in TEMPLATES:
        check = bc.CHECKS[tid]
        plan = bc.write_game(check.request_ja if LANG[tid] == "ja" else check.request, root / tid)
        assert (plan["template_id"], plan["language"]) == (tid, LANG[tid])
    with bc.serve_directory(root) as url:
        yield root, url


@pytest.fixture(scope="module")
def reports(browser: object, site: tuple[Path, str]) -> dict[str, object]:
    """Every game checked once, in one browser session."""
    _, url = site
    return {
        tid: bc.check_game(browser, f"{url}{tid}/index.html", tid, bc.CHECKS[tid])
        for tid in TEMPLATES
    }


def _wait_for_errors(page: object, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while not (errors := page.errors()):
        if time.monotonic() > deadline:
            return []
        time.sleep(0.02)
    return errors


def test_every_template_has_a_browser_check() -> None:
    assert set(bc.CHECKS) == set(catalogue())
    assert len(TEMPLATES) >= 13


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_game_plays_in_the_browser(reports: dict[str, object], template_id: str) -> None:
    report = reports[template_id]
    assert report.errors == []
    assert report.failures == []
    assert report.steps == {
        "start": True,
        "keys": True,
        "touch": True,
        "score": True,
        "over": True,
        "restart_key": True,
        "over_again": True,
        "restart_touch": True,
    }
    assert report.states == ["ready", "playing", "over", "playing"]
    assert report.frames >= 10  # the requestAnimationFrame loop kept running
    assert report.lang == LANG[template_id]
    assert catalogue()[template_id].title[LANG[template_id]] in report.title
    roles = sorted(s.role for s in catalogue()[template_id].sprites)
    assert sorted(report.loaded_sprites) == roles  # every sprite image loaded and is used
    stats = bc.pixel_stats(report.screenshot)
    assert stats.distinct_colors > 20
    assert stats.non_background_fraction > 0.01  # a blank page is 1 colour, 0.0


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
    shutil.copytree(root / "runner", bad)
    (bad / "game.js").write_text("const broken = (1 + ;\n")
    with browser.page(f"{url}syntax/index.html") as page:
        errors = _wait_for_errors(page)
    assert errors and "SyntaxError" in errors[0]


def test_checker_fails_a_game_that_ignores_a_step(browser: object, site: tuple[Path, str]) -> None:
    """A game whose keys do nothing is reported, not passed."""
    root, url = site
    deaf = root / "pong-deaf"
    shutil.copytree(root / "pong", deaf)
    game = deaf / "game.js"
    game.write_text(game.read_text().replace("if (isHeld('arrowup', 'w')) move -= 1;", ""))
    report = bc.check_game(browser, f"{url}pong-deaf/index.html", "pong", bc.CHECKS["pong"])
    assert report.steps["keys"] is False and not report.ok, str(report.to_json())
    assert report.steps["touch"] is True


def test_game_still_plays_when_every_sprite_fails(browser: object, site: tuple[Path, str]) -> None:
    """Missing images: the browser logs the 404s, and the game draws fallback shapes."""
    root, url = site
    bare = root / "no-assets"
    shutil.copytree(root / "shooter", bare)
    shutil.rmtree(bare / "assets")
    report = bc.play(browser, f"{url}no-assets/index.html", "shooter", 0)
    assert report.states[:2] == ["ready", "playing"]
    assert report.loaded_sprites == []
    assert report.errors and all("404" in e for e in report.errors)
    assert len(report.errors) == len(catalogue()["shooter"].sprites)
    assert bc.pixel_stats(report.screenshot).distinct_colors > 20
