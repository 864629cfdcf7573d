#!/usr/bin/env python3
"""Load generated games in headless Chromium and report what really happened.

Talks to Chromium over the DevTools protocol on ``--remote-debugging-pipe`` (no
ports, no websocket library): uncaught exceptions (``Runtime.exceptionThrown``),
``console.error`` calls and failed resource loads (``Log.entryAdded``) are
collected per page; real key and mouse input is sent; the screenshot is a PNG.

As a command::

    python scripts/browser_check.py "make me a neon snake game" \
        --screenshot docs/screenshot-snake.png

writes the game (files and sprites) to a temporary directory, serves it on
127.0.0.1, plays a few seconds and prints a JSON report (exit status 1 on errors).
The integration test imports this file for the same machinery.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


# ---- serving ------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="game-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


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


# ---- DevTools protocol over a pipe ----------------------------------------------------


class DevToolsError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium driven through ``--remote-debugging-pipe`` (fds 3 and 4)."""

    def __init__(self, executable: str, *, width: int = 800, height: int = 600) -> None:
        self.width = width
        self.height = height
        self._profile = tempfile.mkdtemp(prefix="enginev2d-chromium-")
        cmd_r, self._cmd_w = os.pipe()  # we write commands, Chromium reads fd 3
        self._res_r, res_w = os.pipe()  # Chromium writes replies on fd 4

        def to_fds_3_4() -> None:  # runs in the child before exec
            a, b = os.dup(cmd_r), os.dup(res_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--no-first-run",
            "--no-default-browser-check",
            "--no-proxy-server",
            "--mute-audio",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--user-data-dir={self._profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=to_fds_3_4,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()

    # -- transport
    def _read_loop(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._res_r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self._events.append(msg)
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            msg_id = self._next_id
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    why = "exited" if self._closed else "timed out"
                    raise DevToolsError(f"no reply to {method} (browser {why})")
                self._cond.wait(left)
            reply = self._replies.pop(msg_id)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def events(self, session: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self._events if e.get("sessionId") == session]

    def wait_event(self, session: str, method: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self._events:
                    if e.get("sessionId") == session and e.get("method") == method:
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise DevToolsError(f"no {method} event within {timeout}s")
                self._cond.wait(left)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._cmd_w)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._reader.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._res_r)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pages
    @contextlib.contextmanager
    def page(self, url: str, *, load_timeout: float = 15.0) -> Iterator[Page]:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        try:
            for domain in ("Runtime.enable", "Page.enable", "Log.enable"):
                self.send(domain, session=session)
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": self.width,
                    "height": self.height,
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
                session=session,
            )
            self.send(
                "Page.addScriptToEvaluateOnNewDocument",
                {"source": FRAME_COUNTER_JS},
                session=session,
            )
            self.send("Page.navigate", {"url": url}, session=session)
            self.wait_event(session, "Page.loadEventFired", load_timeout)
            yield Page(self, session)
        finally:
            with contextlib.suppress(DevToolsError):
                self.send("Target.closeTarget", {"targetId": target})


# Counts animation frames so "the game loop runs" is observed, not assumed.
FRAME_COUNTER_JS = """
window.__frames = 0;
(function () {
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = function (cb) {
    return raf(function (t) { window.__frames += 1; cb(t); });
  };
})();
"""

_KEYS = {
    "space": (" ", "Space", 32),
    "enter": ("Enter", "Enter", 13),
    "arrowleft": ("ArrowLeft", "ArrowLeft", 37),
    "arrowup": ("ArrowUp", "ArrowUp", 38),
    "arrowright": ("ArrowRight", "ArrowRight", 39),
    "arrowdown": ("ArrowDown", "ArrowDown", 40),
}


@dataclass
class Page:
    browser: Chromium
    session: str

    def evaluate(self, expression: str) -> Any:
        result = self.browser.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True},
            session=self.session,
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"evaluate failed: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll ``expression`` until it is truthy; raise on timeout (no fixed sleeps)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise DevToolsError(f"timed out waiting for: {expression}")
            time.sleep(0.02)

    def frames(self) -> int:
        return int(self.evaluate("window.__frames || 0"))

    def wait_frames(self, n: int, timeout: float = 10.0) -> None:
        target = self.frames() + n
        self.wait_for(f"(window.__frames || 0) >= {target}", timeout)

    def press(self, name: str) -> None:
        key, code, vk = _KEYS.get(name, (name, f"Key{name.upper()}", ord(name.upper()[0])))
        base = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        down = {**base, "type": "keyDown"}
        if len(key) == 1:
            down["text"] = key
        self.browser.send("Input.dispatchKeyEvent", down, session=self.session)
        self.browser.send("Input.dispatchKeyEvent", {**base, "type": "keyUp"}, session=self.session)

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            params = {
                "type": kind,
                "x": x,
                "y": y,
                "button": "left" if kind != "mouseMoved" else "none",
            }
            if kind != "mouseMoved":
                params["clickCount"] = 1
            self.browser.send("Input.dispatchMouseEvent", params, session=self.session)

    def screenshot(self) -> bytes:
        data = self.browser.send(
            "Page.captureScreenshot",
            {"format": "png", "optimizeForSpeed": True},
            session=self.session,
        )["data"]
        return base64.b64decode(data)

    def errors(self) -> list[str]:
        """Uncaught exceptions, console.error calls and failed loads, in arrival order."""
        out = []
        for e in self.browser.events(self.session):
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                d = params.get("exceptionDetails", {})
                text = d.get("exception", {}).get("description") or d.get("text", "exception")
                out.append(f"exception: {text.splitlines()[0]} (line {d.get('lineNumber')})")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = [
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
                ]
                out.append("console.error: " + " ".join(args))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                out.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        return out


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
