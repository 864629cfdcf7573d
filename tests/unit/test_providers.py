"""Providers through their real SDKs / requests against a fake server on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests
from google.oauth2.credentials import Credentials

from enginev2d import providers
from enginev2d.config import AnthropicConfig, GoogleConfig, ModalConfig
from enginev2d.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRefusal,
    ProviderUnavailable,
)
from enginev2d.providers.anthropic import AnthropicProvider
from enginev2d.providers.base import parse_retry_after, scrub, usage_of
from enginev2d.providers.google import GoogleProvider, aspect_ratio
from enginev2d.providers.modal import ModalProvider
from enginev2d.providers.retry import Backoff
from tests.fakes import (
    FakeServer,
    Reply,
    anthropic_error,
    anthropic_message,
    gemini_blocked,
    gemini_error,
    gemini_image,
    gemini_text,
    imagen_predict,
    modal_error,
    modal_text,
    tiny_png,
)

ANTHROPIC_KEY = "sk-ant-test-SECRET-abcdef123456"
GEMINI_KEY = "AIzaTESTSECRETgeminikey0123456789"
MODAL_ID = "ak-TESTSECRETmodalid0001"
MODAL_SECRET = "as-TESTSECRETmodalsecret0001"
SECRETS = (ANTHROPIC_KEY, GEMINI_KEY, MODAL_ID, MODAL_SECRET)
ENV = {
    "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
    "GEMINI_API_KEY": GEMINI_KEY,
    "MODAL_TOKEN_ID": MODAL_ID,
    "MODAL_TOKEN_SECRET": MODAL_SECRET,
}
GEN = ":generateContent"
MSG = "/v1/messages"


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("GOOGLE_API_KEY", "MODAL_AUTH_TOKEN", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    providers.reset_cache()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff waits are recorded instead of slept."""
    seen: list[float] = []

    def fake_sleep(self: Backoff, seconds: float, should_stop=None) -> bool:
        seen.append(seconds)
        return True

    monkeypatch.setattr(Backoff, "sleep", fake_sleep)
    monkeypatch.setattr(Backoff, "DELAY_JITTER", 0.0)
    return seen


def claude(srv: FakeServer, **kw) -> AnthropicProvider:
    return AnthropicProvider(AnthropicConfig(base_url=srv.url, **kw), env=ENV)


def gemini(srv: FakeServer, **kw) -> GoogleProvider:
    return GoogleProvider(
        GoogleConfig(base_url=srv.url, project="proj", **kw),
        env=ENV,
        credentials=Credentials(token="fake-oauth-token"),
    )


def modal(srv: FakeServer, **kw) -> ModalProvider:
    cfg = ModalConfig(
        detect_intent_url=srv.url + "/v2_detect_intent",
        generate_code_url=srv.url + "/v2_generate_code",
        chat_haiku_url=srv.url + "/v2_chat_haiku",
        **kw,
    )
    return ModalProvider(cfg, env=ENV)


def assert_no_secret(*texts: object) -> None:
    for t in texts:
        for s in SECRETS:
            assert s not in str(t)


# =========================================================================== helpers


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480) == 10
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after(None) is None


def test_scrub_removes_keys_and_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"bad key {ANTHROPIC_KEY} and Bearer abc.def and AIzaSyA0123456789abcdefghijk"
    out = scrub(text)
    assert ANTHROPIC_KEY not in out and "abc.def" not in out and "AIzaSy" not in out


def test_backoff_delay_grows_caps_and_honours_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Backoff, "DELAY_JITTER", 0.0)
    b = Backoff(5)
    assert [b.delay(i) for i in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert b.delay(10) == Backoff.MAX_DELAY
    assert b.delay(1, retry_after=3) == 3
    assert b.delay(1, retry_after=10_000) == 10_000  # not capped: run() refuses to sleep it


def test_backoff_sleep_stops_early() -> None:
    assert Backoff(1).sleep(30, should_stop=lambda: True) is False
    assert Backoff(1).sleep(0) is True


def test_aspect_ratio_picks_closest() -> None:
    assert aspect_ratio(512, 512) == "1:1"
    assert aspect_ratio(1920, 1080) == "16:9"
    assert aspect_ratio(300, 400) == "3:4"


# =========================================================================== anthropic


def test_anthropic_success(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_message('{"intent": "edit"}', input_tokens=40, output_tokens=5))
    reply = claude(srv).generate(system="sys", prompt="hello", task_key="intent")
    assert (reply.text, reply.model, reply.tokens_in, reply.tokens_out) == (
        '{"intent": "edit"}',
        "claude-haiku-5-5",
        40,
        5,
    )
    req = srv.for_route(MSG)[0]
    # anthropic 2.x sends the key as a bearer token; older releases as x-api-key
    assert ANTHROPIC_KEY in (req.headers.get("x-api-key"), req.headers.get("Authorization", "")[7:])
    body = req.json
    assert body["model"] == "claude-haiku-5-5"
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["system"].startswith("sys") and "JSON" in body["system"]
    assert body["max_tokens"] == 8192


def test_anthropic_codegen_uses_codegen_model(srv: FakeServer) -> None:
    srv.enqueue(MSG, anthropic_message("{}"))
    reply = claude(srv).generate(system="s", prompt="p", task_key="codegen", max_tokens=100)
    assert reply.model == "claude-sonnet-5-5"
    assert srv.for_route(MSG)[0].json["max_tokens"] == 100


def test_anthropic_429_retry_after_honoured(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue(MSG, anthropic_error(429, retry_after="3"), anthropic_message("{}"))
    reply = claude(srv).generate(system="s", prompt="p")
    assert reply.text == "{}"
    assert waits == [3.0]
    assert srv.count(MSG) == 2  # SDK retries are off: exactly one retry, ours


def test_anthropic_retry_after_over_the_limit_fails_at_once(
    srv: FakeServer, waits: list[float]
) -> None:
    # Retrying sooner than asked only earns another 429: an hour's wait is a clean failure.
    srv.enqueue(MSG, anthropic_error(429, retry_after="3600"), anthropic_message("{}"))
    with pytest.raises(ProviderRateLimited, match=r"asked to wait 3600s, over the 60s limit"):
        claude(srv).generate(system="s", prompt="p")
    assert waits == [] and srv.count(MSG) == 1


def test_anthropic_429_exhausted_is_retryable_rate_limit(
    srv: FakeServer, waits: list[float]
) -> None:
    srv.default(MSG, anthropic_error(429, retry_after="2"))
    with pytest.raises(ProviderRateLimited) as ei:
        claude(srv, max_retries=2).generate(system="s", prompt="p")
    assert ei.value.retryable and ei.value.status == 429 and ei.value.retry_after_s == 2
    assert srv.count(MSG) == 3 and waits == [2.0, 2.0]


def test_anthropic_500_backoff_then_success(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue(MSG, anthropic_error(500), anthropic_error(500), anthropic_message("{}"))
    assert claude(srv, max_retries=2).generate(system="s", prompt="p").text == "{}"
    assert waits == [Backoff.INITIAL_DELAY, Backoff.INITIAL_DELAY * 2]


def test_anthropic_500_exhausted(srv: FakeServer, waits: list[float]) -> None:
    srv.default(MSG, anthropic_error(500))
    with pytest.raises(ProviderUnavailable) as ei:
        claude(srv, max_retries=1).generate(system="s", prompt="p")
    assert ei.value.retryable and ei.value.status == 500
    assert srv.count(MSG) == 2


def test_anthropic_529_overloaded(srv: FakeServer, waits: list[float]) -> None:
    srv.default(MSG, anthropic_error(529, "Overloaded"))
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        claude(srv, max_retries=0).generate(system="s", prompt="p")


def test_anthropic_timeout(srv: FakeServer) -> None:
    srv.enqueue(MSG, Reply(hang=True))
    with pytest.raises(ProviderUnavailable, match="no answer within"):
        claude(srv, timeout_s=0.3, max_retries=0).generate(system="s", prompt="p")


def test_anthropic_connection_refused(waits: list[float]) -> None:
    with FakeServer() as dead:
        url = dead.url
    p = AnthropicProvider(AnthropicConfig(base_url=url, max_retries=1), env=ENV)
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        p.generate(system="s", prompt="p")
    assert len(waits) == 1


def test_anthropic_auth_error_is_terminal_and_secret_free(
    srv: FakeServer, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    srv.default(MSG, anthropic_error(401, f"invalid x-api-key {ANTHROPIC_KEY}"))
    with pytest.raises(ProviderAuthError) as ei:
        claude(srv).generate(system="s", prompt="p")
    assert not ei.value.retryable and srv.count(MSG) == 1 and waits == []
    assert_no_secret(ei.value, ei.value.to_json(), caplog.text)
    assert "[redacted]" in str(ei.value)


def test_anthropic_bad_request_not_retried(srv: FakeServer, waits: list[float]) -> None:
    srv.default(MSG, anthropic_error(400, "max_tokens too large"))
    with pytest.raises(ProviderError) as ei:
        claude(srv).generate(system="s", prompt="p")
    assert type(ei.value) is ProviderError and not ei.value.retryable
    assert "max_tokens too large" in ei.value.message


def test_anthropic_refusal_is_terminal_with_usage(srv: FakeServer, waits: list[float]) -> None:
    srv.default(MSG, anthropic_message("", stop_reason="refusal", input_tokens=9, output_tokens=1))
    with pytest.raises(ProviderRefusal) as ei:
        claude(srv).generate(system="s", prompt="p")
    assert not ei.value.retryable and srv.count(MSG) == 1
    assert usage_of(ei.value) == ("claude-haiku-5-5", 9, 1)


def test_anthropic_malformed_body_is_unusable_not_crash(srv: FakeServer) -> None:
    # The model's *text* being bad JSON is the task's business (OutputInvalid, tested
    # there); here the reply is fine but the text is prose.
    srv.enqueue(MSG, anthropic_message("Sure! Here is your game"))
    assert claude(srv).generate(system="s", prompt="p").text == "Sure! Here is your game"


def test_anthropic_missing_key(srv: FakeServer) -> None:
    p = AnthropicProvider(AnthropicConfig(base_url=srv.url), env={})
    with pytest.raises(ProviderNotConfigured, match="ANTHROPIC_API_KEY"):
        p.generate(system="s", prompt="p")
    assert srv.count() == 0 and not p.configured


# =========================================================================== google text


def test_gemini_success(srv: FakeServer) -> None:
    srv.enqueue(GEN, gemini_text({"files": []}, prompt_tokens=100, candidate_tokens=50))
    reply = gemini(srv).generate(system="sys", prompt="make a game", max_tokens=1000)
    assert reply.text == '{"files": []}' and (reply.tokens_in, reply.tokens_out) == (100, 50)
    req = srv.for_route(GEN)[0]
    assert req.path.endswith("/models/gemini-3.8-flash:generateContent")
    assert req.headers["x-goog-api-key"] == GEMINI_KEY
    body = req.json
    assert body["contents"][0]["parts"][0]["text"] == "make a game"
    assert body["systemInstruction"]["parts"][0]["text"] == "sys"
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["generationConfig"]["maxOutputTokens"] == 1000


def test_gemini_google_api_key_fallback_env(srv: FakeServer) -> None:
    srv.enqueue(GEN, gemini_text("{}"))
    p = GoogleProvider(GoogleConfig(base_url=srv.url), env={"GOOGLE_API_KEY": GEMINI_KEY})
    p.generate(system="s", prompt="p")
    assert srv.for_route(GEN)[0].headers["x-goog-api-key"] == GEMINI_KEY


def test_gemini_vertex_text(srv: FakeServer) -> None:
    srv.enqueue(GEN, gemini_text("{}"))
    gemini(srv, vertexai=True).generate(system="s", prompt="p")
    req = srv.for_route(GEN)[0]
    assert "/projects/proj/locations/us-central1/" in req.path
    assert req.headers["Authorization"] == "Bearer fake-oauth-token"


def test_gemini_429_retry_after(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue(GEN, gemini_error(429, retry_after="4"), gemini_text("{}"))
    assert gemini(srv).generate(system="s", prompt="p").text == "{}"
    assert waits == [4.0] and srv.count(GEN) == 2


def test_gemini_500_exhausted(srv: FakeServer, waits: list[float]) -> None:
    srv.default(GEN, gemini_error(500))
    with pytest.raises(ProviderUnavailable) as ei:
        gemini(srv, max_retries=2).generate(system="s", prompt="p")
    assert ei.value.status == 500 and srv.count(GEN) == 3 and len(waits) == 2


def test_gemini_timeout(srv: FakeServer) -> None:
    srv.enqueue(GEN, Reply(hang=True))
    with pytest.raises(ProviderUnavailable, match="no answer within"):
        gemini(srv, timeout_s=0.3, max_retries=0).generate(system="s", prompt="p")


def test_gemini_auth_error_secret_free(srv: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    srv.default(GEN, gemini_error(403, f"API key {GEMINI_KEY} not valid"))
    with pytest.raises(ProviderAuthError) as ei:
        gemini(srv).generate(system="s", prompt="p")
    assert srv.count(GEN) == 1
    assert_no_secret(ei.value, ei.value.to_json(), caplog.text)


@pytest.mark.parametrize(
    "reply",
    [gemini_blocked("SAFETY"), gemini_text("", finish_reason="SAFETY")],
    ids=["prompt-blocked", "finish-safety"],
)
def test_gemini_refusal_terminal(srv: FakeServer, waits: list[float], reply: Reply) -> None:
    srv.default(GEN, reply)
    with pytest.raises(ProviderRefusal):
        gemini(srv).generate(system="s", prompt="p")
    assert srv.count(GEN) == 1 and waits == []


def test_gemini_missing_key(srv: FakeServer) -> None:
    p = GoogleProvider(GoogleConfig(base_url=srv.url), env={})
    with pytest.raises(ProviderNotConfigured, match="GEMINI_API_KEY"):
        p.generate(system="s", prompt="p")
    assert srv.count() == 0


# =========================================================================== google images


IMAGEN = "imagen-4.0-generate-001"


def imagen(srv: FakeServer, **kw) -> GoogleProvider:
    return gemini(srv, image_vertexai=True, image_model=IMAGEN, **kw)


def test_imagen_vertex_predict_returns_png_bytes(srv: FakeServer) -> None:
    png = tiny_png(4, 3)
    srv.enqueue(":predict", imagen_predict(png))
    reply = imagen(srv).generate_image(prompt="a red ship", width=1920, height=1080)
    assert reply.data == png and reply.mime == "image/png"
    assert reply.model == IMAGEN
    req = srv.for_route(":predict")[0]
    assert "/projects/proj/locations/us-central1/publishers/google/models/imagen" in req.path
    body = req.json
    assert body["instances"][0]["prompt"] == "a red ship"
    assert body["parameters"]["sampleCount"] == 1
    assert body["parameters"]["aspectRatio"] == "16:9"


def test_imagen_filtered_is_refusal(srv: FakeServer) -> None:
    srv.enqueue(":predict", Reply(200, {"predictions": []}))
    with pytest.raises(ProviderRefusal):
        imagen(srv).generate_image(prompt="x")


def test_gemini_image_model_through_the_gemini_api_key(srv: FakeServer) -> None:
    png = tiny_png(8, 8, (0, 255, 0))
    srv.enqueue(GEN, gemini_image(png, text="here", image_tokens=1120, text_tokens=5, thoughts=30))
    p = GoogleProvider(GoogleConfig(base_url=srv.url), env=ENV)  # no project, no Vertex
    reply = p.generate_image(prompt="a slime", width=64, height=128)
    assert reply.data == png and reply.model == "gemini-nano-banana-2.1"
    # the image's tokens are priced per image: output = its text and thinking tokens
    assert (reply.tokens_in, reply.tokens_out) == (9, 35)
    req = srv.for_route(GEN)[0]
    assert req.path.endswith("/models/gemini-nano-banana-2.1:generateContent")
    assert req.headers["x-goog-api-key"] == GEMINI_KEY
    gen = req.json["generationConfig"]
    assert gen["responseModalities"] == ["IMAGE"]
    assert gen["imageConfig"]["aspectRatio"] == "9:16"  # closest to 64x128


def test_imagen_without_vertex_is_refused_before_any_call(srv: FakeServer) -> None:
    p = GoogleProvider(GoogleConfig(base_url=srv.url, image_model=IMAGEN), env=ENV)
    with pytest.raises(ProviderNotConfigured, match="image_vertexai"):
        p.generate_image(prompt="x")
    assert srv.count() == 0


def test_gemini_image_without_image_retried(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue(GEN, gemini_text("I drew nothing"), gemini_image(tiny_png()))
    reply = gemini(srv).generate_image(prompt="x", model="gemini-image")
    assert reply.data.startswith(b"\x89PNG") and len(waits) == 1


def test_vertex_images_need_project(srv: FakeServer) -> None:
    cfg = GoogleConfig(base_url=srv.url, image_vertexai=True)
    p = GoogleProvider(cfg, env=ENV, credentials=Credentials("t"))
    with pytest.raises(ProviderNotConfigured, match="project"):
        p.generate_image(prompt="x")


def test_image_429_retry(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue(":predict", gemini_error(429, retry_after="1"), imagen_predict(tiny_png()))
    assert imagen(srv).generate_image(prompt="x").data.startswith(b"\x89PNG")
    assert waits == [1.0]


# =========================================================================== modal


def test_modal_success_routes_by_task(srv: FakeServer) -> None:
    for route in ("/v2_detect_intent", "/v2_generate_code", "/v2_chat_haiku"):
        srv.default(route, modal_text('{"ok": true}', input_tokens=3, output_tokens=2))
    p = modal(srv)
    for task, route in (
        ("intent", "/v2_detect_intent"),
        ("codegen", "/v2_generate_code"),
        ("fix", "/v2_generate_code"),
        ("plan", "/v2_chat_haiku"),
        ("qa_review", "/v2_chat_haiku"),
    ):
        reply = p.generate(system="s", prompt="p", task_key=task)
        assert reply.text == '{"ok": true}' and (reply.tokens_in, reply.tokens_out) == (3, 2)
        assert srv.for_route(route)[-1].json["task"] == task
    req = srv.for_route("/v2_detect_intent")[0]
    assert req.headers["Modal-Key"] == MODAL_ID and req.headers["Modal-Secret"] == MODAL_SECRET
    assert req.json == {
        "task": "intent",
        "system": "s",
        "prompt": "p",
        "model": None,
        "max_tokens": None,
        "json": True,
    }


def test_modal_bearer_token(srv: FakeServer) -> None:
    srv.default("/v2_chat_haiku", modal_text("{}"))
    p = ModalProvider(
        ModalConfig(chat_haiku_url=srv.url + "/v2_chat_haiku"), env={"MODAL_AUTH_TOKEN": "tok123"}
    )
    p.generate(system="s", prompt="p", task_key="plan")
    assert srv.for_route("/v2_chat_haiku")[0].headers["Authorization"] == "Bearer tok123"


def test_modal_429_retry_after(srv: FakeServer, waits: list[float]) -> None:
    srv.enqueue("/v2_chat_haiku", modal_error(429, retry_after="5"), modal_text("{}"))
    assert modal(srv).generate(system="s", prompt="p", task_key="plan").text == "{}"
    assert waits == [5.0]


def test_modal_500_exhausted(srv: FakeServer, waits: list[float]) -> None:
    srv.default("/v2_generate_code", modal_error(503))
    with pytest.raises(ProviderUnavailable):
        modal(srv, max_retries=1).generate(system="s", prompt="p", task_key="codegen")
    assert srv.count("/v2_generate_code") == 2


def test_modal_timeout(srv: FakeServer) -> None:
    srv.enqueue("/v2_detect_intent", Reply(hang=True))
    with pytest.raises(ProviderUnavailable, match="no answer within"):
        modal(srv, timeout_s=0.3, max_retries=0).generate(system="s", prompt="p", task_key="intent")


def test_modal_malformed_body(srv: FakeServer, waits: list[float]) -> None:
    srv.default("/v2_chat_haiku", Reply(200, raw=b"<html>cold start</html>"))
    with pytest.raises(ProviderUnavailable, match="without the JSON reply"):
        modal(srv, max_retries=0).generate(system="s", prompt="p", task_key="plan")


def test_modal_refusal(srv: FakeServer) -> None:
    srv.default("/v2_chat_haiku", modal_text("", stop_reason="refusal"))
    with pytest.raises(ProviderRefusal):
        modal(srv).generate(system="s", prompt="p", task_key="plan")


def test_modal_auth_secret_free(srv: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    srv.default("/v2_chat_haiku", modal_error(401, f"bad token {MODAL_ID}:{MODAL_SECRET}"))
    with pytest.raises(ProviderAuthError) as ei:
        modal(srv).generate(system="s", prompt="p", task_key="plan")
    assert_no_secret(ei.value, ei.value.to_json(), caplog.text)


def test_modal_missing_url() -> None:
    p = ModalProvider(ModalConfig(), env=ENV)
    with pytest.raises(ProviderNotConfigured, match="detect_intent_url"):
        p.generate(system="s", prompt="p", task_key="intent")


def test_modal_connection_error_classified(waits: list[float]) -> None:
    with FakeServer() as dead:
        url = dead.url
    p = ModalProvider(ModalConfig(chat_haiku_url=url + "/x", max_retries=0), env=ENV)
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        p.generate(system="s", prompt="p")


def test_requests_is_what_modal_uses() -> None:
    assert isinstance(ModalProvider(ModalConfig(), env={})._session, requests.Session)


# =========================================================================== routing


def test_routing_and_cache(tmp_path) -> None:
    from tests.fakes.ctx import make_config

    cfg = make_config(
        tmp_path, {"providers": {"default": "offline", "route": {"codegen": "google"}}}
    )
    assert cfg.providers.for_task("codegen") == "google"
    assert cfg.providers.for_task("intent") == "offline"
    a = providers.get_text_model(cfg, "anthropic")
    assert providers.get_text_model(cfg, "anthropic") is a
    assert providers.get_text_model(cfg, "google").name == "google"
    assert providers.get_text_model(cfg, "modal").name == "modal"
    assert providers.get_image_model(cfg, "google").name == "google"
    with pytest.raises(ProviderNotConfigured, match="cannot generate images"):
        providers.get_image_model(cfg, "anthropic")
    with pytest.raises(ProviderNotConfigured):
        providers.get_text_model(cfg, "offline")
