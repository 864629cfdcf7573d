"""The contract between the DAG engine and the seven task bodies.

The engine (``worker.py``) claims a task, builds a :class:`TaskContext` and calls
:func:`enginev2d.tasks.execute`. Task modules never touch the scheduler's tables: they
return an output dict (section 7.3 shape), record usage and artifacts on the context,
and raise :class:`~enginev2d.errors.EngineError` subclasses on failure. The engine then
stores output, usage, artifacts and events in the transaction that completes the task.

A task module provides::

    KEY: str
    def build_input(ctx: TaskContext) -> dict          # section 7.3 input, stored on the task
    def run(ctx: TaskContext, input: dict) -> Any       # the external call(s): raw output
    def validate(ctx: TaskContext, output: Any) -> dict # schema check, raises OutputInvalid
    def apply(ctx: TaskContext, output: dict) -> None   # staging writes + artifacts
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import Canceled

log = logging.getLogger(__name__)
PROGRESS_MIN_INTERVAL_S = 0.5  # report_progress passes at most two reports a second

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from ..config import Config
    from ..staging import Staging


@dataclass(frozen=True)
class JobInfo:
    """The run as submitted through ``engine_v2.submit_job``."""

    job_id: str
    user_id: str | None
    project_id: str | None
    message: str
    mode: str = "live"  # live | shadow
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobInfo:
        return cls(
            job_id=str(row["job_id"]),
            user_id=str(row["user_id"]) if row.get("user_id") else None,
            project_id=row.get("project_id"),
            message=row.get("message") or "",
            mode=row.get("mode") or "live",
            options=row.get("options") or {},
        )


@dataclass
class Usage:
    """Tokens, images and cost of one attempt; several model calls add up."""

    tokens_in: int = 0
    tokens_out: int = 0
    images: int = 0
    cost_usd: float = 0.0
    models: list[str] = field(default_factory=list)

    @property
    def model(self) -> str | None:
        """The model that produced the accepted answer (the last one called)."""
        return self.models[-1] if self.models else None


@dataclass
class Artifact:
    kind: str  # code | image | plan | review | publish | shadow_result | ...
    uri: str | None = None
    content: Any = None  # JSON-serializable
    metadata: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    name: str


@dataclass
class TaskContext:
    job: JobInfo
    task_id: str
    task_key: str
    attempt: int  # 1-based; the fencing token of this attempt
    config: Config
    staging: Staging
    upstream: Mapping[str, Mapping[str, Any]]  # outputs of finished tasks, by task_key
    repair_hint: str | None = None  # why the previous attempt's output was rejected
    pool: ConnectionPool | None = None  # only for publish's advisory-lock transaction
    stop_event: threading.Event = field(default_factory=threading.Event)
    stop_reason: Callable[[], BaseException | None] = lambda: None
    usage: Usage = field(default_factory=Usage)
    artifacts: list[Artifact] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, e.g. which model answered
    owner: str | None = None  # the daemon holding the job's lease (publish fences on it)
    # Run by the worker once this attempt's completion has committed (or was refused):
    # publish_prep releases its publish guard here.
    after_complete: list[Callable[[], None]] = field(default_factory=list)
    # time.monotonic() by which the job must be done (the worker's job deadline), or None.
    # Model calls bound their timeouts and retry waits by it.
    deadline: float | None = None
    # Receives report_progress's reports (the engine writes a taskProgress event); None = off.
    progress_sink: Callable[[dict[str, Any]], None] | None = None
    _progress_last: float = field(default=float("-inf"), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ helpers
    @property
    def inject(self) -> Mapping[str, Any]:
        """``options.inject.<task_key>`` when ``testing.allow_inject`` is on, else ``{}``."""
        if not self.config.testing.allow_inject:
            return {}
        return (self.job.options.get("inject") or {}).get(self.task_key) or {}

    def check(self) -> None:
        """Raise if the job was canceled, timed out or the daemon is stopping hard."""
        if self.stop_event.is_set():
            reason = self.stop_reason()
            raise reason if reason is not None else Canceled("job stopped")

    def wait(self, seconds: float) -> None:
        """Sleep that ends early (raising) when the attempt must stop."""
        if self.stop_event.wait(seconds):
            self.check()

    def report_progress(self, data: dict[str, Any]) -> None:
        """Pass ``data`` (e.g. ``{"bytes": 1234, "tokens": 300, "model": ...}``) to
        :attr:`progress_sink`, at most once per :data:`PROGRESS_MIN_INTERVAL_S` (monotonic
        clock); reports in between are dropped. A failing sink is logged, never raised:
        progress must not break the model call that reports it."""
        sink = self.progress_sink
        if sink is None:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._progress_last < PROGRESS_MIN_INTERVAL_S:
                return
            self._progress_last = now
        try:
            sink(dict(data))
        except Exception:
            log.warning(
                "progress report failed",
                exc_info=True,
                extra={"action": "progress_failed", "job_id": self.job.job_id},
            )

    def record_usage(
        self, model: str, tokens_in: int = 0, tokens_out: int = 0, images: int = 0
    ) -> None:
        price = self.config.pricing.get(model)
        with self._lock:  # asset's images finish on several threads
            self.usage.tokens_in += tokens_in
            self.usage.tokens_out += tokens_out
            self.usage.images += images
            self.usage.models.append(model)
            if price is not None:
                self.usage.cost_usd += (
                    tokens_in * price.input_per_mtok / 1e6
                    + tokens_out * price.output_per_mtok / 1e6
                    + images * price.per_image
                )

    def add_artifact(
        self,
        kind: str,
        *,
        uri: str | None = None,
        content: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.artifacts.append(Artifact(kind, uri, content, metadata or {}))


@dataclass
class TaskOutcome:
    """What a successful attempt hands back to the engine."""

    output: dict[str, Any]
    usage: Usage
    artifacts: list[Artifact]
    input: dict[str, Any] = field(default_factory=dict)
