"""What every model provider returns and raises.

Providers are thin: one request in, one :class:`TextReply` / :class:`ImageReply` out, or a
:class:`~enginev2d.errors.ProviderError` subclass that says whether another try can help.
Classification lives here so the three network providers agree on it:

=========================================  ==========================  =========
condition                                  error                       retryable
=========================================  ==========================  =========
HTTP 429                                   ProviderRateLimited         yes
HTTP 408, 5xx, 529 overload, timeout,      ProviderUnavailable         yes
connection failure
HTTP 401 / 403                             ProviderAuthError           no
refusal stop reason, safety block          ProviderRefusal             no
missing key / project / URL                ProviderNotConfigured       no
other 4xx (bad request, not found...)      ProviderError               no
=========================================  ==========================  =========

Error messages are built by us from the status and a short, scrubbed excerpt of the
error body: never ``str(sdk_exception)`` (it may echo request data) and never a key.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRefusal,
    ProviderUnavailable,
)

# Environment variables that hold secrets: their values are scrubbed from any text we emit.
SECRET_ENV = (
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MODAL_TOKEN_ID",
    "MODAL_TOKEN_SECRET",
    "MODAL_AUTH_TOKEN",
)
_KEY_PATTERNS = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]+|AIza[0-9A-Za-z_\-]{20,}|(?i:bearer)\s+[A-Za-z0-9._:\-]+"
    r"|ya29\.[0-9A-Za-z._\-]+|(?:as|ak|wk)-[A-Za-z0-9]{16,})"
)
REDACTED = "[redacted]"
MAX_ERROR_EXCERPT = 300


@dataclass(frozen=True)
class TextReply:
    text: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    stop_reason: str | None = None  # provider's raw stop/finish reason, for repair hints

    @property
    def truncated(self) -> bool:
        """The answer hit the output token limit (Claude/Modal ``max_tokens``, Gemini
        ``MAX_TOKENS``): a parse failure then gets a "be shorter" repair hint."""
        return (self.stop_reason or "").lower() == "max_tokens"


@dataclass(frozen=True)
class ImageReply:
    data: bytes
    mime: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0


ShouldStop = Callable[[], bool]


class TextModel(Protocol):
    name: str

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
        """One completion. ``task_key`` lets a provider pick its default model or endpoint."""
        ...


class ImageModel(Protocol):
    name: str

    def generate_image(
        self,
        *,
        prompt: str,
        model: str | None = None,
        width: int = 512,
        height: int = 512,
        should_stop: ShouldStop | None = None,
    ) -> ImageReply: ...


# --------------------------------------------------------------------------- secrets


def secret_values(
    extra: Iterable[str | None] = (), env: Mapping[str, str] | None = None
) -> set[str]:
    env = os.environ if env is None else env
    values = {env.get(name, "") for name in SECRET_ENV}
    values.update(v or "" for v in extra)
    return {v for v in values if len(v) >= 4}


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secret values and anything shaped like a key or bearer token."""
    for value in sorted(set(secrets) | secret_values(), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return _KEY_PATTERNS.sub(REDACTED, text)


def excerpt(body: Any, secrets: Iterable[str] = ()) -> str:
    """A short human-readable reason out of an error body (dict, str or bytes)."""
    msg: Any = body
    if isinstance(body, bytes):
        msg = body.decode("utf-8", "replace")
    if isinstance(msg, Mapping):
        err = msg.get("error", msg)
        if isinstance(err, Mapping):
            msg = err.get("message") or err.get("type") or err.get("status") or ""
        else:
            msg = err
    text = " ".join(str(msg or "").split())
    return scrub(text, secrets)[:MAX_ERROR_EXCERPT]


# --------------------------------------------------------------------------- Retry-After


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (delta or HTTP date)."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lower.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


# --------------------------------------------------------------------------- classification


def error_for_status(
    status: int,
    *,
    provider: str,
    reason: str = "",
    headers: Mapping[str, str] | None = None,
) -> ProviderError:
    """The ProviderError for an HTTP error status (``reason`` must already be scrubbed)."""
    suffix = f": {reason}" if reason else ""
    if status == 429:
        return ProviderRateLimited(
            f"{provider}: rate limited (HTTP 429){suffix}",
            provider=provider,
            status=status,
            retry_after_s=parse_retry_after(headers),
        )
    if status in (401, 403):
        return ProviderAuthError(
            f"{provider}: authentication failed (HTTP {status}); check the API key or "
            f"credentials in the environment{suffix}",
            provider=provider,
            status=status,
        )
    if status == 408 or status >= 500:
        kind = "overloaded" if status == 529 else "unavailable"
        return ProviderUnavailable(
            f"{provider}: {kind} (HTTP {status}){suffix}",
            provider=provider,
            status=status,
            retry_after_s=parse_retry_after(headers),
        )
    return ProviderError(
        f"{provider}: request rejected (HTTP {status}){suffix}",
        provider=provider,
        status=status,
        retryable=False,
    )


def timeout_error(provider: str, seconds: float) -> ProviderUnavailable:
    return ProviderUnavailable(f"{provider}: no answer within {seconds:g}s", provider=provider)


def connection_error(provider: str, exc: BaseException) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"{provider}: connection failed ({type(exc).__name__})", provider=provider
    )


def refusal(provider: str, model: str, reason: str) -> ProviderRefusal:
    return ProviderRefusal(
        f"{provider}: model {model} declined the request ({reason})", provider=provider
    )


def not_configured(provider: str, what: str) -> ProviderNotConfigured:
    return ProviderNotConfigured(f"{provider}: not configured: {what}", provider=provider)


def attach_usage(
    exc: ProviderError, model: str, tokens_in: int = 0, tokens_out: int = 0
) -> ProviderError:
    """Remember the tokens a failed call still consumed, so the task can record them."""
    exc.usage = (model, tokens_in, tokens_out)  # type: ignore[attr-defined]
    return exc


def usage_of(exc: BaseException) -> tuple[str, int, int] | None:
    return getattr(exc, "usage", None)
