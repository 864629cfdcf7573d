"""Waiting on a condition with a deadline: the only way tests wait (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DEADLINE_S = 10.0
POLL_S = 0.02


def wait_for(
    pred: Callable[[], Any],
    timeout: float = DEADLINE_S,
    what: str = "",
    *,
    interval: float = POLL_S,
) -> Any:
    """Return ``pred()``'s first truthy value; fail the test when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what or pred}")
        time.sleep(interval)
