"""v1 compatibility (design 14) and the fallback webhook against a real local server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from enginev2d.config import Config, load_config
from enginev2d.fallback import notify_fallback, to_v1_response, validate_output

GOOD = {
    "files": [{"path": "index.html", "content": "<html></html>"}],
    "images": [],
    "summary": "A game",
}


@pytest.mark.parametrize(
    "result",
    [
        GOOD,
        {**GOOD, "images": [{"name": "hero", "uri": "https://x/hero.png"}]},
        {k: v for k, v in GOOD.items() if k != "images"},
        {**GOOD, "files": [{"path": "js/a.js", "content": ""}, *GOOD["files"]]},
    ],
)
def test_validate_output_accepts(result):
    assert validate_output(result) is True


@pytest.mark.parametrize(
    "result",
    [
        None,
        {},
        [],
        "index.html",
        {**GOOD, "files": []},
        {**GOOD, "files": None},
        {**GOOD, "files": [{"path": "main.html", "content": "x"}]},
        {**GOOD, "files": [{"path": "index.html"}]},
        {**GOOD, "files": [{"path": "index.html", "content": None}]},
        {**GOOD, "files": ["index.html"]},
        {**GOOD, "files": {"path": "index.html", "content": "x"}},
        {**GOOD, "summary": ""},
        {**GOOD, "summary": "   "},
        {**GOOD, "summary": None},
        {k: v for k, v in GOOD.items() if k != "summary"},
        {**GOOD, "images": [{"name": "x"}]},
        {**GOOD, "images": "hero.png"},
    ],
)
def test_validate_output_rejects(result):
    assert validate_output(result) is False


def test_to_v1_response_exact_shape():
    v2 = {
        "summary": "Neon snake",
        "artifacts": [
            {"kind": "plan", "content": {"dimension": "2d"}},
            {"kind": "code", "content": {"path": "index.html", "content": "<html>"}},
            {"kind": "code", "uri": "js/game.js", "content": "let a;", "metadata": {}},
            {"kind": "code", "metadata": {"path": "css/a.css"}, "content": "a{}"},
            {"kind": "code", "content": {"path": "broken.js"}},  # dropped
            {"kind": "image", "content": {"name": "hero", "uri": "https://cdn/hero.png"}},
            {"kind": "image", "uri": "https://cdn/bg.png", "metadata": {"name": "bg"}},
            {"kind": "shadow_result", "content": {}},
        ],
    }
    out = to_v1_response(v2)
    assert out == {
        "type": "completed",
        "files": [
            {"path": "index.html", "content": "<html>"},
            {"path": "js/game.js", "content": "let a;"},
            {"path": "css/a.css", "content": "a{}"},
        ],
        "images": [
            {"name": "hero", "uri": "https://cdn/hero.png"},
            {"name": "bg", "uri": "https://cdn/bg.png"},
        ],
        "summary": "Neon snake",
    }
    assert list(out) == ["type", "files", "images", "summary"]
    assert validate_output(out)
    assert to_v1_response({}) == {"type": "completed", "files": [], "images": [], "summary": None}


# --------------------------------------------------------------------------- webhook


class Hook:
    """A local HTTP server that answers with the scripted status codes in order."""

    def __init__(self, statuses: list[int], *, hold: threading.Event | None = None) -> None:
        self.statuses = list(statuses)
        self.hold = hold
        self.requests: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        self.done = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append(
                    {"body": json.loads(body), "ctype": self.headers["Content-Type"]}
                )
                hook.arrived.set()
                if hook.hold is not None:
                    hook.hold.wait(10)
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if status < 300:
                    hook.done.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2-fallback"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_factory() -> Iterator[Any]:
    hooks: list[Hook] = []

    def make(statuses: list[int], **kw: Any) -> Hook:
        h = Hook(statuses, **kw)
        hooks.append(h)
        return h

    yield make
    for h in hooks:
        if h.hold is not None:
            h.hold.set()
        h.close()


def cfg_for(url: str, *, retries: int = 3, timeout_s: float = 5.0) -> Config:
    return load_config(
        env={},
        require_database=False,
        overrides={
            "publish": {
                "fallback_webhook_url": url,
                "fallback_webhook_retries": retries,
                "fallback_webhook_timeout_s": timeout_s,
            }
        },
    )


def test_no_webhook_configured_does_nothing():
    assert notify_fallback(load_config(env={}, require_database=False), "j", "v2_timeout") is None


@pytest.mark.parametrize("code", ["v2_output_invalid", "v2_timeout", "v2_concurrent_apply"])
def test_webhook_receives_job_and_code(hook_factory, code):
    hook = hook_factory([200])
    t = notify_fallback(cfg_for(hook.url), "job-1", code)
    assert t is not None and t.daemon
    t.join(10)
    assert not t.is_alive()
    assert hook.requests == [
        {
            "body": {"type": "fallback", "job_id": "job-1", "error_code": code},
            "ctype": "application/json",
        }
    ]


def test_webhook_retried_until_success(hook_factory):
    hook = hook_factory([500, 503, 429, 200])
    t = notify_fallback(cfg_for(hook.url, retries=3), "job-2", "v2_task_failed", backoff_s=0.01)
    t.join(10)
    assert hook.done.wait(10)
    assert len(hook.requests) == 4


def test_failing_webhook_is_given_up_after_retries(hook_factory):
    hook = hook_factory([500] * 10)
    t = notify_fallback(cfg_for(hook.url, retries=2), "job-3", "v2_unknown", backoff_s=0.01)
    t.join(10)
    assert not t.is_alive()
    assert len(hook.requests) == 3  # 1 + 2 retries, then given up
    assert not hook.done.is_set()


def test_client_error_is_not_retried(hook_factory):
    hook = hook_factory([404, 200])
    t = notify_fallback(cfg_for(hook.url, retries=3), "job-4", "v2_unknown", backoff_s=0.01)
    t.join(10)
    assert len(hook.requests) == 1


def test_unreachable_webhook_is_retried_then_given_up():
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as srv:
        port = srv.server_address[1]  # closed right after: nobody listens there
    cfg = cfg_for(f"http://127.0.0.1:{port}/x", retries=2, timeout_s=1.0)
    start = time.monotonic()
    t = notify_fallback(cfg, "job-5", "v2_staging_error", backoff_s=0.01)
    assert time.monotonic() - start < 0.5
    t.join(10)
    assert not t.is_alive()


def test_notify_never_blocks_the_caller(hook_factory):
    """The server holds the request until released; the caller is back at once."""
    release = threading.Event()
    hook = hook_factory([200], hold=release)
    start = time.monotonic()
    t = notify_fallback(cfg_for(hook.url), "job-6", "v2_timeout")
    returned_after = time.monotonic() - start
    assert hook.arrived.wait(10)  # the POST is in flight ...
    assert t.is_alive()  # ... and still pending while the caller is long back
    assert returned_after < 0.5
    release.set()
    t.join(10)
    assert hook.done.wait(10)
