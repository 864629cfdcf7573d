"""Headless Chromium over the DevTools protocol: load a page, observe what happened.

Talks to Chromium over ``--remote-debugging-pipe`` (no ports, no websocket library):
uncaught exceptions (``Runtime.exceptionThrown``), ``console.error`` calls and failed
resource loads (``Log.entryAdded``) are collected per page; real key and mouse input can
be sent; a screenshot is a PNG. Used by ``enginev2d shadow-report`` (does each shadow
game load without an error?), ``scripts/browser_check.py`` and the browser tests.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .affinity import unpinned

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
        with unpinned():  # Chromium gets every CPU the daemon had, not its pin
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

    @property
    def pid(self) -> int:
        return self._proc.pid

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

    def settle(self, frames: int = 2, timeout: float = 2.0) -> bool:
        """Let the page render ``frames`` animation frames (its own loop runs meanwhile);
        False when they did not come within ``timeout`` (never hangs)."""
        ms = int(timeout * 1000)
        expression = (
            (
                "new Promise(r => { let n = 0; const tick = () => (++n >= FRAMES ? r(true)"
                " : requestAnimationFrame(tick)); requestAnimationFrame(tick);"
                " setTimeout(() => r(false), MS); })"
            )
            .replace("FRAMES", str(int(frames)))
            .replace("MS", str(ms))
        )
        result = self.browser.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session=self.session,
            timeout=timeout + 5.0,
        )
        return bool(result.get("result", {}).get("value"))

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
