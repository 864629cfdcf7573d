"""A streamed codegen at real speed, through the real SDKs, against the fake servers.

    .venv/bin/python -m bench.bench_providers              # two-minute answers (~2 min)
    .venv/bin/python -m bench.bench_providers --seconds 10  # a short run

For each provider (Gemini, Claude) at once: a fake server answers codegen at about 0.5 s to
the first token and ``--tokens-per-s`` (default 100) tokens a second, for ``--seconds``
of answer, with the default timeouts (``timeout_s`` 60/120 s for one call, 30 s idle and
300 s ceiling for a stream). The task runs through ``tasks.execute`` with a progress sink
on its TaskContext; printed: whether the answer was accepted, its duration, and the
progress reports the sink received (count, rate, shortest gap). Unit tests run the same
path with the timing scaled down (tests/unit/test_progress.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from enginev2d import providers
from enginev2d.tasks import execute, plan
from tests.fakes import FakeServer, anthropic_stream, code_answer, gemini_stream, realistic
from tests.fakes.ctx import make_config, make_ctx
from tests.fakes.fixtures import FAKE_KEYS

PLAN = {
    "dimension": "2d",
    "skills": ["game-loop"],
    "template_id": None,
    "image_count": 0,
    "codegen_strategy": "scratch",
}


def answer(tokens: int) -> str:
    line = "function step(i) { return i * 2 + 1; } // padding to a realistic size\n"
    game = line * max(1, tokens * 4 // len(line))
    files = [
        {"path": "index.html", "content": "<!doctype html><canvas></canvas><script src='game.js'>"},
        {"path": "game.js", "content": game},
    ]
    return code_answer(files, "A long game.")


def run_one(provider: str, seconds: float, tps: float, out: dict[str, Any]) -> None:
    text = answer(int(seconds * tps))
    timing = realistic(text, first_token_s=0.5, tokens_per_s=tps)
    with FakeServer() as srv, tempfile.TemporaryDirectory() as tmp:
        if provider == "google":
            srv.enqueue(":streamGenerateContent", gemini_stream(text, **timing))
        else:
            srv.enqueue("/v1/messages", anthropic_stream(text, **timing))
        route = {"codegen": provider}
        over = {
            "providers": {
                "default": "offline",
                "route": route,
                "anthropic": {"base_url": srv.url},
                "google": {"base_url": srv.url},
            }
        }
        cfg = make_config(Path(tmp), over)
        ctx = make_ctx(cfg, "plan")
        upstream = {"plan": plan.validate(ctx, PLAN)}
        ctx = make_ctx(cfg, "codegen", upstream=upstream)
        reports: list[float] = []
        ctx.progress_sink = lambda data: reports.append(time.monotonic())
        started = time.monotonic()
        try:
            outcome = execute(ctx)
            ok = len(outcome.output["files"]) == 2
        except Exception as exc:  # the bench reports, it does not crash
            ok = False
            out["error"] = f"{type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - started
        gaps = [b - a for a, b in itertools.pairwise(reports)]
        out.update(
            provider=provider,
            accepted=ok,
            answer_s=round(elapsed, 1),
            answer_kb=round(len(text.encode()) / 1024, 1),
            progress_reports=len(reports),
            reports_per_s=round(len(reports) / elapsed, 2),
            shortest_gap_s=round(min(gaps), 3) if gaps else None,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--tokens-per-s", type=float, default=100.0)
    args = parser.parse_args()
    os.environ.update(FAKE_KEYS)
    providers.reset_cache()
    results: list[dict[str, Any]] = [{}, {}]
    threads = [
        threading.Thread(target=run_one, args=(p, args.seconds, args.tokens_per_s, r))
        for p, r in zip(("google", "anthropic"), results, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
