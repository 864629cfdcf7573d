"""Claude through the ``anthropic`` SDK (POST /v1/messages, GET /v1/models).

``providers.anthropic.model`` answers intent, plan and qa_review; ``codegen_model``
answers codegen and fix (or follows Gemini in their route). The key comes from
``ANTHROPIC_API_KEY``. The SDK's retries are off (``max_retries=0``): :class:`Backoff`
retries instead, so attempts and waits are counted in one place.

A streamed call (codegen, fix) reads the Messages SSE events (``message_start``,
``content_block_delta`` text/thinking deltas, ``message_delta`` with the stop reason and
cumulative usage, ``message_stop``): the HTTP read timeout is the idle limit between
chunks and :class:`StreamMeter` enforces the overall ceiling. An ``error`` event inside
the stream (e.g. ``overloaded_error``) is classified like the HTTP status it stands for.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import anthropic
import httpx2

from ..config import AnthropicConfig
from ..errors import ProviderError, ProviderUnavailable
from .base import (
    CallOptions,
    StreamMeter,
    TextReply,
    attach_usage,
    connection_error,
    error_for_status,
    excerpt,
    idle_error,
    not_configured,
    refusal,
    timeout_error,
)
from .registry import CODE_TASKS
from .retry import Backoff

NAME = "anthropic"
JSON_SUFFIX = "\n\nAnswer with one JSON object only: no prose, no code fences."
# Error ``type`` in a body (mid-stream ``error`` events arrive with HTTP 200) -> status.
ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _status_of(exc: anthropic.APIStatusError) -> int:
    if exc.status_code >= 400:
        return exc.status_code
    body = exc.body if isinstance(exc.body, Mapping) else {}
    err = body.get("error", body)
    kind = err.get("type") if isinstance(err, Mapping) else None
    return ERROR_TYPE_STATUS.get(str(kind), 500)


class AnthropicProvider:
    name = NAME
    backoff_cls = Backoff

    def __init__(self, cfg: AnthropicConfig, *, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.cfg = cfg
        self._api_key = env.get("ANTHROPIC_API_KEY", "")
        self._client: anthropic.Anthropic | None = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self._api_key)

    def _get_client(self) -> anthropic.Anthropic:
        if not self._api_key:
            raise not_configured(NAME, "ANTHROPIC_API_KEY is not set")
        with self._lock:
            if self._client is None:
                self._client = anthropic.Anthropic(
                    api_key=self._api_key,
                    base_url=self.cfg.base_url or None,
                    max_retries=0,
                    timeout=self.cfg.timeout_s,
                )
            return self._client

    def default_model(self, task_key: str | None) -> str:
        """codegen and fix use the larger model (as registry's default_model says)."""
        return self.cfg.codegen_model if task_key in CODE_TASKS else self.cfg.model

    def generate(
        self,
        *,
        system: str,
        prompt: str,
        model: str | None = None,
        max_tokens: int | None = None,
        json_mode: bool = True,
        task_key: str | None = None,
        options: CallOptions | None = None,
    ) -> TextReply:
        options = options or CallOptions()
        client = self._get_client()
        model = model or self.default_model(task_key)
        if max_tokens is None:
            code = task_key in CODE_TASKS
            max_tokens = self.cfg.codegen_max_tokens if code else self.cfg.max_tokens
        kwargs: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens,
            "system": system + JSON_SUFFIX if json_mode else system,
            "messages": [{"role": "user", "content": prompt}],
        }

        def once() -> TextReply:
            if options.stream:
                return self._stream(client, model, kwargs, options)
            return self._once(client, model, kwargs, options)

        return self.backoff_cls(self.cfg.max_retries).run(once, provider=NAME, options=options)

    # ------------------------------------------------------------------ errors
    def _translate(self, exc: Exception, model: str, timeout_s: float) -> ProviderError:
        if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
            return timeout_error(NAME, timeout_s)
        if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
            return connection_error(NAME, exc)
        if not isinstance(exc, anthropic.APIStatusError):
            return ProviderUnavailable(
                f"{NAME}: unusable response ({type(exc).__name__})", provider=NAME
            )
        headers = exc.response.headers if exc.status_code >= 400 else None
        return error_for_status(
            _status_of(exc),
            provider=NAME,
            reason=excerpt(exc.body, [self._api_key]),
            headers=headers,
            model=model,
        )

    # ------------------------------------------------------------------ one answer
    def _once(
        self,
        client: anthropic.Anthropic,
        model: str,
        kwargs: dict[str, Any],
        options: CallOptions,
    ) -> TextReply:
        timeout = options.timeout(self.cfg.timeout_s)
        try:
            msg = client.messages.create(**kwargs, timeout=timeout)
        except (anthropic.APIError, httpx2.HTTPError) as exc:
            raise self._translate(exc, model, timeout) from None
        usage = getattr(msg, "usage", None)
        tokens_in = int(getattr(usage, "input_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "output_tokens", 0) or 0)
        answered = getattr(msg, "model", None) or model
        stop = getattr(msg, "stop_reason", None)
        if stop == "refusal":
            raise attach_usage(refusal(NAME, answered, "refusal"), model, tokens_in, tokens_out)
        text = "".join(
            getattr(block, "text", "") for block in (msg.content or []) if block.type == "text"
        )
        # Usage is priced under the configured name: pricing keys are the names we send.
        return TextReply(text, model, tokens_in, tokens_out, stop)

    # ------------------------------------------------------------------ streamed answer
    def _stream(
        self,
        client: anthropic.Anthropic,
        model: str,
        kwargs: dict[str, Any],
        options: CallOptions,
    ) -> TextReply:
        meter = StreamMeter(NAME, model, self.cfg.stream_idle_s, self.cfg.stream_max_s, options)
        idle = self.cfg.stream_idle_s
        parts: list[str] = []
        usage = {"in": 0, "out": 0}
        stop: str | None = None
        finished = False
        try:
            stream = client.messages.create(**kwargs, stream=True, timeout=anthropic.Timeout(idle))
            with stream:
                for event in stream:
                    kind = event.type
                    if kind == "message_start":
                        u = event.message.usage
                        usage["in"] = int(u.input_tokens or 0)
                        usage["out"] = int(u.output_tokens or 0)
                        meter.tick()
                    elif kind == "content_block_delta":
                        delta = event.delta
                        text = getattr(delta, "text", "") if delta.type == "text_delta" else ""
                        thinking = getattr(delta, "thinking", "") or ""
                        parts.append(text)
                        meter.tick(text=text, thinking=thinking)
                    elif kind == "message_delta":
                        stop = event.delta.stop_reason or stop
                        if event.usage.input_tokens is not None:
                            usage["in"] = int(event.usage.input_tokens)
                        usage["out"] = int(event.usage.output_tokens or 0)
                        meter.tick(tokens=usage["out"])
                    elif kind == "message_stop":
                        finished = True
                    else:
                        meter.tick()
        except (anthropic.APIError, httpx2.HTTPError) as exc:
            err = self._translate(exc, model, meter.ceiling - meter.started)
            if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
                err = idle_error(NAME, idle)
            raise attach_usage(err, model, usage["in"], usage["out"]) from None
        except ProviderError as exc:
            raise attach_usage(exc, model, usage["in"], usage["out"]) from None
        if stop == "refusal":
            raise attach_usage(refusal(NAME, model, "refusal"), model, usage["in"], usage["out"])
        if not finished:
            err = ProviderUnavailable(
                f"{NAME}: stream ended before message_stop", provider=NAME, status=None
            )
            raise attach_usage(err, model, usage["in"], usage["out"])
        return TextReply("".join(parts), model, usage["in"], usage["out"], stop)

    # ------------------------------------------------------------------ models
    def list_models(self) -> list[dict[str, Any]]:
        """GET /v1/models, every page: id, lifecycle and retirement date of each model."""
        client = self._get_client()
        try:
            page = client.models.list(limit=1000)
            return [
                {
                    "id": m.id,
                    "lifecycle": getattr(m, "lifecycle", None) or "active",
                    "retires_at": str(m.retires_at) if getattr(m, "retires_at", None) else None,
                }
                for m in page
            ]
        except (anthropic.APIError, httpx2.HTTPError) as exc:
            raise self._translate(exc, "", self.cfg.timeout_s) from None
