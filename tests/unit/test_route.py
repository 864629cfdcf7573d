"""Fallback chains: a task's route tried model by model inside one attempt, through the
real SDKs at a fake server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enginev2d.config import Config
from enginev2d.errors import Canceled, ProviderAuthError, ProviderError
from enginev2d.providers.retry import Backoff
from enginev2d.tasks import execute, plan
from tests.fakes import (
    FakeServer,
    Reply,
    anthropic_error,
    anthropic_message,
    anthropic_stream,
    code_answer,
    gemini_not_found,
    gemini_stream,
    gemini_text,
)
from tests.fakes.ctx import make_config, make_ctx
from tests.fakes.fixtures import fake_env, llm_overrides, srv, waits

__all__ = ["fake_env", "srv", "waits"]

MSG = "/v1/messages"
GEN = ":generateContent"
STREAM = ":streamGenerateContent"
INDEX = "<!doctype html><canvas></canvas><script>requestAnimationFrame(()=>{})</script>"
CODE = code_answer([{"path": "index.html", "content": INDEX}], "A game.")
PLAN = {
    "dimension": "2d",
    "skills": ["game-loop"],
    "template_id": None,
    "image_count": 0,
    "codegen_strategy": "scratch",
}


def cfg_with(tmp_path: Path, srv: FakeServer, **route: Any) -> Config:
    over = llm_overrides(srv, **route)
    over["providers"]["anthropic"].update(timeout_s=0.3)
    return make_config(tmp_path, over)


def codegen_ctx(cfg: Config):
    upstream = {"plan": plan.validate(make_ctx(cfg, "plan"), PLAN)}
    return make_ctx(cfg, "codegen", upstream=upstream)


def test_unknown_model_moves_to_the_next_step_without_retrying(
    tmp_path: Path, srv: FakeServer, fake_env: dict, waits: list[float]
) -> None:
    route = ["google:gemini-2.0-flash", "google:gemini-3.8-flash", "anthropic"]
    cfg = cfg_with(tmp_path, srv, codegen=route)
    srv.enqueue(STREAM, gemini_not_found("gemini-2.0-flash"), gemini_stream(CODE))
    ctx = codegen_ctx(cfg)
    execute(ctx)
    paths = [r.path.split("?")[0] for r in srv.for_route(STREAM)]
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "gemini-2.0-flash:streamGenerateContent",
        "gemini-3.8-flash:streamGenerateContent",
    ]
    assert waits == [] and srv.count(MSG) == 0
    assert ctx.extra["model"] == "gemini-3.8-flash"
    assert [f["model"] for f in ctx.extra["fallback_from"]] == ["gemini-2.0-flash"]
    assert ctx.extra["fallback_from"][0]["error"]["status"] == 404
    meta = ctx.artifacts[0].metadata
    assert meta["model"] == "gemini-3.8-flash" and meta["fallback_from"] == ["gemini-2.0-flash"]


def test_refusal_moves_to_the_next_model(
    tmp_path: Path, srv: FakeServer, fake_env: dict, waits: list[float]
) -> None:
    cfg = cfg_with(tmp_path, srv, intent=["anthropic", "google:gemini-3.8-flash"])
    srv.enqueue(MSG, anthropic_message("", stop_reason="refusal", input_tokens=40))
    srv.enqueue(GEN, gemini_text({"intent": "chat"}, prompt_tokens=20, candidate_tokens=3))
    ctx = make_ctx(cfg, "intent")
    out = execute(ctx).output
    assert out["intent"] == "chat" and out["reply"]  # a chat always carries a reply
    # both calls' usage recorded, the answering model last
    assert ctx.usage.models == ["claude-haiku-5-5", "gemini-3.8-flash"]
    assert ctx.usage.tokens_in == 60 and ctx.extra["provider"] == "google"


def test_timeout_moves_to_the_next_model(
    tmp_path: Path, srv: FakeServer, fake_env: dict, waits: list[float]
) -> None:
    cfg = cfg_with(tmp_path, srv, intent=["anthropic", "google"])
    srv.default(MSG, Reply(hang=True))
    srv.enqueue(GEN, gemini_text({"intent": "edit"}))
    ctx = make_ctx(cfg, "intent")
    assert execute(ctx).output == {"intent": "edit"}
    assert srv.count(MSG) == 2  # max_retries=1, then the route moves on
    assert ctx.extra["fallback_from"][0]["error"]["kind"] == "ProviderUnavailable"


@pytest.mark.parametrize(
    ("reply", "error"),
    [(anthropic_error(401, "bad key"), ProviderAuthError), (anthropic_error(400), ProviderError)],
    ids=["rejected-key", "bad-request"],
)
def test_errors_another_model_cannot_fix_stop_the_route(
    tmp_path: Path, srv: FakeServer, fake_env: dict, waits: list[float], reply: Reply, error
) -> None:
    cfg = cfg_with(tmp_path, srv, intent=["anthropic", "google"])
    srv.default(MSG, reply)
    with pytest.raises(error):
        execute(make_ctx(cfg, "intent"))
    assert srv.count(GEN) == 0


def test_offline_can_end_a_route(
    tmp_path: Path, srv: FakeServer, fake_env: dict, waits: list[float]
) -> None:
    cfg = cfg_with(tmp_path, srv, codegen=["google", "offline"])
    srv.default(STREAM, gemini_not_found("gemini-3.8-flash"))
    ctx = codegen_ctx(cfg)
    out = execute(ctx)
    assert any(f["path"] == "index.html" for f in out.output["files"])
    assert ctx.extra["model"] == "offline"
    assert ctx.artifacts[0].metadata["fallback_from"] == ["gemini-3.8-flash"]


def test_a_stopped_job_is_not_routed_to_the_next_model(
    tmp_path: Path, srv: FakeServer, fake_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = cfg_with(tmp_path, srv, codegen=["anthropic", "google"])
    srv.default(MSG, anthropic_error(529))
    ctx = codegen_ctx(cfg)

    def stop(self: Backoff, seconds: float, should_stop: Any = None) -> bool:
        ctx.stop_event.set()
        return False

    monkeypatch.setattr(Backoff, "sleep", stop)
    with pytest.raises(Canceled):
        execute(ctx)
    assert srv.count(STREAM) == 0


def test_explicit_chain_for_fix_streams_from_the_second_provider(
    tmp_path: Path, srv: FakeServer, fake_env: dict, waits: list[float]
) -> None:
    cfg = cfg_with(tmp_path, srv, fix=["google", "anthropic:claude-sonnet-5-5"])
    srv.default(STREAM, gemini_not_found("gemini-3.8-flash"))
    fixed = code_answer([{"path": "index.html", "content": INDEX + "<!-- fixed -->"}])
    srv.enqueue(MSG, anthropic_stream(fixed))
    files = [{"path": "index.html", "content": INDEX}]
    ctx = make_ctx(cfg, "fix", upstream={"codegen": {"files": files}, "qa_review": {}})
    execute(ctx)
    assert ctx.artifacts[0].metadata["model"] == "claude-sonnet-5-5"
    assert srv.for_route(MSG)[0].json["stream"] is True
