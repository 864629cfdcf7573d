"""The one retry/backoff helper: exponential backoff with jitter (:class:`Backoff`, in the
style of psycopg_pool's AttemptWithBackoff) and the retry loop around a call
(:func:`retry`).

Users: the daemon's poll, heartbeat and start-up schema check, the listener's reconnect
(``Backoff`` alone: they loop forever), the providers' bounded retries of one model
call (:mod:`enginev2d.providers.retry`) and the fallback webhook (:func:`retry`).

The default delays are class constants so tests patch them (``Backoff.INITIAL_S =
0.01``) instead of sleeping; a user with its own scale passes ``initial_s`` etc.
``next_delay()`` never exceeds the maximum; ``reset()`` after a success starts over.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Backoff:
    INITIAL_S: float = 0.5
    MAX_S: float = 10.0
    FACTOR: float = 2.0
    JITTER: float = 0.1  # +/- fraction of the delay

    def __init__(
        self,
        *,
        initial_s: float | None = None,
        max_s: float | None = None,
        factor: float | None = None,
        jitter: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._initial, self._max = initial_s, max_s
        self._factor, self._jitter = factor, jitter
        self._rng = rng or random.Random()
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next try; grows with every call until ``reset()``."""
        initial = self.INITIAL_S if self._initial is None else self._initial
        cap = self.MAX_S if self._max is None else self._max
        factor = self.FACTOR if self._factor is None else self._factor
        jitter = self.JITTER if self._jitter is None else self._jitter
        base = min(cap, initial * factor**self.attempts)
        self.attempts += 1
        spread = base * jitter * (2 * self._rng.random() - 1)
        return max(0.0, min(cap, base + spread))

    def reset(self) -> None:
        self.attempts = 0

    @property
    def failing(self) -> bool:
        return self.attempts > 0


def sleep(seconds: float) -> bool:
    """The default wait of :func:`retry`: sleeps, never stops early."""
    time.sleep(seconds)
    return True


def retry(
    call: Callable[[], T],
    *,
    retries: int,
    backoff: Backoff,
    should_retry: Callable[[Exception], bool],
    hint_s: Callable[[Exception], float | None] | None = None,
    max_hint_s: float = float("inf"),
    wait: Callable[[float], bool] = sleep,
    on_retry: Callable[[Exception, int, float], None] | None = None,
    on_stop: Callable[[Exception], Exception] | None = None,
) -> T:
    """``call()`` until it returns. An exception ``should_retry`` accepts is retried up to
    ``retries`` times after ``backoff.next_delay()`` (or the call's own ``hint_s``, e.g.
    Retry-After, capped at ``max_hint_s``); any other, or the last, is raised.
    ``wait(seconds)`` returning False stops early: ``on_stop(exc)`` (else ``exc``) is
    raised. ``on_retry(exc, retry_number, delay)`` sees each retry before its wait."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not should_retry(exc) or attempt >= max(0, retries):
                raise
            attempt += 1
            hinted = hint_s(exc) if hint_s is not None else None
            delay = backoff.next_delay()
            if hinted is not None:
                delay = min(max(0.0, hinted), max_hint_s)
            if on_retry is not None:
                on_retry(exc, attempt, delay)
            if not wait(delay):
                if on_stop is None:
                    raise
                raise on_stop(exc) from exc
