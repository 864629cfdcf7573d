"""TaskContext.report_progress (the hook the engine wires to taskProgress events) and the
progress a streamed codegen reports through it."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from enginev2d.tasks import base, execute, plan
from tests.fakes import (
    FakeServer,
    anthropic_stream,
    code_answer,
    gemini_stream,
)
from tests.fakes.ctx import make_config, make_ctx
from tests.fakes.fixtures import fake_env, llm_overrides, srv

__all__ = ["fake_env", "srv"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def test_report_progress_passes_at_most_two_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(base, "time", clock)
    ctx = make_ctx(make_config(tmp_path), "codegen")
    got: list[dict[str, Any]] = []
    ctx.report_progress({"bytes": 0})  # no sink: nothing happens
    ctx.progress_sink = got.append
    for t, n in ((0.0, 1), (0.1, 2), (0.49, 3), (0.5, 4), (0.9, 5), (1.0, 6), (1.01, 7), (3.0, 8)):
        clock.now = 100.0 + t
        ctx.report_progress({"bytes": n})
    assert [g["bytes"] for g in got] == [1, 4, 6, 8]


def test_a_failing_sink_never_breaks_the_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_ctx(make_config(tmp_path), "codegen")

    def broken(data: dict[str, Any]) -> None:
        raise RuntimeError("database gone")

    ctx.progress_sink = broken
    ctx.report_progress({"bytes": 1})
    assert "progress report failed" in caplog.text


def test_the_sink_gets_a_copy(tmp_path: Path) -> None:
    ctx = make_ctx(make_config(tmp_path), "codegen")
    got: list[dict[str, Any]] = []
    ctx.progress_sink = got.append
    data = {"bytes": 1}
    ctx.report_progress(data)
    data["bytes"] = 2
    assert got == [{"bytes": 1}]


INDEX = "<!doctype html><canvas></canvas><script src='game.js'></script>"
GAME = "".join(f"function step{i}() {{ return {i}; }}\n" for i in range(60))
ANSWER = code_answer(
    [{"path": "index.html", "content": INDEX}, {"path": "game.js", "content": GAME}], "A game."
)
PLAN = {
    "dimension": "2d",
    "skills": ["game-loop"],
    "template_id": None,
    "image_count": 0,
    "codegen_strategy": "scratch",
}


@pytest.mark.parametrize("provider", ["google", "anthropic"])
def test_streamed_codegen_reports_progress_while_it_streams(
    tmp_path: Path, srv: FakeServer, fake_env: dict, provider: str
) -> None:
    cfg = make_config(tmp_path, llm_overrides(srv, codegen=provider))
    # ~1.1 s of answer, a chunk every 20 ms (a real answer: ~0.5 s, then 60-150 tokens/s)
    timing = {"chunk_chars": 48, "first_delay": 0.05, "delay": 0.02}
    if provider == "google":
        srv.enqueue(":streamGenerateContent", gemini_stream(ANSWER, **timing))
    else:
        srv.enqueue("/v1/messages", anthropic_stream(ANSWER, output_tokens=700, **timing))
    ctx = make_ctx(cfg, "codegen", upstream={"plan": plan.validate(make_ctx(cfg, "plan"), PLAN)})
    got: list[tuple[float, dict[str, Any]]] = []
    ctx.progress_sink = lambda data: got.append((time.monotonic(), data))
    started = time.monotonic()
    execute(ctx)
    elapsed = time.monotonic() - started
    times = [t for t, _ in got]
    assert len(got) >= 2  # the UI moved during the stream
    assert all(b - a >= base.PROGRESS_MIN_INTERVAL_S for a, b in itertools.pairwise(times))
    assert len(got) <= elapsed * 2 + 1
    sizes = [d["bytes"] for _, d in got]
    assert sizes == sorted(sizes) and 0 < sizes[-1] <= len(ANSWER.encode())
    assert all(d["tokens"] > 0 and d["model"] == ctx.extra["model"] for _, d in got[1:])
