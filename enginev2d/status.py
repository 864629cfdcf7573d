"""Run, task and attempt statuses in one place (the CHECK constraints of design 3).

``StrEnum`` members compare equal to the strings the database stores, so a row's
``status`` can be tested against them directly (``row["status"] == RunStatus.RUNNING``)
and they bind as plain text parameters.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """``engine_v2.job_runs.status`` (design 3.2)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class TaskStatus(StrEnum):
    """``engine_v2.job_tasks.status`` (design 3.3)."""

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELED = "canceled"
    SKIPPED = "skipped"


class AttemptStatus(StrEnum):
    """``engine_v2.job_task_attempts.status`` (design 3.5)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


RUN_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})
TASK_TERMINAL = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.SKIPPED}
)
# How a job's events end it (design 13): the relay stops after one of these.
TERMINAL_EVENTS = frozenset({"jobCompleted", "jobFailed", "jobCanceled"})
