"""Waiting on a condition with a deadline: the only way tests wait (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

DEADLINE_S = 10.0
POLL_S = 0.02
SENTINEL = "--sentinel--"


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


def drain_notifies(
    listener: psycopg.Connection[Any],
    db_url: str,
    channel: str,
    timeout: float = DEADLINE_S,
) -> list[psycopg.Notify]:
    """Every notification ``listener`` received before a sentinel committed now on
    ``channel`` (which it LISTENs on). PostgreSQL delivers notifications in commit order,
    so this is everything committed so far, without sleeping."""
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, %s)", (channel, SENTINEL))
    out: list[psycopg.Notify] = []
    for note in listener.notifies(timeout=timeout):
        if note.channel == channel and note.payload == SENTINEL:
            return out
        out.append(note)
    raise AssertionError(f"the sentinel NOTIFY never arrived within {timeout:.1f}s; got {out}")
