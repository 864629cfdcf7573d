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
HTTP 404 (model not found)                 ProviderError (status 404)  no
other 4xx (bad request...)                 ProviderError               no
=========================================  ==========================  =========

A wait hint comes from ``Retry-After`` / ``retry-after-ms`` or, for Google, from the
error body's ``google.rpc.RetryInfo.retryDelay`` (:func:`parse_retry_delay`). A 404,
an exhausted retryable error or a refusal makes a task's route try its next model
(:func:`is_unavailable`).

Error messages are built by us from the status and a short, scrubbed excerpt of the
error body: never ``str(sdk_exception)`` (it may echo request data) and never a key.
"""

from __future__ import annotations

import email.utils
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRefusal,
    ProviderUnavailable,
)
from .registry import SECRET_ENV

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
    tokens_out: int = 0  # thinking included: it is billed as output
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
Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class CallOptions:
    """How one call may behave, beyond its prompt."""

    should_stop: ShouldStop | None = None  # the attempt was canceled or timed out
    deadline: float | None = None  # time.monotonic() by which the task must be done
    stream: bool = False  # stream the answer (idle timeout + ceiling instead of timeout_s)
    on_progress: Progress | None = None  # called per streamed chunk: {bytes, tokens, model}
    # (model, tokens_in, tokens_out) of a failed try that is retried: the final reply or
    # error carries only its own try's usage, and the retried one was billed too
    on_usage: Callable[[str, int, int], None] | None = None

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def timeout(self, call_timeout_s: float) -> float:
        """A one-shot call's timeout: the provider's, cut to what the task has left."""
        remaining = self.remaining()
        if remaining is None:
            return call_timeout_s
        return max(0.001, min(call_timeout_s, remaining))


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
        task_key: str | None = None,
        options: CallOptions = ...,
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
        options: CallOptions = ...,
    ) -> ImageReply: ...


class ModelLister(Protocol):
    def list_models(self) -> list[dict[str, Any]]:
        """Every model the service offers to this key: ``{"id", "lifecycle", ...}``."""
        ...


# --------------------------------------------------------------------------- streaming


@dataclass
class StreamMeter:
    """Counts a streamed answer and enforces its two time limits.

    ``idle_s`` (longest silence between chunks) is also set as the HTTP read timeout, so
    a server that goes quiet is cut there; :meth:`tick` checks the overall ceiling (and
    the task's deadline) at every chunk, so a server that trickles forever is cut too.
    """

    provider: str
    model: str
    idle_s: float
    max_s: float
    options: CallOptions = field(default_factory=CallOptions)
    text_bytes: int = 0
    chars: int = 0  # text and thinking characters, for a token estimate
    reported_tokens: int | None = None
    started: float = field(default_factory=time.monotonic)
    ceiling: float = field(init=False)  # time.monotonic() when the answer must be done

    def __post_init__(self) -> None:
        remaining = self.options.remaining()
        budget = self.max_s if remaining is None else max(0.0, min(self.max_s, remaining))
        self.ceiling = self.started + budget

    @property
    def tokens(self) -> int:
        """Output tokens so far: the provider's count when it gives one, else ~4 chars/token."""
        if self.reported_tokens is not None:
            return self.reported_tokens
        return math.ceil(self.chars / 4)

    def tick(self, text: str = "", thinking: str = "", tokens: int | None = None) -> None:
        self.text_bytes += len(text.encode("utf-8"))
        self.chars += len(text) + len(thinking)
        if tokens is not None:
            self.reported_tokens = tokens
        stop = self.options.should_stop
        if stop is not None and stop():
            raise ProviderUnavailable(
                f"{self.provider}: stopped while streaming", provider=self.provider
            )
        if time.monotonic() > self.ceiling:
            raise timeout_error(self.provider, self.ceiling - self.started, streamed=True)
        if self.options.on_progress is not None and (text or thinking or tokens is not None):
            self.options.on_progress(
                {"bytes": self.text_bytes, "tokens": self.tokens, "model": self.model}
            )


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


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


def parse_retry_delay(body: Any) -> float | None:
    """Seconds from a Google error body's ``google.rpc.RetryInfo`` (``"retryDelay": "4s"``).

    ``body`` is the decoded error JSON: ``{"error": {"details": [...]}}``, a list holding
    that (streaming and Vertex answers), or the ``error`` object itself."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, Mapping):
        return None
    err = body.get("error", body)
    details = err.get("details") if isinstance(err, Mapping) else None
    for item in details if isinstance(details, list) else []:
        if isinstance(item, Mapping) and item.get("@type") == RETRY_INFO_TYPE:
            delay = item.get("retryDelay")
            if isinstance(delay, Mapping):  # {"seconds": 4, "nanos": 0} form
                secs = float(delay.get("seconds") or 0) + float(delay.get("nanos") or 0) / 1e9
                return max(0.0, secs)
            m = _DURATION.match(str(delay or ""))
            if m:
                return max(0.0, float(m.group(1)))
    return None


# --------------------------------------------------------------------------- classification


def error_for_status(
    status: int,
    *,
    provider: str,
    reason: str = "",
    headers: Mapping[str, str] | None = None,
    retry_after_s: float | None = None,
    model: str | None = None,
) -> ProviderError:
    """The ProviderError for an HTTP error status (``reason`` must already be scrubbed).

    ``retry_after_s`` is a wait hint found in the body (Google's RetryInfo); a header
    hint wins when both are present."""
    suffix = f": {reason}" if reason else ""
    header_hint = parse_retry_after(headers)
    hint = header_hint if header_hint is not None else retry_after_s
    if status == 429:
        return ProviderRateLimited(
            f"{provider}: rate limited (HTTP 429){suffix}",
            provider=provider,
            status=status,
            retry_after_s=hint,
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
            retry_after_s=hint,
        )
    if status == 404 and model:
        return ProviderError(
            f"{provider}: model {model} not found (HTTP 404){suffix}",
            provider=provider,
            status=status,
            retryable=False,
        )
    return ProviderError(
        f"{provider}: request rejected (HTTP {status}){suffix}",
        provider=provider,
        status=status,
        retryable=False,
    )


def timeout_error(provider: str, seconds: float, *, streamed: bool = False) -> ProviderUnavailable:
    what = "streamed answer not finished" if streamed else "no answer"
    return ProviderUnavailable(f"{provider}: {what} within {seconds:.3g}s", provider=provider)


def idle_error(provider: str, seconds: float) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"{provider}: stream silent for more than {seconds:g}s", provider=provider
    )


def is_unavailable(exc: BaseException) -> bool:
    """The model cannot answer now, so a route's next model may: a 404 (unknown or
    retired model), a retryable error whose retries ran out, a refusal, or a provider
    that is not configured (an optional step)."""
    if not isinstance(exc, ProviderError):
        return False
    if isinstance(exc, ProviderAuthError):
        return False
    if isinstance(exc, ProviderRefusal | ProviderNotConfigured):
        return True
    return exc.retryable or exc.status == 404


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
    """Remember the tokens a failed call still consumed, so the task can record them
    (nothing to remember when it consumed none, e.g. an HTTP error before the stream)."""
    if tokens_in or tokens_out:
        exc.usage = (model, tokens_in, tokens_out)  # type: ignore[attr-defined]
    return exc


def usage_of(exc: BaseException) -> tuple[str, int, int] | None:
    return getattr(exc, "usage", None)
