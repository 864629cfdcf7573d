"""Gemini text and Vertex AI images through ``google-genai``.

Text (codegen, fix): ``models.generate_content`` on ``providers.google.model``, with the
Gemini API (key from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``) or Vertex AI when
``vertexai = true`` (project, location and Application Default Credentials, i.e.
``GOOGLE_APPLICATION_CREDENTIALS`` or the metadata server).

Images (asset), Vertex AI by default (``image_vertexai``):

* ``imagen-*`` models: ``models.generate_images`` (``:predict``), one PNG per call;
* any other model (Gemini image models): ``generate_content`` with
  ``response_modalities=["TEXT", "IMAGE"]``; the first ``inlineData`` part is the image.

google-genai does not retry unless ``HttpRetryOptions`` is given, so :class:`Backoff` is
the only retry loop. ``credentials`` can be injected (tests pass
``google.oauth2.credentials.Credentials(token="fake")``).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx2
from google.auth import exceptions as auth_exceptions
from google.genai import Client, errors, types

from ..config import GoogleConfig
from ..errors import ProviderError
from .base import (
    ImageReply,
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

NAME = "google"
T = TypeVar("T")

# Finish / block reasons that mean "the model will not answer this": terminal.
REFUSAL_REASONS = frozenset(
    {
        "SAFETY",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
        "JAILBREAK",
        "OTHER",
    }
)
ASPECT_RATIOS = {"1:1": 1.0, "3:4": 0.75, "4:3": 4 / 3, "9:16": 9 / 16, "16:9": 16 / 9}


def aspect_ratio(width: int, height: int) -> str:
    """The Imagen aspect ratio closest to ``width``/``height``."""
    r = width / max(1, height)
    return min(ASPECT_RATIOS, key=lambda k: abs(ASPECT_RATIOS[k] - r))


def _reason(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value) or "")


class GoogleProvider:
    name = NAME
    backoff_cls = Backoff

    def __init__(
        self,
        cfg: GoogleConfig,
        *,
        env: Mapping[str, str] | None = None,
        credentials: Any = None,
    ) -> None:
        env = os.environ if env is None else env
        self.cfg = cfg
        self._api_key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or ""
        self._credentials = credentials
        self._clients: dict[bool, Client] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ clients
    @property
    def configured(self) -> bool:
        return bool(self.cfg.project) if self.cfg.vertexai else bool(self._api_key)

    def _client(self, vertex: bool) -> Client:
        with self._lock:
            if vertex in self._clients:
                return self._clients[vertex]
            http = types.HttpOptions(
                base_url=self.cfg.base_url or None, timeout=int(self.cfg.timeout_s * 1000)
            )
            try:
                if vertex:
                    if not self.cfg.project:
                        raise not_configured(
                            NAME, "providers.google.project is required for Vertex AI"
                        )
                    client = Client(
                        vertexai=True,
                        project=self.cfg.project,
                        location=self.cfg.location,
                        credentials=self._credentials,
                        http_options=http,
                    )
                else:
                    if not self._api_key:
                        raise not_configured(NAME, "GEMINI_API_KEY or GOOGLE_API_KEY is not set")
                    client = Client(api_key=self._api_key, http_options=http)
            except auth_exceptions.DefaultCredentialsError:
                raise not_configured(
                    NAME, "no Google application default credentials for Vertex AI"
                ) from None
            self._clients[vertex] = client
            return client

    def _call(self, fn: Callable[[], T]) -> T:
        """Run one SDK call, translating its exceptions into ProviderErrors."""
        try:
            return fn()
        except ProviderError:
            raise
        except errors.APIError as exc:
            headers = getattr(getattr(exc, "response", None), "headers", None)
            raise error_for_status(
                int(exc.code or 500),
                provider=NAME,
                reason=excerpt(exc.details or exc.message or "", [self._api_key]),
                headers=dict(headers) if headers is not None else None,
            ) from None
        except httpx2.TimeoutException:
            raise timeout_error(NAME, self.cfg.timeout_s) from None
        except httpx2.TransportError as exc:
            raise connection_error(NAME, exc) from None
        except auth_exceptions.DefaultCredentialsError:
            raise not_configured(NAME, "no Google application default credentials") from None
        except auth_exceptions.RefreshError:
            raise error_for_status(401, provider=NAME, reason="credential refresh failed") from None

    # ------------------------------------------------------------------ text
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
        client = self._client(self.cfg.vertexai)
        model = model or self.cfg.model
        config = types.GenerateContentConfig(
            system_instruction=system,
            max_output_tokens=max_tokens,
            response_mime_type="application/json" if json_mode else None,
        )

        def once() -> TextReply:
            resp = self._call(
                lambda: client.models.generate_content(model=model, contents=prompt, config=config)
            )
            tin, tout = _tokens(resp)
            cand = self._check_blocked(resp, model, tin, tout)
            text = "".join(
                p.text or ""
                for p in ((cand.content.parts if cand and cand.content else None) or [])
                if not getattr(p, "thought", False)
            )
            return TextReply(text, model, tin, tout, _reason(cand.finish_reason) if cand else None)

        return self.backoff_cls(self.cfg.max_retries).run(
            once, provider=NAME, should_stop=should_stop
        )

    def _check_blocked(self, resp: Any, model: str, tin: int, tout: int) -> Any:
        feedback = getattr(resp, "prompt_feedback", None)
        block = _reason(getattr(feedback, "block_reason", None))
        if block:
            raise attach_usage(refusal(NAME, model, f"prompt blocked: {block}"), model, tin, tout)
        cands = getattr(resp, "candidates", None) or []
        cand = cands[0] if cands else None
        finish = _reason(getattr(cand, "finish_reason", None)) if cand else ""
        if finish in REFUSAL_REASONS:
            raise attach_usage(refusal(NAME, model, f"finish reason {finish}"), model, tin, tout)
        return cand

    # ------------------------------------------------------------------ images
    def generate_image(
        self,
        *,
        prompt: str,
        model: str | None = None,
        width: int = 512,
        height: int = 512,
        should_stop: ShouldStop | None = None,
    ) -> ImageReply:
        client = self._client(self.cfg.image_vertexai)
        model = model or self.cfg.image_model
        if model.startswith("imagen"):
            once = lambda: self._imagen(client, model, prompt, width, height)  # noqa: E731
        else:
            once = lambda: self._gemini_image(client, model, prompt, width, height)  # noqa: E731
        return self.backoff_cls(self.cfg.max_retries).run(
            once, provider=NAME, should_stop=should_stop
        )

    def _imagen(self, client: Client, model: str, prompt: str, w: int, h: int) -> ImageReply:
        config = types.GenerateImagesConfig(
            number_of_images=1,
            aspect_ratio=aspect_ratio(w, h),
            output_mime_type="image/png",
        )

        def call() -> Any:
            with warnings.catch_warnings():
                # Deprecated in favour of Gemini image models, still served by Vertex AI.
                warnings.simplefilter("ignore", errors.ExperimentalWarning)
                return client.models.generate_images(model=model, prompt=prompt, config=config)

        resp = self._call(call)
        for gen in resp.generated_images or []:
            img = gen.image
            if img is not None and img.image_bytes:
                return ImageReply(img.image_bytes, img.mime_type or "image/png", model)
        # Imagen answers an empty prediction list when its safety filter drops the image.
        raise refusal(NAME, model, "no image returned (filtered)")

    def _gemini_image(self, client: Client, model: str, prompt: str, w: int, h: int) -> ImageReply:
        config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
        full = f"{prompt}\nImage size: {w}x{h} pixels. Return the image only."
        resp = self._call(
            lambda: client.models.generate_content(model=model, contents=full, config=config)
        )
        tin, tout = _tokens(resp)
        cand = self._check_blocked(resp, model, tin, tout)
        for part in (cand.content.parts if cand and cand.content else None) or []:
            blob = getattr(part, "inline_data", None)
            if blob is not None and blob.data:
                return ImageReply(blob.data, blob.mime_type or "image/png", model, tin, tout)
        # Text only, no block reason: the model may draw next time.
        err = ProviderError(
            f"{NAME}: model {model} answered without an image", provider=NAME, retryable=True
        )
        raise attach_usage(err, model, tin, tout)


def _tokens(resp: Any) -> tuple[int, int]:
    meta = getattr(resp, "usage_metadata", None)
    tin = int(getattr(meta, "prompt_token_count", 0) or 0)
    tout = int(getattr(meta, "candidates_token_count", 0) or 0)
    return tin, tout
