"""The design's Modal v2 web endpoints (section 11), called with ``requests``.

Endpoints (each URL configured in ``[providers.modal]``):

* ``detect_intent_url``  -> ``v2_detect_intent``  (task ``intent``)
* ``generate_code_url``  -> ``v2_generate_code``  (tasks ``codegen`` and ``fix``)
* ``chat_haiku_url``     -> ``v2_chat_haiku``     (``plan``, ``qa_review`` and anything else)

Wire format assumed (JSON both ways; the v2 functions are ours to shape)::

    POST <url>
    Content-Type: application/json
    Modal-Key: $MODAL_TOKEN_ID            (Modal proxy auth, when set)
    Modal-Secret: $MODAL_TOKEN_SECRET     (Modal proxy auth, when set)
    Authorization: Bearer $MODAL_AUTH_TOKEN   (app-level token, when set)

    {"task": "plan", "system": "...", "prompt": "...", "model": null | "name",
     "max_tokens": null | 8192, "json": true}

    200 {"text": "<model answer>", "model": "claude-haiku-4-5",
         "usage": {"input_tokens": 12, "output_tokens": 34},
         "stop_reason": "end_turn" | "max_tokens" | "refusal"}

    4xx/5xx {"error": {"type": "...", "message": "..."}}  (429/503 may carry Retry-After)

A 200 whose body is not that JSON object is a ``ProviderUnavailable`` (a proxy or a
cold-start page answered, not the function); the *model's* answer inside ``text`` is
validated by the task like any other provider's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

from ..config import ModalConfig
from ..errors import ProviderUnavailable
from .base import (
    CallOptions,
    TextReply,
    attach_usage,
    connection_error,
    error_for_status,
    excerpt,
    not_configured,
    refusal,
    timeout_error,
)
from .registry import modal_endpoint
from .retry import Backoff

NAME = "modal"


class ModalProvider:
    name = NAME
    backoff_cls = Backoff

    def __init__(
        self,
        cfg: ModalConfig,
        *,
        env: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.cfg = cfg
        self._headers: dict[str, str] = {"Content-Type": "application/json"}
        if env.get("MODAL_TOKEN_ID") and env.get("MODAL_TOKEN_SECRET"):
            self._headers["Modal-Key"] = env["MODAL_TOKEN_ID"]
            self._headers["Modal-Secret"] = env["MODAL_TOKEN_SECRET"]
        if env.get("MODAL_AUTH_TOKEN"):
            self._headers["Authorization"] = f"Bearer {env['MODAL_AUTH_TOKEN']}"
        self._secrets = [
            env.get(k, "") for k in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_AUTH_TOKEN")
        ]
        self._session = session or requests.Session()
        self._session.trust_env = True  # honour NO_PROXY / HTTPS_PROXY like the SDKs

    def url_for(self, task_key: str | None) -> str:
        attr = modal_endpoint(task_key)
        url = getattr(self.cfg, attr)
        if not url:
            raise not_configured(NAME, f"providers.modal.{attr} is empty")
        return url

    @property
    def configured(self) -> bool:
        return bool(self.cfg.generate_code_url or self.cfg.chat_haiku_url)

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
        """One answer from the task's endpoint (not streamed: the v2 functions answer in
        one JSON reply). ``options.deadline`` bounds the request timeout."""
        options = options or CallOptions()
        url = self.url_for(task_key)
        body = {
            "task": task_key,
            "system": system,
            "prompt": prompt,
            "model": model,
            "max_tokens": max_tokens,
            "json": json_mode,
        }
        return self.backoff_cls(self.cfg.max_retries).run(
            lambda: self._once(url, body, model, options), provider=NAME, options=options
        )

    def _once(
        self, url: str, body: dict[str, Any], model: str | None, options: CallOptions
    ) -> TextReply:
        timeout = options.timeout(self.cfg.timeout_s)
        try:
            resp = self._session.post(url, json=body, headers=self._headers, timeout=timeout)
        except requests.Timeout:
            raise timeout_error(NAME, timeout) from None
        except requests.RequestException as exc:
            raise connection_error(NAME, exc) from None
        if resp.status_code >= 400:
            try:
                detail: Any = resp.json()
            except ValueError:
                detail = resp.text
            raise error_for_status(
                resp.status_code,
                provider=NAME,
                reason=excerpt(detail, self._secrets),
                headers=resp.headers,
                model=model,
            )
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise ProviderUnavailable(
                f"{NAME}: endpoint answered HTTP {resp.status_code} without the JSON reply "
                '{"text": ...}',
                provider=NAME,
                status=resp.status_code,
            )
        usage = data.get("usage") or {}
        tin = _int(usage.get("input_tokens"))
        tout = _int(usage.get("output_tokens"))
        answered = str(data.get("model") or model or NAME)
        stop = data.get("stop_reason")
        if stop == "refusal":
            raise attach_usage(refusal(NAME, answered, "refusal"), answered, tin, tout)
        return TextReply(data["text"], answered, tin, tout, stop)


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
