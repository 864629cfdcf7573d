"""The six model tasks chained through ``tasks.execute`` on one job's staging, with every
provider reached through its real client at a fake server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from enginev2d.config import Config
from enginev2d.tasks import execute
from tests.fakes import (
    FakeServer,
    anthropic_error,
    anthropic_message,
    anthropic_stream,
    code_answer,
    gemini_error,
    gemini_image,
    gemini_stream,
    modal_text,
    tiny_png,
)
from tests.fakes.ctx import make_config, make_ctx
from tests.fakes.fixtures import fake_env, llm_overrides, srv, waits

__all__ = ["fake_env", "srv", "waits"]

INDEX = '<!doctype html><canvas></canvas><script src="game.js"></script>'
PLAN = {
    "dimension": "2d",
    "skills": ["game-loop"],
    "template_id": None,
    "image_count": 1,
    "codegen_strategy": "scratch",
    "image_specs": [{"name": "assets/ship.png", "prompt": "a ship", "width": 64, "height": 64}],
}
CODE = {
    "files": [
        {"path": "index.html", "content": INDEX},
        {"path": "game.js", "content": "let x = ;"},
    ],
    "summary": "A shooter.",
}
REVIEW = {
    "issues": 1,
    "findings": [{"severity": "error", "description": "syntax error", "fix_hint": "x = 0"}],
}
FIXED = {"files": [{"path": "game.js", "content": "let x = 0;"}]}


def chain(cfg: Config, message: str) -> tuple[dict[str, Any], dict[str, Any]]:
    outputs: dict[str, Any] = {}
    ctxs: dict[str, Any] = {}
    job_id = None
    for key in ("intent", "plan", "codegen", "asset", "qa_review", "fix"):
        ctx = make_ctx(cfg, key, message=message, upstream=dict(outputs), job_id=job_id)
        job_id = ctx.job.job_id
        outputs[key] = execute(ctx).output
        ctxs[key] = ctx
    return outputs, ctxs


def test_llm_chain_with_retries_and_fallback(
    tmp_path: Path, srv: FakeServer, fake_env: dict[str, str], waits: list[float]
) -> None:
    cfg = make_config(tmp_path, llm_overrides(srv))
    srv.enqueue(
        "/v1/messages",
        anthropic_error(429, retry_after="2"),
        anthropic_message({"intent": "edit"}, input_tokens=500, output_tokens=50),
        anthropic_message(PLAN, input_tokens=1000, output_tokens=200),
        # codegen's fallback after Gemini failed twice (max_retries=1)
        anthropic_stream(
            code_answer(CODE["files"], CODE["summary"]), input_tokens=5000, output_tokens=3000
        ),
        anthropic_message(REVIEW, input_tokens=3000, output_tokens=300),
    )
    srv.enqueue(
        ":streamGenerateContent",
        gemini_error(500),
        gemini_error(500),
        gemini_stream(code_answer(FIXED["files"]), prompt_tokens=5000, candidate_tokens=2000),
    )
    srv.enqueue(":generateContent", gemini_image(tiny_png(64, 64)))

    out, ctxs = chain(cfg, "make me a space shooter")
    assert out["intent"] == {"intent": "edit"}
    assert ctxs["codegen"].extra["model"] == "claude-sonnet-5-5"
    assert out["qa_review"]["issues"] == 1
    root = ctxs["fix"].staging.root
    assert (root / "game.js").read_text() == "let x = 0;"
    assert (root / "index.html").read_text() == INDEX
    assert (root / "assets/ship.png").read_bytes() == tiny_png(64, 64)
    assert waits == [2.0, 1.0]  # Retry-After on intent, backoff on Gemini

    costs = {k: round(c.usage.cost_usd, 6) for k, c in ctxs.items()}
    assert costs == {
        "intent": 0.000075,  # claude-haiku-5-5: $0.10 / $0.50
        "plan": 0.0002,
        "codegen": 0.04,  # claude-sonnet-5-5: $2 / $10
        "asset": 0.033613,  # gemini-nano-banana-2.1: $0.0336 an image + 9 tokens in
        "qa_review": 0.00045,
        "fix": 0.01125,  # gemini-3.8-flash: $0.75 / $3.75
    }
    assert all(c.usage.model for c in ctxs.values())


def test_modal_text_chain(
    tmp_path: Path, srv: FakeServer, fake_env: dict[str, str], waits: list[float]
) -> None:
    route = {k: "modal" for k in ("intent", "plan", "codegen", "qa_review", "fix")}
    cfg = make_config(tmp_path, llm_overrides(srv, **route))
    srv.enqueue("/v2_detect_intent", modal_text({"intent": "edit"}))
    srv.enqueue("/v2_chat_haiku", modal_text(PLAN), modal_text(REVIEW))
    srv.enqueue(
        "/v2_generate_code",
        modal_text(code_answer(CODE["files"], CODE["summary"]), model="gemini-3.8-flash"),
        modal_text(FIXED, model="gemini-3.8-flash"),  # the older all-JSON shape still parses
    )
    srv.enqueue(":generateContent", gemini_image(tiny_png()))
    out, ctxs = chain(cfg, "make me a space shooter")
    assert out["fix"] == FIXED
    assert ctxs["codegen"].extra == {"model": "gemini-3.8-flash", "provider": "modal"}
    assert srv.count("/v1/messages") == 0
