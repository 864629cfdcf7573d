"""Claude through the ``anthropic`` SDK (POST /v1/messages).

Haiku (``providers.anthropic.model``) answers intent, plan and qa_review; the larger
``codegen_model`` is codegen's fallback when Gemini fails. The key comes from
``ANTHROPIC_API_KEY``. The SDK's retries are off (``max_retries=0``): :class:`Backoff`
retries instead, so attempts and waits are counted in one place.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import anthropic

from ..config import AnthropicConfig
from .base import (
    ShouldStop,
    TextReply,
    attach_usage,
    connection_error,
    error_for_status,
    excerpt,
    not_configured,
    refusal,
    timeout_error,
)
from .retry import Backoff

NAME = "anthropic"
JSON_SUFFIX = "\n\nAnswer with one JSON object only: no prose, no code fences."
CODEGEN_TASKS = frozenset({"codegen", "fix"})


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
        return self.cfg.codegen_model if task_key in CODEGEN_TASKS else self.cfg.model

    def generate(
        self,
        *,
        system: str,
        prompt: str,
        model: str | None = None,
        max_tokens: int | None = None,
        json_mode: bool = True,
        should_stop: ShouldStop | None = None,
        task_key: str | None = None,
    ) -> TextReply:
        client = self._get_client()
        model = model or self.default_model(task_key)
        system = system + JSON_SUFFIX if json_mode else system
        kwargs: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens or self.cfg.max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": prompt}],
        }

        def once() -> TextReply:
            return self._once(client, model, kwargs)

        return self.backoff_cls(self.cfg.max_retries).run(
            once, provider=NAME, should_stop=should_stop
        )

    def _once(self, client: anthropic.Anthropic, model: str, kwargs: dict[str, Any]) -> TextReply:
        try:
            msg = client.messages.create(**kwargs)
        except anthropic.APITimeoutError:
            raise timeout_error(NAME, self.cfg.timeout_s) from None
        except anthropic.APIConnectionError as exc:
            raise connection_error(NAME, exc) from None
        except anthropic.APIStatusError as exc:
            raise error_for_status(
                exc.status_code,
                provider=NAME,
                reason=excerpt(exc.body, [self._api_key]),
                headers=exc.response.headers,
            ) from None
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
