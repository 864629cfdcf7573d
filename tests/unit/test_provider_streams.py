"""Streaming, wait hints, unknown models and model lists, through the real anthropic and
google-genai SDKs against a fake server speaking the services' wire formats.

Timing is scaled down (tens of milliseconds where the services take seconds); the same
fakes at real speed are measured in bench/bench_providers.py."""

from __future__ import annotations

import time

import pytest

from enginev2d.config import AnthropicConfig, GoogleConfig
from enginev2d.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRefusal,
    ProviderUnavailable,
)
from enginev2d.providers.anthropic import AnthropicProvider
from enginev2d.providers.base import CallOptions, parse_retry_delay, usage_of
from enginev2d.providers.google import GoogleProvider
from tests.fakes import (
    FakeServer,
    anthropic_models,
    anthropic_not_found,
    anthropic_stream,
    gemini_error,
    gemini_models,
    gemini_not_found,
    gemini_rate_limited,
    gemini_stream,
    gemini_text,
)
from tests.fakes.fixtures import srv, waits

__all__ = ["srv", "waits"]

ENV = {"ANTHROPIC_API_KEY": "sk-ant-test-x", "GEMINI_API_KEY": "AIzaTESTkey00000000000000000"}
MSG = "/v1/messages"
STREAM = ":streamGenerateContent"
GEN = ":generateContent"
TEXT = "".join(f'line {i}: const s = "quoted";\n' for i in range(40))


def claude(srv: FakeServer, **kw) -> AnthropicProvider:
    return AnthropicProvider(AnthropicConfig(base_url=srv.url, **kw), env=ENV)


def gemini(srv: FakeServer, **kw) -> GoogleProvider:
    return GoogleProvider(GoogleConfig(base_url=srv.url, **kw), env=ENV)


def streamed(progress: list | None = None, **kw) -> CallOptions:
    return CallOptions(stream=True, on_progress=None if progress is None else progress.append, **kw)


# =========================================================================== anthropic


def test_anthropic_stream_text_usage_and_progress(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_stream(TEXT, thinking="let me think " * 20, output_tokens=900))
    seen: list[dict] = []
    reply = claude(srv).generate(
        system="s", prompt="p", task_key="codegen", json_mode=False, options=streamed(seen)
    )
    assert reply.text == TEXT  # thinking deltas are not part of the answer
    assert (reply.model, reply.tokens_in, reply.tokens_out) == ("claude-sonnet-5-5", 11, 900)
    assert reply.stop_reason == "end_turn" and not reply.truncated
    body = srv.for_route(MSG)[0].json
    assert body["stream"] is True and body["max_tokens"] == 32768
    assert "JSON" not in body["system"]
    assert [p["bytes"] for p in seen] == sorted(p["bytes"] for p in seen)
    assert seen[-1] == {"bytes": len(TEXT.encode()), "tokens": 900, "model": "claude-sonnet-5-5"}
    assert any(p["bytes"] == 0 and p["tokens"] > 0 for p in seen)  # thinking moves tokens


def test_anthropic_long_answer_succeeds_past_the_call_timeout(srv: FakeServer) -> None:
    # ~1.2 s of chunks every 40 ms: a one-shot call with timeout_s=0.4 would fail; the
    # stream only needs each chunk within the idle limit. The idle limit is 25 chunk gaps
    # (it was 7 and a loaded CI machine once stalled the fake server past it).
    srv.enqueue(MSG, anthropic_stream(TEXT, chunk_chars=40, first_delay=0.1, delay=0.04))
    p = claude(srv, timeout_s=0.4, stream_idle_s=1.0, stream_max_s=10, max_retries=0)
    started = time.monotonic()
    reply = p.generate(system="s", prompt="p", json_mode=False, options=streamed())
    assert reply.text == TEXT and time.monotonic() - started > 0.4


def test_anthropic_stream_idle_timeout(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_stream(TEXT, chunk_chars=400, delay=1.0))
    p = claude(srv, stream_idle_s=0.2, max_retries=0)
    with pytest.raises(ProviderUnavailable, match=r"stream silent for more than 0.2s"):
        p.generate(system="s", prompt="p", json_mode=False, options=streamed())


def test_anthropic_stream_ceiling(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_stream(TEXT, chunk_chars=20, delay=0.03))
    p = claude(srv, stream_idle_s=1.0, stream_max_s=0.25, max_retries=0)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match=r"streamed answer not finished within 0.25s"):
        p.generate(system="s", prompt="p", json_mode=False, options=streamed())
    assert time.monotonic() - started < 1.0


def test_anthropic_stream_ceiling_follows_the_task_deadline(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_stream(TEXT, chunk_chars=20, delay=0.03))
    p = claude(srv, stream_max_s=300, max_retries=0)
    opts = streamed(deadline=time.monotonic() + 0.25)
    with pytest.raises(ProviderUnavailable, match="not finished within"):
        p.generate(system="s", prompt="p", json_mode=False, options=opts)


def test_anthropic_error_event_mid_stream_is_retried(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue(MSG, anthropic_stream(TEXT, error="overloaded_error"), anthropic_stream(TEXT))
    reply = claude(srv, max_retries=1).generate(
        system="s", prompt="p", json_mode=False, options=streamed()
    )
    assert reply.text == TEXT and srv.count(MSG) == 2 and len(waits) == 1


def test_anthropic_error_event_classified_like_its_status(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_stream(TEXT, error="overloaded_error"))
    with pytest.raises(ProviderUnavailable, match=r"overloaded \(HTTP 529\)") as ei:
        claude(srv, max_retries=0).generate(system="s", prompt="p", options=streamed())
    assert ei.value.status == 529 and ei.value.retryable


def test_anthropic_cut_stream(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_stream(TEXT, drop=True, output_tokens=50))
    with pytest.raises(ProviderUnavailable) as ei:
        claude(srv, max_retries=0).generate(system="s", prompt="p", options=streamed())
    assert usage_of(ei.value) == ("claude-haiku-5-5", 11, 50)  # what it consumed is kept


def test_anthropic_retried_cut_stream_reports_what_it_used(
    srv: FakeServer, waits: list[float]
) -> None:
    # the cut try was billed: its usage goes to on_usage before the retry, the reply
    # carries only its own try's
    srv.enqueue(MSG, anthropic_stream(TEXT, drop=True, output_tokens=50), anthropic_stream(TEXT))
    used: list[tuple[str, int, int]] = []
    reply = claude(srv, max_retries=1).generate(
        system="s", prompt="p", options=streamed(on_usage=lambda *u: used.append(u))
    )
    assert reply.text == TEXT and len(waits) == 1
    assert used == [("claude-haiku-5-5", 11, 50)]
    assert (reply.tokens_in, reply.tokens_out) == (11, 7)


def test_anthropic_stream_token_limit_is_truncated(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_stream(TEXT[:100], stop_reason="max_tokens"))
    reply = claude(srv).generate(system="s", prompt="p", options=streamed())
    assert reply.truncated and reply.text == TEXT[:100]


def test_anthropic_stream_refusal(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_stream("", stop_reason="refusal", output_tokens=3))
    with pytest.raises(ProviderRefusal):
        claude(srv).generate(system="s", prompt="p", options=streamed())
    assert srv.count(MSG) == 1


def test_anthropic_unknown_model_is_a_404_not_retried(srv: FakeServer, waits: list[float]) -> None:
    srv.default(MSG, anthropic_not_found("claude-gone-1"))
    with pytest.raises(ProviderError, match="model claude-gone-1 not found") as ei:
        claude(srv).generate(system="s", prompt="p", model="claude-gone-1", options=streamed())
    assert ei.value.status == 404 and not ei.value.retryable and srv.count(MSG) == 1


def test_anthropic_lists_models_across_pages(srv: FakeServer) -> None:
    srv.enqueue(
        "/v1/models",
        anthropic_models("claude-haiku-5-5", "claude-sonnet-5", has_more=True),
        anthropic_models("claude-sonnet-5-5", lifecycle={"claude-sonnet-5-5": "active"}),
    )
    models = claude(srv).list_models()
    assert [m["id"] for m in models] == ["claude-haiku-5-5", "claude-sonnet-5", "claude-sonnet-5-5"]
    second = srv.for_route("/v1/models")[1]
    assert second.method == "GET" and "after_id=claude-sonnet-5" in second.path


# =========================================================================== gemini


def test_gemini_stream_text_thoughts_billed_and_progress(srv: FakeServer) -> None:
    srv.enqueue(
        STREAM,
        gemini_stream(
            TEXT, thinking="plan the loop", candidate_tokens=400, thoughts_tokens=250, delay=0.0
        ),
    )
    seen: list[dict] = []
    reply = gemini(srv).generate(system="s", prompt="p", json_mode=False, options=streamed(seen))
    assert reply.text == TEXT  # thought parts are not part of the answer
    assert (reply.tokens_in, reply.tokens_out) == (13, 650)  # thinking billed as output
    req = srv.for_route(STREAM)[0]
    assert "alt=sse" in req.path and req.path.split("?")[0].endswith(
        "/models/gemini-3.8-flash:streamGenerateContent"
    )
    assert seen[-1] == {"bytes": len(TEXT.encode()), "tokens": 650, "model": "gemini-3.8-flash"}


def test_gemini_thoughts_billed_without_streaming(srv: FakeServer) -> None:
    reply = gemini_text("{}", prompt_tokens=10, candidate_tokens=20)
    reply.body["usageMetadata"]["thoughtsTokenCount"] = 300
    srv.enqueue(GEN, reply)
    assert gemini(srv).generate(system="s", prompt="p").tokens_out == 320


def test_gemini_long_answer_succeeds_past_the_call_timeout(srv: FakeServer) -> None:
    srv.enqueue(STREAM, gemini_stream(TEXT, chunk_chars=40, first_delay=0.1, delay=0.04))
    p = gemini(srv, timeout_s=0.4, stream_idle_s=1.0, stream_max_s=10, max_retries=0)
    started = time.monotonic()
    reply = p.generate(system="s", prompt="p", json_mode=False, options=streamed())
    assert reply.text == TEXT and time.monotonic() - started > 0.4
    assert srv.for_route(STREAM)[0].headers["X-Server-Timeout"] == "10"


def test_gemini_stream_idle_timeout(srv: FakeServer) -> None:
    srv.enqueue(STREAM, gemini_stream(TEXT, chunk_chars=400, delay=1.0))
    p = gemini(srv, stream_idle_s=0.2, max_retries=0)
    with pytest.raises(ProviderUnavailable, match="stream silent"):
        p.generate(system="s", prompt="p", options=streamed())


def test_gemini_stream_ceiling(srv: FakeServer) -> None:
    srv.enqueue(STREAM, gemini_stream(TEXT, chunk_chars=20, delay=0.03))
    p = gemini(srv, stream_max_s=0.25, max_retries=0)
    with pytest.raises(ProviderUnavailable, match=r"not finished within 0.25s"):
        p.generate(system="s", prompt="p", options=streamed())


def test_gemini_error_chunk_mid_stream(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue(STREAM, gemini_stream(TEXT, error_after=gemini_error(503, "overloaded")))
    srv.enqueue(STREAM, gemini_stream(TEXT))
    reply = gemini(srv, max_retries=1).generate(system="s", prompt="p", options=streamed())
    assert reply.text == TEXT and srv.count(STREAM) == 2 and len(waits) == 1


def test_gemini_retried_cut_stream_reports_what_it_used(
    srv: FakeServer, waits: list[float]
) -> None:
    srv.enqueue(
        STREAM,
        gemini_stream(TEXT, finish_reason=None, drop=True, candidate_tokens=40),
        gemini_stream(TEXT),
    )
    used: list[tuple[str, int, int]] = []
    reply = gemini(srv, max_retries=1).generate(
        system="s", prompt="p", options=streamed(on_usage=lambda *u: used.append(u))
    )
    assert reply.text == TEXT and len(waits) == 1
    assert [(u[1], u[2]) for u in used] == [(13, 40)]


def test_gemini_stream_without_finish_reason(srv: FakeServer) -> None:
    srv.enqueue(STREAM, gemini_stream(TEXT, finish_reason=None, drop=True))
    with pytest.raises(ProviderUnavailable):
        gemini(srv, max_retries=0).generate(system="s", prompt="p", options=streamed())


def test_gemini_429_retry_info_is_honoured(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue(GEN, gemini_rate_limited("4s"), gemini_text("{}"))
    assert gemini(srv).generate(system="s", prompt="p").text == "{}"
    assert waits == [4.0] and srv.count(GEN) == 2


def test_gemini_429_retry_info_on_a_stream(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue(STREAM, gemini_rate_limited("1.5s"), gemini_stream(TEXT))
    assert gemini(srv).generate(system="s", prompt="p", options=streamed()).text == TEXT
    assert waits == [1.5]


def test_gemini_retry_header_wins_over_body(srv: FakeServer, waits: list[float]) -> None:
    limited = gemini_rate_limited("30s")
    limited.headers["Retry-After"] = "2"
    srv.enqueue(GEN, limited, gemini_text("{}"))
    gemini(srv).generate(system="s", prompt="p")
    assert waits == [2.0]


def test_gemini_long_wait_beyond_the_task_deadline_fails_cleanly(
    srv: FakeServer, waits: list[float]
) -> None:
    srv.default(GEN, gemini_rate_limited("45s"))
    opts = CallOptions(deadline=time.monotonic() + 10)
    with pytest.raises(ProviderRateLimited, match=r"asked to wait 45s, more than the .*s this"):
        gemini(srv).generate(system="s", prompt="p", options=opts)
    assert waits == [] and srv.count(GEN) == 1  # no sleep, no hang


def test_gemini_unknown_model_404(srv: FakeServer, waits: list[float]) -> None:
    srv.default(GEN, gemini_not_found("gemini-2.0-flash"))
    with pytest.raises(ProviderError, match=r"model gemini-2.0-flash not found") as ei:
        gemini(srv).generate(system="s", prompt="p", model="gemini-2.0-flash")
    assert ei.value.status == 404 and srv.count(GEN) == 1 and waits == []


def test_gemini_lists_models_across_pages(srv: FakeServer) -> None:
    srv.enqueue(
        "/models",
        gemini_models("gemini-3.8-flash", next_page_token="p2"),
        gemini_models("gemini-nano-banana-2.1"),
    )
    ids = [m["id"] for m in gemini(srv).list_models()]
    assert ids == ["gemini-3.8-flash", "gemini-nano-banana-2.1"]
    assert "pageToken=p2" in srv.for_route("/models")[1].path


@pytest.mark.parametrize(
    ("body", "seconds"),
    [
        (gemini_rate_limited("4s").body, 4.0),
        (gemini_rate_limited("0.500s").body, 0.5),
        ([gemini_rate_limited("12s").body], 12.0),  # streaming / Vertex: a one-item list
        (
            {
                "error": {
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": {"seconds": 3, "nanos": 500000000},
                        }
                    ]
                }
            },
            3.5,
        ),
        (gemini_error(429).body, None),
        ("not json", None),
    ],
)
def test_parse_retry_delay(body, seconds) -> None:
    assert parse_retry_delay(body) == seconds


def test_stream_meter_stops_when_the_job_stops(srv: FakeServer) -> None:
    srv.enqueue(STREAM, gemini_stream(TEXT, chunk_chars=20, delay=0.01))
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(ProviderUnavailable, match="stopped while streaming"):
        gemini(srv, max_retries=0).generate(
            system="s", prompt="p", options=streamed(should_stop=stop)
        )
