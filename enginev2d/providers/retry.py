"""Bounded retries inside one provider call.

The SDKs' own retries are switched off (``max_retries=0`` for anthropic, no
``HttpRetryOptions`` for google-genai, plain ``requests``), so this loop is the only
one: retryable :class:`~enginev2d.errors.ProviderError` s are retried up to
``max_retries`` times with exponential backoff and jitter. A wait hint from the service
(``Retry-After``, ``retry-after-ms`` or Google's ``RetryInfo.retryDelay``) replaces the
computed delay. A hint longer than :attr:`Backoff.MAX_RETRY_AFTER`, or longer than the
time the task has left (``deadline``), is not slept at all: the error goes up at once,
naming the wait, so a long wait is a clean failure instead of a hang (retrying sooner
than asked only earns another 429). When retries run out the error goes up to the
engine, whose attempt-level retry (or the route's next model) takes over.

The wait constants are class attributes in the style of ``psycopg_pool``'s
``AttemptWithBackoff``, and the sleep itself is :meth:`Backoff.sleep`, so tests patch
them instead of sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from .. import backoff
from ..errors import ProviderError, ProviderUnavailable
from .base import CallOptions, usage_of

log = logging.getLogger(__name__)

T = TypeVar("T")


class Backoff:
    """A model call's retry policy over :func:`enginev2d.backoff.retry`."""

    INITIAL_DELAY = 1.0
    DELAY_MULTIPLIER = 2.0
    DELAY_JITTER = 0.1
    MAX_DELAY = 20.0
    MAX_RETRY_AFTER = 60.0
    SLEEP_SLICE = 0.25  # how often a waiting retry looks at should_stop

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max(0, int(max_retries))

    def _backoff(self) -> backoff.Backoff:
        return backoff.Backoff(
            initial_s=self.INITIAL_DELAY,
            max_s=self.MAX_DELAY,
            factor=self.DELAY_MULTIPLIER,
            jitter=self.DELAY_JITTER,
        )

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        b = self._backoff()
        b.attempts = retry - 1
        return b.next_delay()

    def sleep(self, seconds: float, should_stop: Callable[[], bool] | None = None) -> bool:
        """Wait ``seconds``; False if ``should_stop`` said stop first."""
        deadline = time.monotonic() + seconds
        while True:
            if should_stop is not None and should_stop():
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, self.SLEEP_SLICE))

    def run(self, call: Callable[[], T], *, provider: str, options: CallOptions) -> T:
        """``options``: the stop flag, the task's deadline (``time.monotonic()``) and
        where a retried try's usage goes (the final reply or error carries only its own
        try's)."""
        should_stop, deadline = options.should_stop, options.deadline

        def before_wait(exc: Exception, retry: int, wait: float) -> None:
            assert isinstance(exc, ProviderError)
            self._refuse_long_wait(exc, wait, deadline)  # raises exc, usage and all
            used = usage_of(exc)
            if used is not None and options.on_usage is not None:
                options.on_usage(*used)
            log.warning(
                "%s call failed (%s), retry %d/%d in %.2fs",
                provider,
                type(exc).__name__,
                retry,
                self.max_retries,
                wait,
                extra={
                    "action": "provider_retry",
                    "provider": provider,
                    "status": exc.status,
                    "retry": retry,
                    "delay_s": round(wait, 3),
                },
            )

        return backoff.retry(
            call,
            retries=self.max_retries,
            backoff=self._backoff(),
            should_retry=lambda e: isinstance(e, ProviderError) and e.retryable,
            hint_s=lambda e: getattr(e, "retry_after_s", None),
            wait=lambda s: self.sleep(s, should_stop),
            on_retry=before_wait,
            on_stop=lambda e: ProviderUnavailable(
                f"{provider}: stopped while waiting to retry", provider=provider
            ),
        )

    def _refuse_long_wait(self, exc: ProviderError, wait: float, deadline: float | None) -> None:
        """Raise ``exc`` now when waiting ``wait`` seconds cannot help this task."""
        limit, why = self.MAX_RETRY_AFTER, f"over the {self.MAX_RETRY_AFTER:g}s limit"
        if deadline is not None:
            left = deadline - time.monotonic()
            if left < limit:
                limit, why = left, f"more than the {max(0.0, left):.1f}s this task has left"
        if wait <= limit:
            return
        exc.message = f"{exc.message} (asked to wait {wait:g}s, {why})"
        exc.args = (exc.message,)
        exc.detail["retry_wait_s"] = round(wait, 3)
        raise exc
