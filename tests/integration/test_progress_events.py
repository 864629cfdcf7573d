"""taskProgress end to end: codegen routed to Claude (its real SDK, a fake server that
streams at a model's pace), run by the real runner on the real database; the progress
events arrive during codegen, in seq order, before its taskDone."""

from __future__ import annotations

from typing import Any

from enginev2d.worker import JobRunner
from tests.fakes import FakeServer, anthropic_stream, code_answer
from tests.fakes.fixtures import fake_env, srv
from tests.fakes.wire import realistic
from tests.integration.test_scheduler_support import events, job_row

__all__ = ["fake_env", "srv"]

GAME = [
    {"path": "index.html", "content": '<!doctype html><html lang="en"><body><canvas id="c">'
     '</canvas><script src="game.js"></script></body></html>'},
    {"path": "game.js", "content": "const c = document.getElementById('c');\n" * 40},
]  # fmt: skip


def test_streamed_codegen_reports_progress(
    conn: Any, config: Any, pool: Any, make_job: Any, srv: FakeServer, fake_env: Any
) -> None:
    cfg = config.replace(
        providers={
            "default": "offline",
            "route": {"codegen": "anthropic"},
            "anthropic": {"base_url": srv.url, "max_retries": 0},
        }
    )
    answer = code_answer(GAME, "A canvas game.")
    srv.enqueue("/v1/messages", anthropic_stream(answer, **realistic(answer, scale=0.5)))
    job = make_job()
    out = JobRunner(cfg, pool, job_row(conn, job), owner=None).run()
    assert out.status == "succeeded", out
    ev = events(conn, job)
    kinds = [(e["event_type"], e["data"].get("task_key")) for e in ev]
    progress = [e for e in ev if e["event_type"] == "taskProgress"]
    assert len(progress) >= 2, kinds
    started = kinds.index(("taskStarted", "codegen"))
    done = kinds.index(("taskDone", "codegen"))
    assert all(started < ev.index(p) < done for p in progress)
    assert {p["data"]["task_key"] for p in progress} == {"codegen"}
    sizes = [p["data"]["bytes"] for p in progress]
    assert sizes == sorted(sizes) and sizes[-1] > 0
