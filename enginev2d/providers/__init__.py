"""Model providers, per-task routes and the calls tasks make.

A task's route (``providers.route.<task>``, else ``providers.default``) is an ordered
list of ``provider:model`` steps (:meth:`~enginev2d.config.ProvidersConfig.chain`);
:func:`ask` and :func:`draw` try them in order inside one attempt (:mod:`.route`).
``get_text_model`` / ``get_image_model`` return a shared instance of a network provider,
``offline_provider()`` the deterministic offline one. The providers themselves are
declared once in :mod:`.registry`.

Instances are cached per (provider, its config section, the secrets it reads), so
connections are reused across attempts and a changed key or config builds a new client.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import ProviderError, ProviderNotConfigured
from .base import CallOptions, ImageModel, ImageReply, TextModel, TextReply, usage_of
from .registry import IMAGE_PROVIDERS, PROVIDERS, SECRET_ENV

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "IMAGE_PROVIDERS",
    "TEXT_PROVIDERS",
    "CallOptions",
    "ImageModel",
    "ImageReply",
    "TextModel",
    "TextReply",
    "ask",
    "call_image",
    "call_text",
    "draw",
    "get_image_model",
    "get_model",
    "get_text_model",
    "offline_provider",
    "reset_cache",
    "set_google_credentials",
]

TEXT_PROVIDERS = tuple(n for n, s in PROVIDERS.items() if s.text and n != "offline")

log = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: dict[Any, Any] = {}
_offline: Any = None
_google_credentials: Any = None
_image_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}


def _build(cfg: Config, name: str) -> Any:
    spec = PROVIDERS.get(name)
    if spec is None or name == "offline":
        raise ProviderNotConfigured(f"unknown provider {name!r}", provider=name)
    extra = {"credentials": _google_credentials} if name == "google" else {}
    return spec.build(getattr(cfg.providers, name), **extra)


def get_model(cfg: Config, name: str) -> Any:
    """The shared instance of network provider ``name``."""
    # The key holds hashes of the secrets, never the secrets themselves.
    key = (
        name,
        getattr(cfg.providers, name, None),
        tuple(hash(os.environ.get(k, "")) for k in SECRET_ENV),
    )
    with _lock:
        inst = _cache.get(key)
        if inst is None:
            inst = _cache[key] = _build(cfg, name)
        return inst


def get_text_model(cfg: Config, name: str) -> TextModel:
    if name not in TEXT_PROVIDERS:
        raise ProviderNotConfigured(
            f"provider {name!r} has no text model (one of {', '.join(TEXT_PROVIDERS)})",
            provider=name,
        )
    return get_model(cfg, name)  # type: ignore[no-any-return]


def get_image_model(cfg: Config, name: str) -> ImageModel:
    if name not in IMAGE_PROVIDERS or name == "offline":
        raise ProviderNotConfigured(
            f"provider {name!r} cannot generate images; route asset to google or offline",
            provider=name,
        )
    return get_model(cfg, name)  # type: ignore[no-any-return]


def offline_provider() -> Any:
    """The shared OfflineProvider (imported lazily: it is a separate package)."""
    global _offline
    with _lock:
        if _offline is None:
            from .offline import OfflineProvider

            _offline = OfflineProvider()
        return _offline


def image_slots(cfg: Config, name: str) -> threading.BoundedSemaphore:
    """How many images this daemon asks ``name`` for at once (all jobs together)."""
    limit = cfg.providers.google.image_concurrency if name == "google" else 1
    with _lock:
        return _image_slots.setdefault((name, limit), threading.BoundedSemaphore(limit))


def set_google_credentials(credentials: Any) -> None:
    """Use these ``google.auth`` credentials for Vertex AI instead of Application Default
    Credentials (embedding, tests). ``None`` returns to ADC."""
    global _google_credentials
    with _lock:
        _google_credentials = credentials
        _cache.clear()


def reset_cache() -> None:
    """Forget cached provider instances (tests, or after a config reload)."""
    global _offline, _google_credentials
    with _lock:
        _cache.clear()
        _offline = None
        _google_credentials = None


# --------------------------------------------------------------------------- task helpers


def call_options(ctx: Any, *, stream: bool = False) -> CallOptions:
    """What a call may know of its task: stop flag, deadline, progress hook."""
    return CallOptions(
        should_stop=ctx.stop_event.is_set,
        deadline=getattr(ctx, "deadline", None),
        stream=stream,
        on_progress=ctx.report_progress if stream else None,
        on_usage=ctx.record_usage,
    )


def call_text(
    ctx: Any,
    name: str,
    *,
    system: str,
    prompt: str,
    model: str | None = None,
    max_tokens: int | None = None,
    json_mode: bool = True,
    stream: bool = False,
) -> TextReply:
    """One text call for a task: usage recorded on ``ctx`` (failed calls included when the
    provider reports tokens), a stopped job surfaces as the job's own stop reason."""
    provider = get_text_model(ctx.config, name)
    ctx.check()
    started = time.monotonic()
    try:
        reply = provider.generate(
            system=system,
            prompt=prompt,
            model=model,
            max_tokens=max_tokens,
            json_mode=json_mode,
            task_key=ctx.task_key,
            options=call_options(ctx, stream=stream),
        )
    except ProviderError as exc:
        used = usage_of(exc)
        if used is not None:
            ctx.record_usage(used[0], used[1], used[2])
        _log_call(ctx, name, used[0] if used else model, started, error=exc)
        ctx.check()
        raise
    ctx.record_usage(reply.model, reply.tokens_in, reply.tokens_out)
    _log_call(ctx, name, reply.model, started, tokens=(reply.tokens_in, reply.tokens_out))
    return reply


def call_image(
    ctx: Any,
    name: str,
    *,
    prompt: str,
    width: int,
    height: int,
    model: str | None = None,
) -> ImageReply:
    provider = get_image_model(ctx.config, name)
    ctx.check()
    started = time.monotonic()
    try:
        with image_slots(ctx.config, name):
            ctx.check()
            reply = provider.generate_image(
                prompt=prompt, model=model, width=width, height=height, options=call_options(ctx)
            )
    except ProviderError as exc:
        used = usage_of(exc)
        if used is not None:
            ctx.record_usage(used[0], used[1], used[2])
        _log_call(ctx, name, used[0] if used else model, started, error=exc)
        ctx.check()
        raise
    ctx.record_usage(reply.model, reply.tokens_in, reply.tokens_out, images=1)
    _log_call(ctx, name, reply.model, started, tokens=(reply.tokens_in, reply.tokens_out))
    return reply


def _log_call(
    ctx: Any,
    provider: str,
    model: str | None,
    started: float,
    *,
    tokens: tuple[int, int] | None = None,
    error: ProviderError | None = None,
) -> None:
    extra = {
        "action": "model_call",
        "job_id": ctx.job.job_id,
        "task_key": ctx.task_key,
        "attempt": ctx.attempt,
        "provider": provider,
        "model": model,
        "latency_ms": int((time.monotonic() - started) * 1000),
    }
    if tokens:
        extra["tokens_in"], extra["tokens_out"] = tokens
    if error is not None:
        extra["error_code"] = type(error).__name__
        log.warning("%s call failed: %s", provider, error.message, extra=extra)
    else:
        log.info("%s call ok", provider, extra=extra)


from .route import ask, draw  # noqa: E402  (route uses the helpers above)
