"""A task's route, tried step by step inside one attempt.

``providers.route.codegen = ["google:gemini-3.8-flash", "anthropic:claude-sonnet-5-5"]``
means: ask Gemini; if that model is unavailable (a 404, 5xx or 429 after its own
retries, a timeout, a refusal) or its answer is unusable (:class:`OutputInvalid`), ask
Claude, still in the same attempt. An error that another model cannot fix (a rejected
key, a bad request, a canceled job) goes up at once. Every call's usage is recorded on
the context; ``ctx.extra`` names the provider and model that answered and, under
``fallback_from``, each step that failed before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import EngineError, OutputInvalid, ProviderError, ProviderNotConfigured
from . import call_image, call_text, get_model
from .base import TextReply, is_unavailable
from .registry import PROVIDERS

if TYPE_CHECKING:
    from ..config import Config, Step

T = TypeVar("T")
log = logging.getLogger(__name__)


def step_model(cfg: Config, task_key: str, step: Step) -> str | None:
    """The model a step calls: its own, else the provider's default for the task (None:
    the provider picks, e.g. a Modal endpoint)."""
    return step.model or PROVIDERS[step.provider].default_model(cfg, task_key)


def model_name(ctx: Any, step: Step) -> str:
    return step_model(ctx.config, ctx.task_key, step) or step.provider


def _ready(ctx: Any, step: Step) -> bool:
    """An optional step runs only when its provider is configured."""
    if not step.optional:
        return True
    try:
        return bool(getattr(get_model(ctx.config, step.provider), "configured", False))
    except ProviderError:
        return False


def run_steps(ctx: Any, steps: tuple[Step, ...], attempt: Callable[[Step], T]) -> T:
    """``attempt(step)`` for each step until one succeeds (see the module docstring)."""
    failures: list[dict[str, Any]] = []
    pending = [s for s in steps]
    while pending:
        step = pending.pop(0)
        if not _ready(ctx, step):
            continue
        ctx.check()
        try:
            result = attempt(step)
        except (ProviderError, OutputInvalid) as exc:
            ctx.check()
            failures.append(
                {"provider": step.provider, "model": model_name(ctx, step), "error": exc.to_json()}
            )
            nxt = next((s for s in pending if _ready(ctx, s)), None)
            if nxt is None or not (isinstance(exc, OutputInvalid) or is_unavailable(exc)):
                _annotate(exc, failures)
                raise
            _log_fallback(ctx, step, nxt, exc)
            pending = pending[pending.index(nxt) :]
            continue
        if failures:
            ctx.extra["fallback_from"] = failures
        return result
    raise ProviderNotConfigured(
        f"{ctx.task_key}: no configured provider in its route", provider=""
    )  # pragma: no cover - config validation forbids an empty route


def _annotate(exc: EngineError, failures: list[dict[str, Any]]) -> None:
    if len(failures) > 1:
        exc.detail.setdefault("primary_error", failures[0]["error"])
        exc.detail.setdefault("route", [{k: f[k] for k in ("provider", "model")} for f in failures])


def _log_fallback(ctx: Any, failed: Step, nxt: Step, exc: EngineError) -> None:
    log.warning(
        "%s: %s failed (%s), trying %s",
        ctx.task_key,
        failed,
        type(exc).__name__,
        nxt,
        extra={
            "action": "route_fallback",
            "job_id": ctx.job.job_id,
            "task_key": ctx.task_key,
            "provider": failed.provider,
            "error_code": exc.code,
        },
    )


def ask(
    ctx: Any,
    *,
    system: str,
    prompt: str,
    parse: Callable[[TextReply], T],
    offline: Callable[[], T] | None = None,
    max_tokens: int | None = None,
    json_mode: bool = True,
    stream: bool = False,
) -> T:
    """The task's answer from the first step of its route that gives a usable one.

    ``parse`` turns a reply into the task's output (raising OutputInvalid when it cannot);
    ``offline`` answers an ``offline`` step."""

    def attempt(step: Step) -> T:
        if step.provider == "offline":
            if offline is None:
                raise ProviderNotConfigured(
                    f"{ctx.task_key}: no offline answer", provider="offline"
                )
            out = offline()
            ctx.record_usage("offline")
            ctx.extra.update(model="offline", provider="offline")
            return out
        reply = call_text(
            ctx,
            step.provider,
            system=system,
            prompt=prompt,
            model=step.model,
            max_tokens=max_tokens,
            json_mode=json_mode,
            stream=stream,
        )
        out = parse(reply)
        ctx.extra.update(model=reply.model, provider=step.provider)
        return out

    return run_steps(ctx, ctx.config.providers.chain(ctx.task_key), attempt)


def draw(
    ctx: Any,
    *,
    prompt: str,
    width: int,
    height: int,
    offline: Callable[[], tuple[bytes, str]],
    check: Callable[[bytes], str] | None = None,
) -> dict[str, Any]:
    """One image from the first step of the asset route that draws it:
    ``{"data", "mime", "model", "provider"}``. ``check(data)`` returns the image's MIME
    type or raises :class:`OutputInvalid`: bytes that are not a usable image go to the
    route's next step for this image alone, in the same attempt (the other images of the
    task are kept, not drawn again)."""

    def attempt(step: Step) -> dict[str, Any]:
        if step.provider == "offline":
            data, mime = offline()
            ctx.record_usage("offline", images=1)
            return {"data": data, "mime": mime, "model": "offline", "provider": "offline"}
        reply = call_image(
            ctx, step.provider, prompt=prompt, width=width, height=height, model=step.model
        )
        mime = reply.mime if check is None else check(reply.data)
        return {"data": reply.data, "mime": mime, "model": reply.model, "provider": step.provider}

    return run_steps(ctx, ctx.config.providers.chain("asset"), attempt)
