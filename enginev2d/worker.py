"""Running one job: :class:`JobRunner` and its worker threads (design 8.3, without the
300 ms sleep).

``run()`` materializes the DAG (idempotent), recovers a taken-over job, prepares the
staging directory and runs ``daemon.workers_per_job`` workers (the calling thread is
one of them). A worker claims a task, executes it outside any transaction, and hands
the result back in one call that also claims its next task. A worker that finds
nothing to claim while siblings still run waits on an in-process condition that a
sibling signals when a completion made work ready or ended the job (bounded by
``daemon.worker_idle_timeout_s``), so the job's threads return as soon as the last task
commits. A monitor thread enforces ``daemon.job_timeout_s`` (from ``job_runs.created_at``)
and notices operator cancels and lost ownership.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from time import monotonic
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from . import metrics, progress, scheduler, tasks
from .config import Config
from .errors import (
    V2_DAG_DEADLOCK,
    V2_TIMEOUT,
    Canceled,
    DagDeadlock,
    EngineError,
    JobTimeout,
    OutputInvalid,
    WorkerLost,
    classify,
)
from .staging import Staging
from .tasks.base import JobInfo, TaskContext, TaskOutcome
from .workflow import DEFAULT_WORKFLOW, Workflow

logger = logging.getLogger(__name__)

T = TypeVar("T")
Executor = Callable[[TaskContext], TaskOutcome]

DB_RETRIES = 3


@dataclass
class JobOutcome:
    status: str  # succeeded | failed | canceled | released (unfinished, stopped gracefully)
    error_code: str | None = None


def error_json(err: EngineError) -> dict[str, Any]:
    """The structured error stored on the attempt and in events."""
    data = err.to_json()
    if isinstance(err, OutputInvalid):
        data["repair_hint"] = err.repair_hint
    return data


class JobRunner:
    def __init__(
        self,
        cfg: Config,
        pool: ConnectionPool,
        job: Mapping[str, Any],
        *,
        owner: str | None,
        takeover: bool = False,
        executor: Executor = tasks.execute,
        workflow: Workflow | None = None,
        validate_workflow: bool = True,
    ) -> None:
        self.cfg = cfg
        self.pool = pool
        self.job = dict(job)
        self.job_id = str(job["job_id"])
        self.info = JobInfo.from_row({**self.job, "job_id": self.job_id})
        self.owner = owner
        self.takeover = takeover
        self.executor = executor
        self.workflow = workflow or DEFAULT_WORKFLOW
        self.validate_workflow = validate_workflow

        self._cond = threading.Condition()
        self._gen = 0  # bumped (under _cond) whenever work may have become available
        self._stop_claims = False
        self._abort_reason: EngineError | None = None
        self._aborted_at: float | None = None
        self._running: dict[str, TaskContext] = {}  # task_id -> context of our attempt
        self._outputs: dict[str, dict[str, Any]] = {}
        self._done = threading.Event()
        self._staging: Staging | None = None
        self._deadline = float("inf")
        self._timed_out = False

    # ------------------------------------------------------------------ control
    def request_stop(self) -> None:
        """Graceful: claim nothing new; running attempts finish and are recorded."""
        self._stop_claims = True
        self._wake()

    def abort(self, reason: EngineError) -> None:
        """Hard: running attempts are told to stop (stop_event + stop_reason); no claims."""
        with self._cond:
            if self._abort_reason is None:
                self._abort_reason = reason
                self._aborted_at = monotonic()
            self._stop_claims = True
            running = list(self._running.values())
            self._gen += 1
            self._cond.notify_all()
        for ctx in running:
            ctx.stop_event.set()
        logger.info(
            "job aborted: %s",
            reason.message,
            extra={"action": "job_aborted", "job_id": self.job_id, "task_key": None},
        )

    def _stop_reason(self) -> BaseException | None:
        return self._abort_reason

    def _wake(self) -> None:
        with self._cond:
            self._gen += 1
            self._cond.notify_all()

    # ------------------------------------------------------------------ run
    def run(self) -> JobOutcome:
        created_at = self.job.get("created_at")
        age = 0.0
        if isinstance(created_at, datetime):
            age = max(0.0, (datetime.now(UTC) - created_at).total_seconds())
        self._deadline = monotonic() + max(0.0, self.cfg.daemon.job_timeout_s - age)
        staging = Staging(self.cfg, self.info)
        monitor: threading.Thread | None = None
        try:
            if not self._start():
                return self._outcome()
            staging.prepare(fresh=self.takeover)
            self._staging = staging
            monitor = threading.Thread(
                target=self._monitor, name=f"ev2-mon-{self.job_id[:8]}", daemon=True
            )
            monitor.start()
            threads = [
                threading.Thread(
                    target=self._worker_main,
                    args=(i,),
                    name=f"ev2-w{i}-{self.job_id[:8]}",
                    daemon=True,
                )
                for i in range(1, self.cfg.daemon.workers_per_job)
            ]
            for t in threads:
                t.start()
            self._worker_main(0)
            self._join(threads)
        finally:
            self._done.set()
            if monitor is not None:
                monitor.join(timeout=5.0)
            staging.remove()
        return self._outcome()

    def _start(self) -> bool:
        """Materialize and (on takeover) recover. False if the job cannot run at all."""

        def start(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            return scheduler.materialize(
                conn, self.job_id, self.workflow, validate=self.validate_workflow
            )

        try:
            made = self._db(start)
        except DagDeadlock as exc:
            message = exc.message
            logger.error(
                "invalid workflow: %s",
                message,
                extra={"action": "workflow_invalid", "job_id": self.job_id, "task_key": None},
            )
            self._db(
                lambda c: scheduler.fail_job(
                    c, self.cfg, self.job_id, self.owner, V2_DAG_DEADLOCK, message
                )
            )
            return False
        self._outputs.update(made.get("outputs") or {})
        if self.takeover:
            step = self._db(lambda c: scheduler.recover_job(c, self.job_id, self.owner, self.cfg))
            if step.stale:
                logger.warning(
                    "takeover lost: job owned by someone else",
                    extra={
                        "action": "stale_write_rejected",
                        "job_id": self.job_id,
                        "task_key": None,
                    },
                )
                return False
            logger.info(
                "recovered job: %s",
                step.extra,
                extra={"action": "job_recovered", "job_id": self.job_id, "task_key": None},
            )
        return True

    def _join(self, threads: list[threading.Thread]) -> None:
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.2)
                if (
                    t.is_alive()
                    and self._aborted_at is not None
                    and monotonic() - self._aborted_at > self.cfg.daemon.shutdown_grace_s
                ):
                    self._force_close()
                    return

    def _force_close(self) -> None:
        """Attempts whose body ignores the stop signal are closed for it (fenced: the
        body's own late write will be rejected as stale)."""
        with self._cond:
            stuck = list(self._running.values())
        reason = self._abort_reason or Canceled("job stopped")
        status = "canceled" if isinstance(reason, Canceled) else "failed"
        for ctx in stuck:
            try:
                self._db(
                    lambda c, ctx=ctx: scheduler.complete(
                        c,
                        self.cfg,
                        job_id=self.job_id,
                        task_id=ctx.task_id,
                        attempt=ctx.attempt,
                        owner=self.owner,
                        status=status,
                        error=error_json(reason),
                        usage={},
                        claim_next=False,
                    )
                )
            except Exception:
                logger.exception(
                    "could not close a stuck attempt",
                    extra={
                        "action": "force_close_failed",
                        "job_id": self.job_id,
                        "task_key": ctx.task_key,
                    },
                )

    def _outcome(self) -> JobOutcome:
        state = self._db(lambda c: scheduler.job_state(c, self.job_id)) or {}
        status = state.get("status")
        if status in ("succeeded", "failed", "canceled"):
            return JobOutcome(status, state.get("error_code"))
        return JobOutcome("released", state.get("error_code"))

    # ------------------------------------------------------------------ db helper
    def _db(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        delay = 0.05
        for attempt in range(1, DB_RETRIES + 1):
            try:
                with self.pool.connection() as conn:
                    return fn(conn)
            except psycopg.OperationalError as exc:
                if attempt == DB_RETRIES:
                    raise
                logger.warning(
                    "database call failed (%s), retrying",
                    exc,
                    extra={"action": "db_retry", "job_id": self.job_id, "task_key": None},
                )
                self._done.wait(delay)
                delay *= 4
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ monitor
    def _monitor(self) -> None:
        poll = max(0.05, self.cfg.daemon.poll_interval_s)
        while not self._done.is_set():
            remaining = self._deadline - monotonic()
            if not self._timed_out and remaining <= 0:
                self._on_timeout()
                continue
            wait = poll if self._timed_out else min(poll, remaining)
            if self._done.wait(wait):
                return
            if self._timed_out or monotonic() >= self._deadline:
                continue
            try:
                state = self._db(lambda c: scheduler.job_state(c, self.job_id)) or {}
            except Exception:
                continue
            if state.get("cancel_requested") or state.get("status") == "canceled":
                self.abort(Canceled("job canceled"))
            elif state and state.get("owner") != self.owner:
                self.abort(WorkerLost("job owned by another daemon"))

    def _on_timeout(self) -> None:
        self._timed_out = True
        msg = f"job exceeded daemon.job_timeout_s={self.cfg.daemon.job_timeout_s:g}"
        logger.warning(
            msg, extra={"action": "job_timeout", "job_id": self.job_id, "task_key": None}
        )
        try:
            self._db(
                lambda c: scheduler.fail_job(
                    c, self.cfg, self.job_id, self.owner, V2_TIMEOUT, msg, cancel_code=V2_TIMEOUT
                )
            )
        except Exception:
            logger.exception(
                "could not record the timeout",
                extra={"action": "job_timeout_failed", "job_id": self.job_id, "task_key": None},
            )
        self.abort(JobTimeout(msg))

    # ------------------------------------------------------------------ workers
    def _worker_main(self, idx: int) -> None:
        try:
            self._worker_loop()
        except Exception as exc:
            logger.exception(
                "worker %d crashed",
                idx,
                extra={"action": "worker_crashed", "job_id": self.job_id, "task_key": None},
            )
            self.abort(WorkerLost(f"worker crashed: {exc}"))

    def _worker_loop(self) -> None:
        task: scheduler.ClaimedTask | None = None
        while True:
            if task is None:
                if self._stop_claims:
                    return
                gen = self._gen
                step = self._db(lambda c: scheduler.claim(c, self.cfg, self.job_id, self.owner))
                if step.stale or step.result == "missing":
                    self._lost(f"claim rejected ({step.reason or step.result})")
                    return
                self._observe(step)
                task = step.task
                if task is None:
                    if step.active == 0 or step.job_status == "canceled":
                        self._wake()
                        return
                    if step.ready == 0:
                        with self._cond:
                            if self._gen == gen and not self._stop_claims:
                                self._cond.wait(timeout=self.cfg.daemon.worker_idle_timeout_s)
                    continue
            task = self._run_task(task)

    def _lost(self, why: str) -> None:
        logger.warning(
            "job no longer ours: %s",
            why,
            extra={"action": "stale_write_rejected", "job_id": self.job_id, "task_key": None},
        )
        self.abort(WorkerLost(why))

    def _observe(self, step: scheduler.Step) -> None:
        if step.job_status == "canceled" and self._abort_reason is None:
            self.abort(Canceled("job canceled"))
        elif step.ready > 0 or step.active == 0 or step.ended:
            self._wake()

    def _upstream(self, task_key: str) -> dict[str, dict[str, Any]]:
        return {
            k: self._outputs[k] for k in self.workflow.ancestors(task_key) if k in self._outputs
        }

    def _run_task(self, task: scheduler.ClaimedTask) -> scheduler.ClaimedTask | None:
        assert self._staging is not None
        ctx = TaskContext(
            job=self.info,
            task_id=task.id,
            task_key=task.task_key,
            attempt=task.attempt,
            config=self.cfg,
            staging=self._staging,
            upstream=self._upstream(task.task_key),
            repair_hint=task.repair_hint,
            pool=self.pool,
            stop_reason=self._stop_reason,
        )
        with self._cond:
            self._running[task.id] = ctx
            if self._abort_reason is not None:
                ctx.stop_event.set()
        log_extra = {"job_id": self.job_id, "task_key": task.task_key}
        t0 = monotonic()
        outcome: TaskOutcome | None = None
        err: EngineError | None = None
        try:
            outcome = self.executor(ctx)
            if not isinstance(outcome.output, dict):
                raise OutputInvalid(f"{task.task_key}: output must be an object")
        except Exception as exc:
            err = classify(exc)
            outcome = None
        elapsed = monotonic() - t0
        usage = outcome.usage if outcome is not None else ctx.usage
        usage_json = {
            "latency_ms": int(elapsed * 1000),
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "cost_usd": round(usage.cost_usd, 4),
        }
        claim_next = not self._stop_claims
        if outcome is not None:
            output = outcome.output
            artifacts = [dataclasses.asdict(a) for a in outcome.artifacts]
            partial = None
            spec = self.workflow.by_key.get(task.task_key)
            if spec is not None and spec.partial:
                pr = progress.partial_result(
                    output.get("files"),
                    inline_limit=self.cfg.limits.partial_inline_bytes,
                    task_artifacts=artifacts,
                )
                if pr is not None:
                    partial = pr.data
                    artifacts.extend(pr.artifacts)
            step = self._db(
                lambda c: scheduler.complete(
                    c,
                    self.cfg,
                    job_id=self.job_id,
                    task_id=task.id,
                    attempt=task.attempt,
                    owner=self.owner,
                    status="succeeded",
                    output=output,
                    input=outcome.input or None,
                    usage=usage_json,
                    artifacts=artifacts,
                    skip=self.workflow.skips_after(task.task_key, output),
                    partial=partial,
                    claim_next=claim_next,
                )
            )
            label = "succeeded"
        else:
            assert err is not None
            status = "canceled" if isinstance(err, Canceled) else "failed"
            step = self._db(
                lambda c: scheduler.complete(
                    c,
                    self.cfg,
                    job_id=self.job_id,
                    task_id=task.id,
                    attempt=task.attempt,
                    owner=self.owner,
                    status=status,
                    error=error_json(err),
                    usage=usage_json,
                    claim_next=claim_next,
                )
            )
            if status == "failed" and err.retryable and task.attempt < task.max_attempts:
                label = "retry"
            else:
                label = status
            logger.info(
                "task %s attempt %d %s: %s",
                task.task_key,
                task.attempt,
                label,
                err.message,
                extra={"action": "task_" + label, **log_extra},
            )
        with self._cond:
            self._running.pop(task.id, None)
        metrics.task_attempt_finished(
            task.task_key,
            label,
            elapsed,
            model=usage.model,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            cost_usd=usage.cost_usd,
        )
        for key in step.skipped:
            metrics.task_skipped(key)
        if step.stale:
            if step.reason == "owner":
                self._lost("completion rejected: job owned by another daemon")
            return None
        if outcome is not None:
            self._outputs[task.task_key] = outcome.output
        self._observe(step)
        return step.task
