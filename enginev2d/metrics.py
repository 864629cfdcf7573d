"""All Prometheus metrics in one module (interface stub; the observability issue fills it).

The engine and the daemon call these hooks; they must never raise and never block.
Labels are bounded: task keys, outcomes, error codes, model names from config.
"""

from __future__ import annotations


def task_attempt_finished(
    task_key: str,
    outcome: str,  # succeeded | failed | retry | canceled
    duration_s: float,
    *,
    model: str | None = None,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost_usd: float = 0.0,
) -> None:
    """One attempt of a task ended."""


def task_skipped(task_key: str) -> None:
    """A task was skipped by a conditional rule (design 7.4)."""


def job_finished(outcome: str, duration_s: float, *, error_code: str | None = None) -> None:
    """A job reached succeeded/failed/canceled; failures count as fallbacks by error_code."""


def job_claimed(pickup_latency_s: float | None, *, takeover: bool, via: str) -> None:
    """A daemon claimed a job (via = notify | poll | takeover)."""


def running_jobs(count: int) -> None:
    """Jobs this daemon is running now."""


def listener_reconnected() -> None:
    """The LISTEN connection was re-established."""
