"""One exception hierarchy, mapped to the design's fallback error codes (section 15).

Every failure a job can meet is an :class:`EngineError` carrying ``code`` (the value
written to ``job_runs.error_code`` / ``job_tasks.error_code`` and into events) and
``retryable`` (whether another attempt of the task may succeed). Anything else that
escapes a task is classified as ``v2_unknown``.
"""

from __future__ import annotations

from typing import Any

# Section 15, verbatim. Job-level codes; the server aggregates on these.
V2_OUTPUT_INVALID = "v2_output_invalid"
V2_TASK_FAILED = "v2_task_failed"
V2_TIMEOUT = "v2_timeout"
V2_SCHEDULER_ERROR = "v2_scheduler_error"
V2_DAG_DEADLOCK = "v2_dag_deadlock"
V2_STAGING_ERROR = "v2_staging_error"
V2_CONCURRENT_APPLY = "v2_concurrent_apply"
V2_UNKNOWN = "v2_unknown"

DESIGN_CODES = frozenset(
    {
        V2_OUTPUT_INVALID,
        V2_TASK_FAILED,
        V2_TIMEOUT,
        V2_SCHEDULER_ERROR,
        V2_DAG_DEADLOCK,
        V2_STAGING_ERROR,
        V2_CONCURRENT_APPLY,
        V2_UNKNOWN,
    }
)

# Task-level codes that are not job outcomes in their own right.
UPSTREAM_FAILED = "upstream_failed"  # design 8.4
WORKER_LOST = "worker_lost"  # the daemon owning the attempt died (lease expired)
CANCELED = "canceled"  # admin cancel


class EngineError(Exception):
    """Base of every error enginev2d raises on purpose."""

    code: str = V2_UNKNOWN
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.detail = detail or {}

    def to_json(self) -> dict[str, Any]:
        """The structured ``error`` stored on attempts and in events (no secrets, no prompts)."""
        data: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "kind": type(self).__name__,
        }
        if self.detail:
            data["detail"] = self.detail
        return data


class ConfigError(EngineError):
    """Bad or missing configuration. Raised at start-up, never mid-job."""

    code = V2_SCHEDULER_ERROR


class OutputInvalid(EngineError):
    """A model's answer (or the job's final result) is malformed or out of schema.

    Retryable: the next attempt carries ``repair_hint`` in its prompt.
    """

    code = V2_OUTPUT_INVALID
    retryable = True

    def __init__(self, message: str, *, repair_hint: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.repair_hint = repair_hint or message


class TaskFailed(EngineError):
    code = V2_TASK_FAILED


class JobTimeout(EngineError):
    code = V2_TIMEOUT


class SchedulerError(EngineError):
    code = V2_SCHEDULER_ERROR


class DagDeadlock(SchedulerError):
    """Circular, self-referencing or dangling dependencies (design 8.6)."""

    code = V2_DAG_DEADLOCK


class StagingError(EngineError):
    """Filesystem work in staging or the swap failed, or a path tried to escape."""

    code = V2_STAGING_ERROR


class PathEscape(StagingError):
    """A model-supplied path is absolute, contains ``..``, targets ``.git`` or a symlink."""


class OutputTooLarge(StagingError):
    """File count, per-file or total size over the configured limits."""


class ConcurrentApply(EngineError):
    code = V2_CONCURRENT_APPLY


class Canceled(EngineError):
    """The job was canceled by an operator; running tasks stop at their next check."""

    code = CANCELED


class WorkerLost(EngineError):
    code = WORKER_LOST
    retryable = True


class EngineDisabled(WorkerLost):
    """v2 was switched off (the fleet switch or the daemon's ENGINE_V2_ENABLED) while the
    job ran: its attempts stop like a lost worker's, then the daemon fails the job over
    to v1 (v2_scheduler_error), as it does with every job waiting while v2 is off."""


class ProviderError(EngineError):
    """A model provider call failed. Subclasses say whether a retry can help."""

    code = V2_TASK_FAILED

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after_s: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.provider = provider
        self.status = status
        self.retry_after_s = retry_after_s

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["provider"] = self.provider
        if self.status is not None:
            data["status"] = self.status
        if self.retry_after_s is not None:
            data["retry_after_s"] = self.retry_after_s
        return data


class ProviderRateLimited(ProviderError):
    retryable = True


class ProviderUnavailable(ProviderError):
    """5xx, overload, timeout or connection failure."""

    retryable = True


class ProviderAuthError(ProviderError):
    retryable = False


class ProviderRefusal(ProviderError):
    retryable = False


class ProviderNotConfigured(ProviderError):
    """Missing API key, project or endpoint URL for the routed provider."""

    retryable = False


def classify(exc: BaseException) -> EngineError:
    """Map any exception to an EngineError (unknown ones become ``v2_unknown``)."""
    if isinstance(exc, EngineError):
        return exc
    return EngineError(f"{type(exc).__name__}: {exc}", code=V2_UNKNOWN, retryable=False)


def job_error_code(task_error_code: str | None) -> str:
    """The job-level code (section 15) for a task that failed for good."""
    if task_error_code in DESIGN_CODES and task_error_code != V2_UNKNOWN:
        return task_error_code
    return V2_TASK_FAILED
