"""Task bodies: validate() on good and bad answers, run() end to end with real Staging,
real SDKs and a fake provider server."""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from enginev2d.config import Config
from enginev2d.errors import (
    Canceled,
    ConfigError,
    OutputInvalid,
    ProviderNotConfigured,
    ProviderRefusal,
    ProviderUnavailable,
)
from enginev2d.providers.retry import Backoff
from enginev2d.tasks import asset, codegen, execute, fix, intent, plan, qa_review
from enginev2d.tasks.schemas import parse_json
from tests.fakes import (
    FakeServer,
    anthropic_error,
    anthropic_message,
    anthropic_stream,
    code_answer,
    gemini_error,
    gemini_image,
    gemini_not_found,
    gemini_stream,
    imagen_predict,
    modal_text,
    tiny_png,
)
from tests.fakes.ctx import make_config, make_ctx
from tests.fakes.fixtures import FAKE_KEYS, fake_env, llm_config, llm_overrides, srv, waits

__all__ = ["fake_env", "llm_config", "srv", "waits"]  # fixtures used by name

MSG = "/v1/messages"
GEN = ":generateContent"
INDEX = '<!doctype html><canvas id="c"></canvas><script src="game.js"></script>'
GAME_JS = "function loop(){requestAnimationFrame(loop)}loop();"
GOOD_CODE = {
    "files": [
        {"path": "index.html", "content": INDEX},
        {"path": "game.js", "content": GAME_JS},
    ],
    "summary": "A neon snake game.",
}
GOOD_PLAN = {
    "dimension": "2d",
    "skills": ["game-loop", "touch-input"],
    "template_id": "snake",
    "image_count": 2,
    "codegen_strategy": "template",
    "image_specs": [{"name": "assets/head.png", "prompt": "snake head", "width": 48, "height": 48}],
    "title": "Neon Snake",
}
GOOD_REVIEW = {
    "issues": 1,
    "findings": [
        {"severity": "error", "description": "loop never starts", "fix_hint": "call loop()"}
    ],
}


def cfg_plain(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def assert_valid_png(data: bytes) -> tuple[int, int]:
    """Walk every chunk: signature, CRCs, IHDR first, IDAT inflates, IEND last."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds, idat = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        kinds.append(kind)
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    zlib.decompress(idat)
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# =========================================================================== parse_json


@pytest.mark.parametrize(
    "text",
    [
        '{"intent": "edit"}',
        '```json\n{"intent": "edit"}\n```',
        '```\n{"intent": "edit"}\n```',
        'Sure, here it is:\n{"intent": "edit"}\nHope that helps.',
    ],
)
def test_parse_json_tolerates_fences_and_prose(text: str) -> None:
    assert parse_json("t", text) == {"intent": "edit"}


@pytest.mark.parametrize("text", ["", "not json", '{"intent": "edit"', "```json\n{oops}\n```"])
def test_parse_json_rejects_with_hint(text: str) -> None:
    with pytest.raises(OutputInvalid) as ei:
        parse_json("t", text)
    assert ei.value.retryable and "JSON" in ei.value.repair_hint


def test_parse_json_truncated_hint() -> None:
    with pytest.raises(OutputInvalid, match="cut off") as ei:
        parse_json("codegen", '{"files": [', truncated=True)
    assert "concise" in ei.value.repair_hint


# =========================================================================== validate()


def test_intent_validate(tmp_path: Path) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "intent")
    assert intent.validate(ctx, {"intent": "Edit"}) == {"intent": "edit"}
    for bad in ({"intent": "delete"}, {}, {"intent": 3}, ["edit"], "edit"):
        with pytest.raises(OutputInvalid):
            intent.validate(ctx, bad)


def test_plan_validate_good_derives_image_specs(tmp_path: Path) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "plan")
    out = plan.validate(ctx, {**GOOD_PLAN, "dimension": "2D", "codegen_strategy": "from_scratch"})
    assert out["dimension"] == "2d" and out["codegen_strategy"] == "scratch"
    assert out["title"] == "Neon Snake"  # extra keys kept for codegen
    assert [s["name"] for s in out["image_specs"]] == ["assets/head.png", "assets/image_0.png"]
    assert out["image_specs"][1]["prompt"] == ctx.job.message
    no_specs = plan.validate(ctx, {**GOOD_PLAN, "image_specs": None, "template_id": None})
    assert [s["name"] for s in no_specs["image_specs"]] == [
        "assets/image_0.png",
        "assets/image_1.png",
    ]
    assert no_specs["template_id"] is None


@pytest.mark.parametrize(
    "patch",
    [
        {"dimension": "4d"},
        {"skills": "loop"},
        {"skills": ["x" * 100]},
        {"skills": [f"s{i}" for i in range(30)]},
        {"template_id": "Bad Template!"},
        {"image_count": 9},
        {"image_count": -1},
        {"image_count": "2"},
        {"codegen_strategy": "vibes"},
        {"image_specs": [{"name": "../evil.png", "prompt": "x"}]},
        {"image_specs": [{"name": "assets/a.png", "prompt": "x", "width": 99999}]},
        {"image_specs": "nope"},
    ],
)
def test_plan_validate_bad(tmp_path: Path, patch: dict[str, Any]) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "plan")
    with pytest.raises(OutputInvalid):
        plan.validate(ctx, {**GOOD_PLAN, **patch})


def test_plan_validate_missing_keys(tmp_path: Path) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "plan")
    for key in ("dimension", "skills", "image_count", "codegen_strategy"):
        bad = {k: v for k, v in GOOD_PLAN.items() if k != key}
        with pytest.raises(OutputInvalid, match=key):
            plan.validate(ctx, bad)


def test_codegen_validate(tmp_path: Path) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "codegen")
    assert codegen.validate(ctx, GOOD_CODE) == GOOD_CODE


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"files": [], "summary": "x"}, "at least 1"),
        ({"files": GOOD_CODE["files"]}, "summary"),
        ({"files": [{"path": "/etc/passwd", "content": "x"}], "summary": "s"}, "unsafe"),
        ({"files": [{"path": "../x.html", "content": "x"}], "summary": "s"}, "unsafe"),
        ({"files": [{"path": ".git/config", "content": "x"}], "summary": "s"}, "unsafe"),
        ({"files": [{"path": "a\\b.js", "content": "x"}], "summary": "s"}, "unsafe"),
        ({"files": [{"path": "index.html", "content": 5}], "summary": "s"}, "content"),
        ({"files": [{"path": "game.js", "content": "x"}], "summary": "s"}, "index.html"),
        (
            {"files": [*GOOD_CODE["files"], GOOD_CODE["files"][0]], "summary": "s"},
            "twice",
        ),
        ({"files": "index.html", "summary": "s"}, "list"),
    ],
)
def test_codegen_validate_bad(tmp_path: Path, bad: dict[str, Any], match: str) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "codegen")
    with pytest.raises(OutputInvalid, match=match) as ei:
        codegen.validate(ctx, bad)
    assert ei.value.repair_hint


def test_codegen_validate_limits(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, {"limits": {"max_files": 2, "max_file_bytes": 100}})
    ctx = make_ctx(cfg, "codegen")
    big = {"files": [{"path": "index.html", "content": "x" * 101}], "summary": "s"}
    with pytest.raises(OutputInvalid, match="over the 100 limit"):
        codegen.validate(ctx, big)
    many = {"files": [{"path": f"{i}.js", "content": ""} for i in range(3)], "summary": "s"}
    with pytest.raises(OutputInvalid, match="at most 2"):
        codegen.validate(ctx, many)


def test_codegen_validate_edit_without_index_ok(tmp_path: Path) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "codegen", existing={"index.html": INDEX})
    out = codegen.validate(ctx, {"files": [{"path": "game.js", "content": "x"}], "summary": "s"})
    assert out["files"][0]["path"] == "game.js"


def test_qa_review_validate(tmp_path: Path) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "qa_review")
    assert qa_review.validate(ctx, GOOD_REVIEW) == GOOD_REVIEW
    assert qa_review.validate(ctx, {"issues": 0, "findings": []}) == {"issues": 0, "findings": []}
    # severity aliases; the count follows the findings that need a fix (not info)
    findings = [
        {"severity": "High", "description": "d", "fix_hint": ""},
        {"severity": "note", "description": "n", "fix_hint": "none"},
    ]
    out = qa_review.validate(ctx, {"issues": 5, "findings": findings})
    assert out["issues"] == 1
    assert [f["severity"] for f in out["findings"]] == ["error", "info"]
    info_only = qa_review.validate(ctx, {"issues": 0, "findings": findings[1:]})
    assert info_only["issues"] == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"findings": []},
        {"issues": -1, "findings": []},
        {"issues": "1", "findings": []},
        {"issues": 1},
        {
            "issues": 1,
            "findings": [{"severity": "apocalyptic", "description": "d", "fix_hint": ""}],
        },
        {"issues": 1, "findings": [{"severity": "high", "fix_hint": ""}]},
        {"issues": 1, "findings": [{"severity": "high", "description": "d"}]},
        {"issues": 1, "findings": ["bad"]},
    ],
)
def test_qa_review_validate_bad(tmp_path: Path, bad: dict[str, Any]) -> None:
    with pytest.raises(OutputInvalid):
        qa_review.validate(make_ctx(cfg_plain(tmp_path), "qa_review"), bad)


def test_fix_validate(tmp_path: Path) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "fix")
    assert fix.validate(ctx, {"files": []}) == {"files": []}
    assert fix.validate(ctx, {"files": GOOD_CODE["files"][1:]}) == {"files": GOOD_CODE["files"][1:]}
    for bad in ({}, {"files": [{"path": "../x", "content": ""}]}, {"files": [{"path": "a"}]}):
        with pytest.raises(OutputInvalid):
            fix.validate(ctx, bad)


def test_asset_validate(tmp_path: Path) -> None:
    ctx = make_ctx(cfg_plain(tmp_path), "asset")
    good = {"images": [{"name": "assets/head.png", "uri": "assets/head.png"}]}
    assert asset.validate(ctx, good) == good  # no bytes: injected output
    for bad in (
        {"images": [{"name": "head.png", "uri": "x"}]},
        {"images": [{"name": "assets/head.png"}]},
        {"images": [good["images"][0], good["images"][0]]},
        {"images": "x"},
    ):
        with pytest.raises(OutputInvalid):
            asset.validate(ctx, bad)
    # with bytes: they must be an image
    ctx.extra[asset.BYTES_KEY] = {
        "assets/head.png": {"data": b"<html>", "mime": "image/png", "model": "m"}
    }
    with pytest.raises(OutputInvalid, match="not an image"):
        asset.validate(ctx, good)
    assert asset.BYTES_KEY not in ctx.extra  # never left behind


# =========================================================================== run(): intent / plan


def test_a_retried_call_charges_the_try_that_was_cut(
    llm_config: Config, srv: FakeServer, waits: list[float]
) -> None:
    """A streamed answer cut after 50 billed tokens, then a whole one: the task's usage
    and cost count both tries (the reply carries only its own)."""
    from enginev2d.providers import call_text

    srv.enqueue(
        MSG,
        anthropic_stream("partial", model="claude-haiku-5-5", output_tokens=50, drop=True),
        anthropic_stream("whole", model="claude-haiku-5-5", output_tokens=7),
    )
    ctx = make_ctx(llm_config, "intent")
    reply = call_text(ctx, "anthropic", system="s", prompt="p", json_mode=False, stream=True)
    assert reply.text == "whole" and len(waits) == 1
    assert (ctx.usage.tokens_in, ctx.usage.tokens_out) == (22, 57)
    assert ctx.usage.models == ["claude-haiku-5-5", "claude-haiku-5-5"]
    assert ctx.usage.cost_usd == pytest.approx(22 * 0.10 / 1e6 + 57 * 0.50 / 1e6)


def test_intent_run_anthropic(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_message('```json\n{"intent": "edit"}\n```', input_tokens=500))
    ctx = make_ctx(llm_config, "intent")
    out = execute(ctx)
    assert out.output == {"intent": "edit"} and out.input == {"message": ctx.job.message}
    assert (ctx.usage.tokens_in, ctx.usage.tokens_out, ctx.usage.models) == (
        500,
        7,
        ["claude-haiku-5-5"],
    )
    assert ctx.usage.cost_usd == pytest.approx(500 * 0.10 / 1e6 + 7 * 0.50 / 1e6)
    body = srv.for_route(MSG)[0].json
    assert "no game yet" in body["messages"][0]["content"]
    assert ctx.job.message in body["messages"][0]["content"]


def test_intent_sees_existing_project(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_message({"intent": "restore"}))
    ctx = make_ctx(llm_config, "intent", existing={"index.html": INDEX}, message="undo that")
    assert execute(ctx).output == {"intent": "restore", "step": "undo"}  # step derived
    assert "already has a game" in srv.for_route(MSG)[0].json["messages"][0]["content"]


def test_intent_unknown_is_output_invalid_and_repair_hint_reaches_prompt(
    llm_config: Config, srv: FakeServer
) -> None:
    srv.enqueue(MSG, anthropic_message({"intent": "dance"}))
    ctx = make_ctx(llm_config, "intent")
    with pytest.raises(OutputInvalid) as ei:
        execute(ctx)
    assert ctx.usage.tokens_in == 11  # the rejected call is still accounted
    srv.enqueue(MSG, anthropic_message({"intent": "chat"}))
    retry = make_ctx(llm_config, "intent", attempt=2, repair_hint=ei.value.repair_hint)
    out = execute(retry).output
    assert out["intent"] == "chat" and out["reply"]  # a reply even when the model gave none
    prompt = srv.for_route(MSG)[1].json["messages"][0]["content"]
    assert "REJECTED" in prompt and "chat, edit, restore" in prompt


def test_intent_malformed_json(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_message("I think they want to edit"))
    with pytest.raises(OutputInvalid, match="not valid JSON"):
        execute(make_ctx(llm_config, "intent"))


def test_intent_refusal_terminal(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_message("", stop_reason="refusal", input_tokens=30))
    ctx = make_ctx(llm_config, "intent")
    with pytest.raises(ProviderRefusal) as ei:
        execute(ctx)
    assert not ei.value.retryable and ctx.usage.tokens_in == 30


def test_plan_run_with_existing_code(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_message(GOOD_PLAN))
    ctx = make_ctx(
        llm_config,
        "plan",
        upstream={"intent": {"intent": "edit"}},
        existing={"index.html": INDEX, "game.js": GAME_JS},
        message="make the snake faster",
    )
    out = execute(ctx)
    assert out.input["intent"] == "edit"
    assert out.input["existing_code"] == {"game.js": GAME_JS, "index.html": INDEX}
    assert out.output["image_count"] == 2 and len(out.output["image_specs"]) == 2
    prompt = srv.for_route(MSG)[0].json["messages"][0]["content"]
    assert '<file path="game.js">' in prompt and GAME_JS in prompt
    assert [a.kind for a in ctx.artifacts] == ["plan"]


def test_plan_via_modal(tmp_path: Path, srv: FakeServer, fake_env: dict[str, str]) -> None:
    cfg = make_config(tmp_path, llm_overrides(srv, plan="modal"))
    srv.enqueue("/v2_chat_haiku", modal_text(GOOD_PLAN, input_tokens=1000, output_tokens=200))
    ctx = make_ctx(cfg, "plan", upstream={"intent": {"intent": "edit"}})
    assert execute(ctx).output["template_id"] == "snake"
    assert ctx.usage.cost_usd == pytest.approx(1000 * 0.10 / 1e6 + 200 * 0.50 / 1e6)


# =========================================================================== run(): codegen

STREAM = ":streamGenerateContent"
CODE_TEXT = code_answer(GOOD_CODE["files"], GOOD_CODE["summary"])


def codegen_ctx(cfg: Config, **kw: Any):
    # From scratch: these tests are about the call path (the template strategy has its own).
    scratch = {**GOOD_PLAN, "codegen_strategy": "scratch"}
    upstream = {"plan": plan.validate(make_ctx(cfg, "plan"), scratch)}
    return make_ctx(cfg, "codegen", upstream=upstream, **kw)


def test_codegen_gemini_streams_and_writes_files(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(
        STREAM,
        gemini_stream(CODE_TEXT, prompt_tokens=5000, candidate_tokens=3000, thoughts_tokens=1000),
    )
    ctx = codegen_ctx(llm_config)
    out = execute(ctx)
    assert out.output == GOOD_CODE
    assert out.input["skills"] == ["game-loop", "touch-input"] and out.input["template"] == "snake"
    assert (ctx.staging.root / "index.html").read_text() == INDEX
    assert (ctx.staging.root / "game.js").read_text() == GAME_JS
    assert [(a.kind, a.uri) for a in ctx.artifacts] == [
        ("code", "index.html"),
        ("code", "game.js"),
    ]
    assert ctx.artifacts[0].content == {"path": "index.html", "content": INDEX}
    assert ctx.artifacts[0].metadata["model"] == "gemini-3.8-flash"
    assert ctx.extra["model"] == "gemini-3.8-flash" and srv.count(MSG) == 0
    # thinking tokens (thoughtsTokenCount) are billed as output
    assert (ctx.usage.tokens_in, ctx.usage.tokens_out) == (5000, 4000)
    assert ctx.usage.cost_usd == pytest.approx(5000 * 0.75 / 1e6 + 4000 * 3.75 / 1e6)
    req = srv.for_route(STREAM)[0]
    assert "alt=sse" in req.path  # streamed, and plain text: no JSON mode for files
    assert "responseMimeType" not in req.json.get("generationConfig", {})


def test_codegen_gemini_failure_falls_back_to_claude(
    llm_config: Config, srv: FakeServer, waits: list[float]
) -> None:
    srv.default(STREAM, gemini_error(500))
    srv.enqueue(MSG, anthropic_stream(CODE_TEXT, input_tokens=6000))
    ctx = codegen_ctx(llm_config)
    out = execute(ctx)
    assert out.output == GOOD_CODE
    assert srv.count(STREAM) == 2 and len(waits) == 1  # max_retries=1 on Gemini first
    assert ctx.extra["model"] == "claude-sonnet-5-5"
    assert [f["model"] for f in ctx.extra["fallback_from"]] == ["gemini-3.8-flash"]
    assert ctx.artifacts[0].metadata["model"] == "claude-sonnet-5-5"
    assert ctx.artifacts[0].metadata["fallback_from"] == ["gemini-3.8-flash"]
    assert ctx.usage.models == ["claude-sonnet-5-5"] and ctx.usage.tokens_in == 6000
    body = srv.for_route(MSG)[0].json
    assert body["model"] == "claude-sonnet-5-5" and body["stream"] is True
    assert body["max_tokens"] == 32768


def test_codegen_malformed_gemini_answer_falls_back_and_both_usages_recorded(
    llm_config: Config, srv: FakeServer
) -> None:
    srv.enqueue(STREAM, gemini_stream("```html\n<html>oops</html>\n```", prompt_tokens=100))
    srv.enqueue(MSG, anthropic_stream(CODE_TEXT, input_tokens=200, output_tokens=300))
    ctx = codegen_ctx(llm_config)
    execute(ctx)
    assert ctx.usage.models == ["gemini-3.8-flash", "claude-sonnet-5-5"]
    assert ctx.usage.tokens_in == 300 and ctx.usage.tokens_out == 17 + 300
    assert ctx.usage.model == "claude-sonnet-5-5"
    assert ctx.extra["fallback_from"][0]["error"]["code"] == "v2_output_invalid"


def test_codegen_both_fail(llm_config: Config, srv: FakeServer, waits: list[float]) -> None:
    srv.default(STREAM, gemini_error(503))
    srv.default(MSG, anthropic_error(529))
    with pytest.raises(ProviderUnavailable) as ei:
        execute(codegen_ctx(llm_config))
    assert ei.value.retryable and ei.value.provider == "anthropic"
    assert ei.value.detail["primary_error"]["provider"] == "google"
    assert [r["model"] for r in ei.value.detail["route"]] == [
        "gemini-3.8-flash",
        "claude-sonnet-5-5",
    ]


def test_codegen_no_fallback_without_anthropic_key(
    llm_config: Config, srv: FakeServer, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    srv.default(STREAM, gemini_error(500))
    with pytest.raises(ProviderUnavailable) as ei:
        execute(codegen_ctx(llm_config))
    assert ei.value.provider == "google" and srv.count(MSG) == 0


def test_codegen_anthropic_route_has_no_fallback(
    tmp_path: Path, srv: FakeServer, fake_env: dict[str, str], waits: list[float]
) -> None:
    cfg = make_config(tmp_path, llm_overrides(srv, codegen="anthropic"))
    srv.default(MSG, anthropic_error(500))
    with pytest.raises(ProviderUnavailable):
        execute(codegen_ctx(cfg))
    assert srv.count(STREAM) == 0


def test_codegen_edit_sends_existing_files(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(STREAM, gemini_stream(CODE_TEXT))
    ctx = codegen_ctx(llm_config, existing={"index.html": "<p>old</p>", "style.css": "body{}"})
    execute(ctx)
    prompt = srv.for_route(STREAM)[0].json["contents"][0]["parts"][0]["text"]
    assert "<p>old</p>" in prompt and '<file path="style.css">' in prompt
    assert (ctx.staging.root / "style.css").read_text() == "body{}"  # untouched, still there


def test_codegen_repair_hint_in_prompt(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(STREAM, gemini_stream(CODE_TEXT))
    ctx = codegen_ctx(llm_config, attempt=2, repair_hint="Include 'index.html'.")
    execute(ctx)
    prompt = srv.for_route(STREAM)[0].json["contents"][0]["parts"][0]["text"]
    assert "REJECTED: Include 'index.html'." in prompt


# =========================================================================== run(): asset


def asset_ctx(cfg: Config, **kw: Any):
    upstream = {"plan": plan.validate(make_ctx(cfg, "plan"), GOOD_PLAN)}
    return make_ctx(cfg, "asset", upstream=upstream, **kw)


def test_asset_gemini_image_model_writes_valid_pngs(llm_config: Config, srv: FakeServer) -> None:
    srv.default(GEN, gemini_image(tiny_png(48, 48), text_tokens=4, thoughts=20))
    ctx = asset_ctx(llm_config)
    out = execute(ctx)
    names = ["assets/head.png", "assets/image_0.png"]
    assert out.output == {"images": [{"name": n, "uri": n} for n in names]}
    assert [s["name"] for s in out.input["image_specs"]] == names
    for n in names:
        assert assert_valid_png((ctx.staging.root / n).read_bytes()) == (48, 48)
    assert [(a.kind, a.uri) for a in ctx.artifacts] == [("image", n) for n in names]
    meta = ctx.artifacts[0].metadata
    assert meta["mime"] == "image/png" and meta["model"] == "gemini-nano-banana-2.1"
    assert meta["bytes"] == len(tiny_png(48, 48))
    # per image, plus the text and thinking tokens of each call as output
    assert ctx.usage.images == 2 and ctx.usage.tokens_out == 2 * 24
    assert ctx.usage.cost_usd == pytest.approx(2 * (0.0336 + 9 * 1.5 / 1e6 + 24 * 7.5 / 1e6))
    assert asset.BYTES_KEY not in ctx.extra
    prompts = sorted(r.json["contents"][0]["parts"][0]["text"] for r in srv.for_route(GEN))
    assert "snake head" in prompts[1] and "Neon Snake" in prompts[1]
    assert all(r.headers["x-goog-api-key"] for r in srv.for_route(GEN))  # no Vertex needed


def test_asset_imagen_on_vertex_stays_an_option(
    tmp_path: Path, srv: FakeServer, fake_env: dict[str, str]
) -> None:
    over = llm_overrides(srv)
    over["providers"]["google"].update(image_vertexai=True, image_model="imagen-4.0-generate-001")
    cfg = make_config(tmp_path, over)
    srv.default(":predict", imagen_predict(tiny_png(5, 7)))
    ctx = asset_ctx(cfg)
    execute(ctx)
    assert assert_valid_png((ctx.staging.root / "assets/head.png").read_bytes()) == (5, 7)
    assert "/projects/proj/" in srv.for_route(":predict")[0].path
    assert ctx.artifacts[0].metadata["model"] == "imagen-4.0-generate-001"


def test_asset_images_are_generated_concurrently(
    tmp_path: Path, srv: FakeServer, fake_env: dict[str, str]
) -> None:
    cfg = make_config(tmp_path, llm_overrides(srv))
    reply = gemini_image(tiny_png(4, 4))
    reply.delay_s = 0.3
    srv.default(GEN, reply)
    plan_out = plan.validate(make_ctx(cfg, "plan"), {**GOOD_PLAN, "image_count": 3})
    ctx = make_ctx(cfg, "asset", upstream={"plan": plan_out})
    execute(ctx)
    assert srv.count(GEN) == 3 and srv.max_inflight == 3  # one slow image at a time: 1
    # bounded per provider: image_concurrency = 2 across the daemon
    over = llm_overrides(srv)
    over["providers"]["google"]["image_concurrency"] = 2
    cfg2 = make_config(tmp_path, over)
    srv.max_inflight = 0
    execute(make_ctx(cfg2, "asset", upstream={"plan": plan_out}))
    assert srv.max_inflight == 2


def test_asset_route_falls_back_to_offline_drawing(
    tmp_path: Path, srv: FakeServer, fake_env: dict[str, str], waits: list[float]
) -> None:
    cfg = make_config(tmp_path, llm_overrides(srv, asset=["google", "offline"]))
    srv.default(GEN, gemini_not_found("gemini-nano-banana-2.1"))
    ctx = asset_ctx(cfg)
    execute(ctx)
    assert srv.count(GEN) == 2  # one 404 per image, not retried
    assert [a.metadata["model"] for a in ctx.artifacts] == ["offline", "offline"]
    assert assert_valid_png((ctx.staging.root / "assets/head.png").read_bytes())


def test_asset_one_bad_image_goes_to_the_next_step_alone(
    tmp_path: Path, srv: FakeServer, fake_env: dict[str, str]
) -> None:
    """Bytes that are not an image are refused as they are drawn: that image alone is
    drawn by the route's next step; the good one is kept, nothing is drawn twice."""
    cfg = make_config(tmp_path, llm_overrides(srv, asset=["google", "offline"]))
    srv.enqueue(GEN, gemini_image(tiny_png(48, 48)), gemini_image(b"definitely not a png"))
    ctx = asset_ctx(cfg)
    execute(ctx)
    assert srv.count(GEN) == 2
    models = sorted(a.metadata["model"] for a in ctx.artifacts)
    assert models == ["gemini-nano-banana-2.1", "offline"]
    for a in ctx.artifacts:
        assert assert_valid_png((ctx.staging.root / a.uri).read_bytes())
    assert [f["error"]["code"] for f in ctx.extra["fallback_from"]] == ["v2_output_invalid"]


def test_asset_non_image_bytes_rejected(llm_config: Config, srv: FakeServer) -> None:
    srv.default(GEN, gemini_image(b"definitely not a png"))
    ctx = asset_ctx(llm_config)
    with pytest.raises(OutputInvalid, match="not an image"):
        execute(ctx)
    assert not (ctx.staging.root / "assets").exists()


def test_asset_routed_to_text_only_provider(tmp_path: Path, srv: FakeServer, fake_env) -> None:
    # Rejected at start-up by config validation, and again at run time should a Config
    # be built around the validation.
    with pytest.raises(ConfigError, match=r"providers\.route\.asset"):
        make_config(tmp_path, llm_overrides(srv, asset="anthropic"))
    cfg = make_config(tmp_path, llm_overrides(srv))
    routed = dataclasses.replace(cfg.providers, route={**cfg.providers.route, "asset": "anthropic"})
    with pytest.raises(ProviderNotConfigured, match="cannot generate images"):
        execute(asset_ctx(dataclasses.replace(cfg, providers=routed)))


def test_asset_zero_images(llm_config: Config, srv: FakeServer) -> None:
    ctx = make_ctx(
        llm_config,
        "asset",
        upstream={
            "plan": plan.validate(make_ctx(llm_config, "plan"), {**GOOD_PLAN, "image_count": 0})
        },
    )
    assert execute(ctx).output == {"images": []} and srv.count() == 0


def test_asset_injected_output_records_artifacts_only(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, {"testing": {"allow_inject": True}})
    images = [{"name": "assets/a.png", "uri": "assets/a.png"}]
    ctx = make_ctx(
        cfg,
        "asset",
        upstream={"plan": GOOD_PLAN},
        options={"inject": {"asset": {"output": {"images": images}}}},
    )
    assert execute(ctx).output == {"images": images}
    assert [(a.kind, a.uri, a.metadata) for a in ctx.artifacts] == [
        ("image", "assets/a.png", {"injected": True})
    ]
    assert not (ctx.staging.root / "assets").exists()


# =========================================================================== run(): qa / fix


def test_qa_review_run_lists_the_planned_images(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_message(GOOD_REVIEW, input_tokens=3000, output_tokens=300))
    plan_out = plan.validate(make_ctx(llm_config, "plan"), GOOD_PLAN)
    ctx = make_ctx(llm_config, "qa_review", upstream={"codegen": GOOD_CODE, "plan": plan_out})
    out = execute(ctx)
    assert out.output == GOOD_REVIEW and out.input["files"] == GOOD_CODE["files"]
    prompt = srv.for_route(MSG)[0].json["messages"][0]["content"]
    assert GAME_JS in prompt and '"template_id": "snake"' in prompt
    images = prompt[prompt.index("Images being generated") : prompt.index("Files:")]
    assert "assets/head.png (48x48): snake head" in images
    assert "assets/image_0.png (512x512)" in images
    assert ctx.artifacts[0].kind == "review"


def test_fix_run_streams_and_writes_only_changed_files(llm_config: Config, srv: FakeServer) -> None:
    fixed_js = GAME_JS + "\n// fixed"
    answer = code_answer(
        [
            {"path": "game.js", "content": fixed_js},
            {"path": "index.html", "content": INDEX},  # unchanged: not rewritten
        ]
    )
    srv.enqueue(STREAM, gemini_stream(answer))
    ctx = make_ctx(llm_config, "fix", upstream={"codegen": GOOD_CODE, "qa_review": GOOD_REVIEW})
    out = execute(ctx)
    assert out.input["findings"] == GOOD_REVIEW["findings"]
    assert (ctx.staging.root / "game.js").read_text() == fixed_js
    assert not (ctx.staging.root / "index.html").exists()
    assert [(a.kind, a.uri) for a in ctx.artifacts] == [("code", "game.js")]
    assert ctx.artifacts[0].metadata["model"] == "gemini-3.8-flash"
    prompt = srv.for_route(STREAM)[0].json["contents"][0]["parts"][0]["text"]
    assert "loop never starts" in prompt


def test_fix_with_nothing_to_change(llm_config: Config, srv: FakeServer) -> None:
    srv.enqueue(STREAM, gemini_stream('{"files": []}'))
    ctx = make_ctx(llm_config, "fix", upstream={"codegen": GOOD_CODE, "qa_review": GOOD_REVIEW})
    assert execute(ctx).output == {"files": []} and ctx.artifacts == []


# =========================================================================== stop + secrets


def test_stop_while_waiting_to_retry_raises_stop_reason(
    llm_config: Config, srv: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv.default(MSG, anthropic_error(429, retry_after="30"))
    ctx = make_ctx(llm_config, "intent")
    real_sleep = Backoff.sleep

    def stop_then_sleep(self: Backoff, seconds: float, should_stop=None) -> bool:
        ctx.stop_event.set()
        return real_sleep(self, seconds, should_stop)

    monkeypatch.setattr(Backoff, "sleep", stop_then_sleep)
    with pytest.raises(Canceled):
        execute(ctx)
    assert srv.count(MSG) == 1


def test_secrets_never_reach_usage_artifacts_or_errors(
    llm_config: Config, srv: FakeServer, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    keys = list(FAKE_KEYS.values())
    srv.default(STREAM, gemini_error(401, f"bad key {FAKE_KEYS['GEMINI_API_KEY']}"))
    srv.default(MSG, anthropic_error(403, f"key {FAKE_KEYS['ANTHROPIC_API_KEY']} forbidden"))
    ctx = codegen_ctx(llm_config)
    with pytest.raises(Exception) as ei:
        execute(ctx)
    dumped = json.dumps(
        {
            "error": ei.value.to_json(),
            "extra": ctx.extra,
            "usage": vars(ctx.usage),
            "artifacts": [vars(a) for a in ctx.artifacts],
        },
        default=str,
    )
    for key in keys:
        assert key not in dumped and key not in caplog.text


def test_truncated_answer_gets_be_shorter_hint(llm_config: Config, srv: FakeServer) -> None:
    cut = CODE_TEXT[: CODE_TEXT.index("requestAnimationFrame")]
    srv.enqueue(STREAM, gemini_stream(cut, finish_reason="MAX_TOKENS"))
    srv.enqueue(MSG, anthropic_stream(cut, stop_reason="max_tokens"))
    with pytest.raises(OutputInvalid, match=r"cut off .* inside file 'game.js'") as ei:
        execute(codegen_ctx(llm_config))
    assert "concise" in ei.value.repair_hint
