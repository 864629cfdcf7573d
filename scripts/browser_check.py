#!/usr/bin/env python3
"""Load generated games in headless Chromium and report what really happened.

Drives Chromium through :mod:`enginev2d.browser` (the DevTools protocol on
``--remote-debugging-pipe``): uncaught exceptions, ``console.error`` calls and failed
resource loads are collected per page; real key and mouse input is sent; the
screenshot is a PNG.

As a command::

    python scripts/browser_check.py "make me a neon snake game" \
        --screenshot docs/screenshot-snake.png

writes the game (files and sprites) to a temporary directory, serves it on
127.0.0.1, plays a few seconds and prints a JSON report (exit status 1 on errors).
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
# the command below and the tests that load this file.
from enginev2d.browser import (  # noqa: F401
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
    for f in out["files"]:
        target = dest / f["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f["content"], encoding="utf-8")
    for name, data in provider.images(plan, provider.image_specs(plan)):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return plan


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


# ---- one game, end to end -------------------------------------------------------------


@dataclass
class GameReport:
    template_id: str
    url: str
    errors: list[str] = field(default_factory=list)
    frames: int = 0
    states: list[str] = field(default_factory=list)
    loaded_sprites: list[str] = field(default_factory=list)
    screenshot: bytes = b""

    def to_json(self) -> dict[str, Any]:
        return {
            "template_id": self.template_id,
            "url": self.url,
            "errors": self.errors,
            "frames": self.frames,
            "states": self.states,
            "loaded_sprites": self.loaded_sprites,
        }


def play(browser: Chromium, url: str, template_id: str, expected_sprites: int) -> GameReport:
    """Load the game, wait for its sprites and frames, start it, play a little, screenshot."""
    report = GameReport(template_id, url)
    with browser.page(url) as page:
        page.wait_for("window.enginev2d && window.__frames > 5")
        page.wait_for(f"window.enginev2d.loadedSprites().length >= {expected_sprites}", timeout=5)
        report.states.append(page.evaluate("window.enginev2d.state()"))
        page.press("space")  # start
        page.wait_frames(3)
        report.states.append(page.evaluate("window.enginev2d.state()"))
        for key in ("arrowup", "arrowleft", "arrowdown", "space"):
            page.press(key)
            page.wait_frames(4)
        page.click(browser.width / 2, browser.height / 2)
        page.wait_frames(20)
        report.states.append(page.evaluate("window.enginev2d.state()"))
        report.loaded_sprites = list(page.evaluate("window.enginev2d.loadedSprites()"))
        report.frames = page.frames()
        report.screenshot = page.screenshot()
        report.errors = page.errors()
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("message", help='the request, e.g. "make me a neon snake game"')
    ap.add_argument("--screenshot", type=Path, help="write the screenshot PNG here")
    ap.add_argument("--keep", type=Path, help="write the game here instead of a temp dir")
    args = ap.parse_args(argv)
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
        plan = write_game(args.message, game_dir)
        url = stack.enter_context(serve_directory(game_dir))
        browser = stack.enter_context(Chromium(exe))
        report = play(browser, url + "index.html", plan["template_id"], plan["image_count"])
    if args.screenshot:
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        args.screenshot.write_bytes(report.screenshot)
    stats = pixel_stats(report.screenshot)
    print(
        json.dumps(
            {
                **report.to_json(),
                "distinct_colors": stats.distinct_colors,
                "non_background": round(stats.non_background_fraction, 3),
            },
            indent=2,
        )
    )
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
