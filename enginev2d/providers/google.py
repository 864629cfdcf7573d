"""Gemini text and images through ``google-genai``.

Text: ``models.generate_content`` on ``providers.google.model`` (or the route step's
model), with the Gemini API (key from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``) or Vertex
AI when ``vertexai = true`` (project, location and Application Default Credentials).
codegen and fix stream (``streamGenerateContent?alt=sse``): the HTTP read timeout is the
idle limit between chunks, :class:`StreamMeter` the overall ceiling.

Images (asset), Gemini API key by default:

* Gemini image models (the default ``gemini-nano-banana-2.1``): ``generate_content`` with
  ``response_modalities=["IMAGE"]``; the first ``inlineData`` part is the image;
* ``imagen-*`` models: ``models.generate_images`` (``:predict``), which exists only on
  Vertex AI (``image_vertexai = true``); config validation refuses it otherwise.

Usage: ``thoughtsTokenCount`` is billed as output, so it is added to ``tokens_out``. An
image call's image tokens are priced per image (``pricing.<model>.per_image``), so only
its text and thinking tokens count as output.

Wait hints: a 429 (or 503) body's ``google.rpc.RetryInfo.retryDelay`` is honoured like
``Retry-After``. google-genai does not retry unless ``HttpRetryOptions`` is given, so
:class:`Backoff` is the only retry loop. ``credentials`` can be injected (tests pass
``google.oauth2.credentials.Credentials(token="fake")``).
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import httpx2
from google.auth import exceptions as auth_exceptions
from google.genai import Client, errors, types

from ..config import GoogleConfig
from ..errors import ProviderError, ProviderUnavailable
from .base import (
    CallOptions,
    ImageReply,
    StreamMeter,
    TextReply,
    attach_usage,
    connection_error,
    error_for_status,
    excerpt,
    idle_error,
    not_configured,
    parse_retry_delay,
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
GEMINI_ASPECT_RATIOS = {
    **ASPECT_RATIOS,
    "2:3": 2 / 3,
    "3:2": 1.5,
    "4:5": 0.8,
    "5:4": 1.25,
    "21:9": 21 / 9,
    "1:4": 0.25,
    "4:1": 4.0,
}


def aspect_ratio(width: int, height: int, choices: Mapping[str, float] = ASPECT_RATIOS) -> str:
    """The aspect ratio among ``choices`` closest to ``width``/``height``."""
    r = width / max(1, height)
    return min(choices, key=lambda k: abs(choices[k] - r))


def _reason(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value) or "")


def _short_name(name: str) -> str:
    """``models/gemini-3.8-flash`` or ``publishers/google/models/x`` -> the model id."""
    return name.rsplit("/", 1)[-1]


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

    def _translate(self, exc: Exception, model: str, timeout_s: float) -> ProviderError:
        if isinstance(exc, errors.APIError):
            headers = getattr(getattr(exc, "response", None), "headers", None)
            return error_for_status(
                int(exc.code or 500),
                provider=NAME,
                reason=excerpt(exc.details or exc.message or "", [self._api_key]),
                headers=dict(headers) if headers is not None else None,
                retry_after_s=parse_retry_delay(exc.details),
                model=model,
            )
        if isinstance(exc, httpx2.TimeoutException):
            return timeout_error(NAME, timeout_s)
        if isinstance(exc, httpx2.TransportError):
            return connection_error(NAME, exc)
        if isinstance(exc, auth_exceptions.RefreshError):
            return error_for_status(401, provider=NAME, reason="credential refresh failed")
        return not_configured(NAME, "no Google application default credentials")

    def _call(self, fn: Callable[[], T], model: str = "", timeout_s: float = 0.0) -> T:
        """Run one SDK call, translating its exceptions into ProviderErrors."""
        try:
            return fn()
        except ProviderError:
            raise
        except (
            errors.APIError,
            httpx2.TransportError,
            auth_exceptions.DefaultCredentialsError,
            auth_exceptions.RefreshError,
        ) as exc:
            raise self._translate(exc, model, timeout_s or self.cfg.timeout_s) from None

    def _http(self, options: CallOptions, meter: StreamMeter | None = None) -> types.HttpOptions:
        """Per-call HTTP options: the read timeout (idle limit when streaming) bounded by
        the task's deadline; the server-side timeout header says the whole budget."""
        if meter is not None:
            budget = meter.ceiling - meter.started
            return types.HttpOptions(
                timeout=int(self.cfg.stream_idle_s * 1000),
                headers={"X-Server-Timeout": str(max(1, math.ceil(budget)))},
            )
        timeout = options.timeout(self.cfg.timeout_s)
        return types.HttpOptions(timeout=max(1, int(timeout * 1000)))

    # ------------------------------------------------------------------ text
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
        client = self._client(self.cfg.vertexai)
        model = model or self.cfg.model

        def config(http: types.HttpOptions) -> types.GenerateContentConfig:
            return types.GenerateContentConfig(
                system_instruction=system,
                max_output_tokens=max_tokens,
                response_mime_type="application/json" if json_mode else None,
                http_options=http,
            )

        def once() -> TextReply:
            if options.stream:
                return self._stream(client, model, prompt, config, options)
            http = self._http(options)
            resp = self._call(
                lambda: client.models.generate_content(
                    model=model, contents=prompt, config=config(http)
                ),
                model,
                (http.timeout or 0) / 1000,
            )
            tin, tout = _tokens(resp)
            cand = self._check_blocked(resp, model, tin, tout)
            text = _text_of(cand)
            return TextReply(text, model, tin, tout, _reason(cand.finish_reason) if cand else None)

        return self.backoff_cls(self.cfg.max_retries).run(once, provider=NAME, options=options)

    def _stream(
        self,
        client: Client,
        model: str,
        prompt: str,
        config: Callable[[types.HttpOptions], types.GenerateContentConfig],
        options: CallOptions,
    ) -> TextReply:
        meter = StreamMeter(NAME, model, self.cfg.stream_idle_s, self.cfg.stream_max_s, options)
        parts: list[str] = []
        tin = tout = 0
        finish = ""
        chunks: Iterator[Any] | None = None
        try:
            chunks = client.models.generate_content_stream(
                model=model, contents=prompt, config=config(self._http(options, meter))
            )
            for chunk in chunks:
                tin, tout = _tokens(chunk, tin, tout)
                cand = self._check_blocked(chunk, model, tin, tout)
                text = _text_of(cand)
                thinking = _text_of(cand, thoughts=True)
                parts.append(text)
                finish = (_reason(cand.finish_reason) if cand else "") or finish
                meter.tick(text=text, thinking=thinking, tokens=tout or None)
        except ProviderError as exc:
            raise attach_usage(exc, model, tin, tout) from None
        except (errors.APIError, httpx2.TransportError, auth_exceptions.RefreshError) as exc:
            err = self._translate(exc, model, meter.ceiling - meter.started)
            if isinstance(exc, httpx2.TimeoutException):
                err = idle_error(NAME, self.cfg.stream_idle_s)
            raise attach_usage(err, model, tin, tout) from None
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if not finish:
            err = ProviderUnavailable(
                f"{NAME}: stream ended without a finish reason", provider=NAME
            )
            raise attach_usage(err, model, tin, tout)
        return TextReply("".join(parts), model, tin, tout, finish)

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
        options: CallOptions | None = None,
    ) -> ImageReply:
        options = options or CallOptions()
        model = model or self.cfg.image_model
        if model.startswith("imagen") and not self.cfg.image_vertexai:
            raise not_configured(
                NAME, f"{model} (generate_images) needs providers.google.image_vertexai = true"
            )
        client = self._client(self.cfg.image_vertexai)
        if model.startswith("imagen"):
            once = lambda: self._imagen(client, model, prompt, width, height, options)  # noqa: E731
        else:
            once = lambda: self._gemini_image(client, model, prompt, width, height, options)  # noqa: E731
        return self.backoff_cls(self.cfg.max_retries).run(once, provider=NAME, options=options)

    def _imagen(
        self, client: Client, model: str, prompt: str, w: int, h: int, options: CallOptions
    ) -> ImageReply:
        config = types.GenerateImagesConfig(
            number_of_images=1,
            aspect_ratio=aspect_ratio(w, h),
            output_mime_type="image/png",
            http_options=self._http(options),
        )

        def call() -> Any:
            with warnings.catch_warnings():
                # Deprecated in favour of Gemini image models, still served by Vertex AI.
                warnings.simplefilter("ignore", errors.ExperimentalWarning)
                return client.models.generate_images(model=model, prompt=prompt, config=config)

        resp = self._call(call, model)
        for gen in resp.generated_images or []:
            img = gen.image
            if img is not None and img.image_bytes:
                return ImageReply(img.image_bytes, img.mime_type or "image/png", model)
        # Imagen answers an empty prediction list when its safety filter drops the image.
        raise refusal(NAME, model, "no image returned (filtered)")

    def _gemini_image(
        self, client: Client, model: str, prompt: str, w: int, h: int, options: CallOptions
    ) -> ImageReply:
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=aspect_ratio(w, h, GEMINI_ASPECT_RATIOS)),
            http_options=self._http(options),
        )
        full = f"{prompt}\nImage size: {w}x{h} pixels. Return the image only."
        resp = self._call(
            lambda: client.models.generate_content(model=model, contents=full, config=config),
            model,
        )
        tin, tout = _tokens(resp, image_output=True)
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

    # ------------------------------------------------------------------ models
    def list_models(self) -> list[dict[str, Any]]:
        """models.list (every page) through the client the text models use."""
        client = self._client(self.cfg.vertexai)
        config = types.ListModelsConfig(page_size=1000, query_base=True)
        models = self._call(lambda: list(client.models.list(config=config)))
        return [{"id": _short_name(m.name or ""), "lifecycle": "active"} for m in models]


def _text_of(cand: Any, *, thoughts: bool = False) -> str:
    parts = (cand.content.parts if cand is not None and cand.content else None) or []
    return "".join(
        p.text or "" for p in parts if bool(getattr(p, "thought", False)) == thoughts and p.text
    )


def _tokens(
    resp: Any, tin: int = 0, tout: int = 0, *, image_output: bool = False
) -> tuple[int, int]:
    """(prompt, output) tokens; output = candidates + thoughts (thinking is billed as
    output). Streamed chunks carry cumulative counts: a chunk without them keeps the
    previous ones. For an image answer, image tokens are left out (priced per image)."""
    meta = getattr(resp, "usage_metadata", None)
    if meta is None:
        return tin, tout
    prompt = int(getattr(meta, "prompt_token_count", 0) or 0) or tin
    cands = int(getattr(meta, "candidates_token_count", 0) or 0)
    if image_output:
        for d in getattr(meta, "candidates_tokens_details", None) or []:
            if _reason(getattr(d, "modality", None)) == "IMAGE":
                cands -= int(getattr(d, "token_count", 0) or 0)
    thoughts = int(getattr(meta, "thoughts_token_count", 0) or 0)
    out = max(0, cands) + thoughts
    return prompt, out or tout
