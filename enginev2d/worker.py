"""Running one job: :class:`JobRunner` and its worker threads (design 8.3, without the
300 ms sleep).

``run()`` prepares the staging directory, then materializes the DAG (idempotent) and
claims the first tasks in one call (a takeover recovers first), and runs up to
``daemon.workers_per_job`` workers (the calling thread is one of them; the others are
started only when the DAG fans out). A worker claims a task, executes it outside any
transaction, and hands the result back in one call that also claims its next task, plus
one task per idle sibling slot: extra claims are handed to idle siblings in-process
(exactly one wake-up per task), so a fan-out costs no extra round trip or commit. A
sibling that has nothing to do waits on its own event, set when work was handed to it,
when a completion left ready tasks it should claim, or when the job ended (bounded by
``daemon.worker_idle_timeout_s``), so the job's threads return as soon as the last task
commits.

The runner's database work goes through one connection held for the job's life (the
job's transactions serialise on its ``job_runs`` row anyway): one pool check per job,
not per call, and psycopg prepares the hot statements on it. A broken connection is
dropped and replaced (``OperationalError`` retried, fenced calls make that safe).

The process-wide job watch (:mod:`enginev2d.watch`) enforces ``daemon.job_timeout_s``
(from ``job_runs.created_at``) and notices operator cancels and lost ownership: one
thread and one query per tick for every running job, not a thread per job.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from time import monotonic
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from . import contents, logsetup, metrics, progress, scheduler, tasks, watch
from .completer import Completer, Item
from .completion import Completion
from .config import Config
from .contents import ContentIndex
from .db import Repeats, give_back, retry_broken
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
from .publish import Production
from .staging import Staging
from .status import RUN_TERMINAL
from .task_types import PREVIEW_TASKS
from .tasks.base import Artifact, JobInfo, TaskContext, TaskOutcome
from .templates import preview_files
from .workflow import DEFAULT_WORKFLOW, Workflow

logger = logsetup.context_logger(__name__)

T = TypeVar("T")
Executor = Callable[[TaskContext], TaskOutcome]


@dataclass
class JobOutcome:
    status: str  # succeeded | failed | canceled | released (unfinished, stopped gracefully)
    error_code: str | None = None


_ARTIFACT_FIELDS = tuple(f.name for f in dataclasses.fields(Artifact))


def _artifact_row(artifact: Artifact) -> dict[str, Any]:
    """An artifact as a row for complete_task: a shallow dict (``dataclasses.asdict``
    deep-copies the content, ~0.3 ms for a 30-file codegen output; nothing mutates the
    nested values, partial_result only adds an ``id`` to the row itself)."""
    return {name: getattr(artifact, name) for name in _ARTIFACT_FIELDS}


def error_json(err: EngineError) -> dict[str, Any]:
    """The structured error stored on the attempt and in events."""
    data = err.to_json()
    if isinstance(err, OutputInvalid):
        data["repair_hint"] = err.repair_hint
    return data


def _usage_json(usage: Any, elapsed_s: float) -> dict[str, Any]:
    return {
        "latency_ms": int(elapsed_s * 1000),
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "cost_usd": round(usage.cost_usd, 4),
    }


def _stopped(ctx: TaskContext, reason: EngineError) -> Completion:
    """An attempt whose body ignored the stop signal, closed for it."""
    if isinstance(reason, Canceled):
        return Completion.canceled(ctx.task_id, ctx.attempt, error_json(reason))
    return Completion.failed(ctx.task_id, ctx.attempt, error_json(reason))


def _label(task: scheduler.ClaimedTask, err: EngineError | None) -> str:
    """The attempt's outcome as the metrics and logs name it."""
    if err is None:
        return "succeeded"
    if isinstance(err, Canceled):
        return "canceled"
    return "retry" if err.retryable and task.attempt < task.max_attempts else "failed"


class _Idler:
    """A worker waiting for work: its own event, and what it was woken for."""

    __slots__ = ("claim", "event", "task")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.task: scheduler.ClaimedTask | None = None
        self.claim = False


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
        completer: Completer | None = None,
        started: scheduler.Step | None = None,
    ) -> None:
        self.cfg = cfg
        self.started = started  # the first step, when the intake's claim started the job
        self.completer = completer  # the daemon's group completer (else one call each)
        self.pool = pool
        self.job = dict(job)
        self.job_id = str(job["job_id"])
        self.info = JobInfo.from_row({**self.job, "job_id": self.job_id})
        self.owner = owner
        self.takeover = takeover
        self.executor = executor
        self.workflow = workflow or DEFAULT_WORKFLOW
        self.validate_workflow = validate_workflow
        self.workers = max(1, cfg.daemon.workers_per_job)

        self._cond = threading.RLock()  # guards the hand-off state below
        self._stop_claims = False
        self._abort_reason: EngineError | None = None
        self._aborted_at: float | None = None
        self._running: dict[str, TaskContext] = {}  # task_id -> context of our attempt
        self._outputs: dict[str, dict[str, Any]] = {}
        self._contents = ContentIndex()  # file texts our committed artifacts hold
        self._settled: set[str] = set()  # task keys known succeeded or skipped
        self._queue: collections.deque[scheduler.ClaimedTask] = collections.deque()
        self._idlers: collections.deque[_Idler] = collections.deque()
        self._threads: list[threading.Thread] = []
        self._alive = 1  # worker threads (the calling one included)
        self._ended = False  # a step saw nothing left to run (active == 0)
        self._final: scheduler.Step | None = None
        self._done = threading.Event()
        self._staging: Staging | None = None
        self._deadline = float("inf")
        self._timed_out = False
        self._conn: psycopg.Connection[Any] | None = None
        self._conn_lock = threading.Lock()

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
            self._broadcast()
        for ctx in running:
            ctx.stop_event.set()
        logger.info(
            "job aborted: %s",
            reason.message,
            extra={"action": "job_aborted"},
        )

    def _stop_reason(self) -> BaseException | None:
        return self._abort_reason

    def _wake(self) -> None:
        with self._cond:
            self._broadcast()

    def _broadcast(self) -> None:
        """(under _cond) Every idle worker re-checks the job's state."""
        for idler in self._idlers:
            idler.event.set()
        self._idlers.clear()

    # ------------------------------------------------------------------ run
    def run(self) -> JobOutcome:
        """Run the job to its end (or until it is no longer ours); every log line of it
        and of its threads carries job_id, and task_key while a task runs."""
        with logsetup.bind(job_id=self.job_id):
            return self._run()

    def _run(self) -> JobOutcome:
        created_at = self.job.get("created_at")
        age = 0.0
        if isinstance(created_at, datetime):
            age = max(0.0, (datetime.now(UTC) - created_at).total_seconds())
        self._deadline = monotonic() + max(0.0, self.cfg.daemon.job_timeout_s - age)
        staging = Staging(self.cfg, self.info)
        watched = None
        try:
            try:
                first = self._start(staging)
                if first is not None:
                    watched = watch.WATCH.add(
                        self, self.pool, poll_s=self.cfg.daemon.poll_interval_s,
                        deadline=self._deadline,
                    )  # fmt: skip
                    if self._check(first, "claim"):
                        self._worker_main(0, first.task)
                    self._join()
            finally:
                self._done.set()
                if watched is not None:
                    watch.WATCH.remove(watched)  # waits for a timeout being recorded
                # Whatever the outcome, lost included: a job's next run is a takeover,
                # which seeds a tree of its own and never reads an earlier one. (_start's
                # prepare cleared any seeding a crash left.)
                staging.remove(leftovers=False)
            return self._outcome()
        finally:
            self._release_conn()  # whatever happened: the job's connection goes back

    def _start(self, staging: Staging) -> scheduler.Step | None:
        """Materialize, recover a takeover, prepare staging and claim the first tasks.
        None if the job cannot run at all."""
        if self.takeover:
            made = self._materialize()
            if made is None:
                return None
            self._learn(made.get("outputs") or {})
            production = Production(self.cfg)
            step = self._db(
                lambda c: scheduler.recover_job(
                    c, self.job_id, self.owner, self.cfg, production=production
                )
            )
            if step.ended:  # live in production already, or a waiting cancel applied
                return None
            if step.stale:
                logger.warning(
                    "takeover lost: job owned by someone else",
                    extra={"action": "stale_write_rejected"},
                )
                return None
            logger.info(
                "recovered job: %s",
                step.extra,
                extra={"action": "job_recovered"},
            )
            staging.prepare(fresh=True)
            self._staging = staging
            more = self.cfg.daemon.start_more
            return self._db(scheduler.Claim(self.cfg, self.job_id, self.owner, more=more))
        staging.prepare(fresh=False)
        self._staging = staging
        if self.started is not None:  # started in its claim's commit: nothing to hand over
            scheduler.after_commit(self.cfg, self.job_id, self.started)
            self._learn(self.started.extra.get("outputs") or {})
            return self.started
        try:
            step = self._first_claims()
        except DagDeadlock as exc:
            self._invalid_workflow(exc)
            return None
        self._learn(step.extra.get("outputs") or {})
        return step

    def _first_claims(self) -> scheduler.Step:
        """Materialize the DAG and claim the first tasks: through the group completer
        (sharing its commit with other jobs' hand-offs), else in one call."""
        more = self.cfg.daemon.start_more
        if self.completer is None:
            return self._landing(
                "start",
                lambda c: scheduler.start(
                    c, self.cfg, self.job_id, self.owner, self.workflow,
                    validate=self.validate_workflow, more=more,
                ),
            )  # fmt: skip
        if self.validate_workflow:
            self.workflow.validate()
        step = self.completer.submit(Item.start(self.job_id, self.owner, self.workflow, more=more))
        scheduler.after_commit(self.cfg, self.job_id, step)  # a deadlock at start ends it
        return step

    def _materialize(self) -> dict[str, Any] | None:
        try:
            return self._db(
                lambda c: scheduler.materialize(
                    c, self.job_id, self.workflow, validate=self.validate_workflow
                )
            )
        except DagDeadlock as exc:
            self._invalid_workflow(exc)
            return None

    def _invalid_workflow(self, exc: DagDeadlock) -> None:
        message = exc.message
        logger.error(
            "invalid workflow: %s",
            message,
            extra={"action": "workflow_invalid"},
        )
        self._db(
            lambda c: scheduler.fail_job(
                c, self.cfg, self.job_id, self.owner, V2_DAG_DEADLOCK, message
            )
        )

    def _learn(self, outputs: Mapping[str, dict[str, Any]]) -> None:
        """Outputs of tasks that succeeded before this runner (a resumed or taken-over
        job), with their files' text read back from the artifacts."""
        if outputs:
            outputs = self._db(lambda c: contents.resolve(c, outputs))
        self._outputs.update(outputs)
        self._settled.update(outputs)

    def _join(self) -> None:
        while True:
            with self._cond:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return
            t = alive[0]
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
        if isinstance(reason, WorkerLost):
            return  # the job leaves this daemon: the takeover closes them, uncharged
        for ctx in stuck:
            try:
                self._pool_db(
                    lambda c, ctx=ctx: scheduler.complete(
                        c, self.cfg, self.job_id, self.owner, _stopped(ctx, reason)
                    )
                )
            except Exception:
                logger.exception(
                    "could not close a stuck attempt",
                    extra={"action": "force_close_failed", "task_key": ctx.task_key},
                )

    def _outcome(self) -> JobOutcome:
        final = self._final
        if final is not None and final.job_status in RUN_TERMINAL:
            return JobOutcome(final.job_status, final.error_code)  # no round trip
        state = self._db(lambda c: scheduler.job_state(c, self.job_id)) or {}
        status = state.get("status")
        if status in RUN_TERMINAL:
            return JobOutcome(status, state.get("error_code"))
        return JobOutcome("released", state.get("error_code"))

    # ------------------------------------------------------------------ db helpers
    def _db(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``fn`` on the job's own connection (borrowed once, checked once). With the
        group completer, whose commit slots hold the connections, a job holds none: its rare
        calls (a sibling's claim, a takeover) borrow one each."""
        if self.completer is not None:
            return self._pool_db(fn)

        def call() -> T:
            with self._conn_lock:
                if self._conn is None:
                    self._conn = self.pool.getconn()
                conn = self._conn
                try:
                    return fn(conn)
                except BaseException:
                    if conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
                        self._conn = None
                        self.pool.putconn(conn)  # the pool discards or resets it
                    raise

        return self._retrying(call)

    def _landing(
        self,
        kind: str,
        write: Callable[[psycopg.Connection[Any]], scheduler.Step],
        *,
        task_id: str | None = None,
        attempt: int | None = None,
    ) -> scheduler.Step:
        """A hand-off ``write`` (start or completion, ``kind``) through :meth:`_db`; when
        a broken connection made it repeat and the answer is in doubt, the first try's
        step, claims included (:func:`scheduler.landed`)."""
        repeats = Repeats(write)
        step = self._db(repeats)
        if repeats.repeated and scheduler.in_doubt(kind, step):
            step = self._db(
                lambda c: scheduler.landed(
                    c, self.cfg, self.job_id, self.owner, kind, task_id=task_id, attempt=attempt
                )
            )
        return step

    def _pool_db(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``fn`` on a connection borrowed for this call (timeout, force close, progress:
        never behind the job's own connection)."""

        def call() -> T:
            with self.pool.connection() as conn:
                return fn(conn)

        return self._retrying(call)

    def _retrying(self, call: Callable[[], T]) -> T:
        """A broken connection is replaced and the (fenced, so repeatable) call retried;
        the waits end early when the job is done."""

        def pause(seconds: float) -> bool:
            self._done.wait(seconds)
            return True

        return retry_broken(call, who="job", wait=pause)

    def _release_conn(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        give_back(self.pool, conn)

    # ------------------------------------------------------------------ watch
    def on_state(self, state: Mapping[str, Any]) -> None:
        """(the job watch) The run's row: stop at an operator's cancel or a new owner."""
        if self._timed_out or self._abort_reason is not None:
            return
        if state.get("cancel_requested") or state.get("status") == "canceled":
            self.abort(Canceled("job canceled"))
        elif state.get("owner") != self.owner:
            self.abort(WorkerLost("job owned by another daemon"))

    def on_deadline(self) -> None:
        """(the job watch) ``daemon.job_timeout_s`` passed: record it, stop."""
        if not self._done.is_set():
            self._on_timeout()

    def _on_timeout(self) -> None:
        self._timed_out = True
        msg = f"job exceeded daemon.job_timeout_s={self.cfg.daemon.job_timeout_s:g}"
        logger.warning(msg, extra={"action": "job_timeout"})
        try:
            self._pool_db(
                lambda c: scheduler.fail_job(
                    c, self.cfg, self.job_id, self.owner, V2_TIMEOUT, msg, cancel_code=V2_TIMEOUT
                )
            )
        except Exception:
            logger.exception(
                "could not record the timeout",
                extra={"action": "job_timeout_failed"},
            )
        self.abort(JobTimeout(msg))

    # ------------------------------------------------------------------ workers
    def _worker_main(self, idx: int, task: scheduler.ClaimedTask | None = None) -> None:
        try:
            while True:
                if task is None:
                    task = self._next_task()
                    if task is None:
                        return
                task = self._run_task(task)
        except Exception as exc:
            logger.exception(
                "worker %d crashed",
                idx,
                extra={"action": "worker_crashed"},
            )
            self.abort(WorkerLost(f"worker crashed: {exc}"))
        finally:
            with self._cond:
                self._alive -= 1

    def _slots(self, busy: int) -> int:
        """(under _cond) Tasks a claim may take beyond the caller's own: idle capacity."""
        if self._stop_claims:
            return 0
        return max(0, self.workers - 1 - busy - len(self._queue))

    def _next_task(self) -> scheduler.ClaimedTask | None:
        """Wait for work: a task handed over, a request to claim, the job's end."""
        timeout = self.cfg.daemon.worker_idle_timeout_s
        while True:
            with self._cond:
                if self._queue:
                    return self._queue.popleft()
                if self._ended or self._stop_claims:
                    return None
                me = _Idler()
                self._idlers.append(me)
            woken = me.event.wait(timeout)
            with self._cond:
                if not woken:
                    try:
                        self._idlers.remove(me)
                    except ValueError:
                        pass  # handed something at the last moment
                if me.task is not None:
                    return me.task
                if self._queue:
                    return self._queue.popleft()
                if self._ended or self._stop_claims:
                    return None
                if woken and not me.claim:
                    continue
                more = self._slots(len(self._running))
            # Asked to claim, or the safety timeout: look at the database ourselves.
            step = self._db(scheduler.Claim(self.cfg, self.job_id, self.owner, more=more))
            if not self._check(step, "claim"):
                return None
            if step.task is not None:
                return step.task

    def _check(self, step: scheduler.Step, what: str) -> bool:
        """Take in a step; False when the job is no longer ours."""
        if step.stale or step.result == "missing":
            if what == "claim" or step.reason == "owner":
                self._lost(f"{what} rejected ({step.reason or step.result})")
            return False
        self._observe(step)
        return True

    def _lost(self, why: str) -> None:
        logger.warning(
            "job no longer ours: %s",
            why,
            extra={"action": "stale_write_rejected"},
        )
        self.abort(WorkerLost(why))

    def _observe(self, step: scheduler.Step) -> None:
        """Hand extra claims to idle siblings (or new threads), ask one to claim when
        ready work is left, and wake everyone when the job has nothing left to run."""
        if step.job_status in ("failed", "canceled") and self._abort_reason is None:
            # The outcome is decided (the transaction stopped every task still going):
            # abandon the attempts still running here, spend nothing more.
            self.abort(Canceled(f"job {step.job_status}"))
        spawn: list[scheduler.ClaimedTask] = []
        with self._cond:
            self._settled.update(step.skipped)
            for t in step.more:
                if self._idlers:
                    idler = self._idlers.popleft()
                    idler.task = t
                    idler.event.set()
                elif self._alive < self.workers:
                    self._alive += 1
                    spawn.append(t)
                else:
                    self._queue.append(t)
            if step.active == 0:
                self._ended = True
                self._final = step
                self._broadcast()
            elif step.ready > 0 and self._idlers and not self._stop_claims:
                idler = self._idlers.popleft()
                idler.claim = True
                idler.event.set()
            for t in spawn:
                th = logsetup.context_thread(
                    self._worker_main,
                    args=(len(self._threads) + 1, t),
                    name=f"ev2-w{len(self._threads) + 1}-{self.job_id[:8]}",
                    job_id=self.job_id,
                )
                self._threads.append(th)
                th.start()

    def _may_finalize(self, task_key: str, skips: Mapping[str, str]) -> bool:
        """Could completing ``task_key`` successfully end the job? Then the completion
        and the finalize share one transaction (else the call is one autocommit round
        trip; a wrong guess only costs a second transaction)."""
        with self._cond:
            if len(self._running) > 1 or self._queue:
                return False
            left = set(self.workflow.keys) - self._settled - set(skips) - {task_key}
            return not left

    def upstream(self, task_key: str) -> dict[str, dict[str, Any]]:
        """The outputs of the succeeded tasks ``task_key`` depends on: its context's."""
        return {
            k: self._outputs[k] for k in self.workflow.ancestors(task_key) if k in self._outputs
        }

    def _run_task(self, task: scheduler.ClaimedTask) -> scheduler.ClaimedTask | None:
        with logsetup.bind(task_key=task.task_key):
            return self._attempt(task)

    def _attempt(self, task: scheduler.ClaimedTask) -> scheduler.ClaimedTask | None:
        """Execute one claimed attempt and hand its completion over; returns the task
        the same call claimed for this worker (or None)."""
        ctx = self._context(task)
        t0 = monotonic()
        try:
            outcome: TaskOutcome | None = self.executor(ctx)
            if not isinstance(outcome.output, dict):
                raise OutputInvalid(f"{task.task_key}: output must be an object")
            err: EngineError | None = None
        except Exception as exc:
            outcome, err = None, classify(exc)
        elapsed = monotonic() - t0
        usage = outcome.usage if outcome is not None else ctx.usage
        completion, staged = self.completion(task, outcome, err, _usage_json(usage, elapsed))
        try:
            if isinstance(err, WorkerLost) and isinstance(self._abort_reason, WorkerLost):
                # Shutdown or lost lease: the attempt is lost, not failed. It stays open
                # for the next owner's takeover, which re-runs it uncharged (against
                # max_attempts); what it spent is still recorded.
                self._charge(task, completion)
                return None
            step = self._record(task, completion)
        finally:
            for release in ctx.after_complete:  # e.g. the publish guard, after our commit
                release()
            with self._cond:
                self._running.pop(task.id, None)
        label = _label(task, err)
        if err is not None:
            logger.info(
                "task %s attempt %d %s: %s", task.task_key, task.attempt, label, err.message,
                extra={"action": "task_" + label},
            )  # fmt: skip
        metrics.task_attempt_finished(
            task.task_key, label, elapsed, model=usage.model, tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out, cost_usd=usage.cost_usd,
        )  # fmt: skip
        for key in step.skipped:
            metrics.task_skipped(key)
        if step.stale:
            self._charge(task, completion)  # refused: its spend is recorded all the same
            if step.reason == "owner":
                self._lost("completion rejected: job owned by another daemon")
            elif step.reason == "in_doubt":  # a takeover must look at production first
                self._lost("publish in doubt: the job goes to a takeover")
            return None
        if outcome is not None:
            self.settle(task.task_key, outcome.output, staged)
        self._observe(step)
        return step.task

    def settle(
        self, task_key: str, output: dict[str, Any], staged: Mapping[str, tuple[str, str]]
    ) -> None:
        """(after its success committed) What a later task sees of ``task_key``: its
        output, and the file texts its artifacts hold (``staged``, from :meth:`completion`)."""
        self._contents.commit(staged)
        self._outputs[task_key] = output
        with self._cond:
            self._settled.add(task_key)

    def _charge(self, task: scheduler.ClaimedTask, completion: Completion) -> None:
        """Record what an attempt spent when no completion will (best effort: the
        database may be why the job was lost)."""
        usage = completion.usage
        if not (usage.get("tokens_in") or usage.get("tokens_out") or usage.get("cost_usd")):
            return
        try:
            self._pool_db(lambda c: scheduler.charge(c, task.id, task.attempt, usage))
        except Exception as exc:
            logger.warning(
                "could not record the spend of attempt %d of %s: %s",
                task.attempt, task.task_key, exc,
                extra={"action": "charge_failed", "task_key": task.task_key},
            )  # fmt: skip

    def _context(self, task: scheduler.ClaimedTask) -> TaskContext:
        assert self._staging is not None
        ctx = TaskContext(
            job=self.info,
            task_id=task.id,
            task_key=task.task_key,
            attempt=task.attempt,
            config=self.cfg,
            staging=self._staging,
            upstream=self.upstream(task.task_key),
            repair_hint=task.repair_hint,
            pool=self.pool,
            stop_reason=self._stop_reason,
            owner=self.owner,
            deadline=self._deadline if self._deadline != float("inf") else None,
            progress_sink=lambda data: self._progress(task, data),
        )
        with self._cond:
            self._running[task.id] = ctx
            if self._abort_reason is not None:
                ctx.stop_event.set()
        return ctx

    def _progress(self, task: scheduler.ClaimedTask, data: dict[str, Any]) -> None:
        """A taskProgress event (the task's thread, rate-limited by the context; fenced:
        nothing is written once the attempt or the run is over)."""
        self._pool_db(
            lambda c: scheduler.task_progress(
                c, self.job_id, self.owner, task.id, task.attempt, data
            )
        )

    def completion(
        self,
        task: scheduler.ClaimedTask,
        outcome: TaskOutcome | None,
        err: EngineError | None,
        usage: dict[str, Any],
    ) -> tuple[Completion, dict[str, tuple[str, str]]]:
        """The completion to record, and the file texts its artifacts will hold (output
        and input refer to those, and to earlier ones, instead of repeating them). A
        success is handed to :meth:`settle` once it commits. (``bench``'s row 2d and
        ``body_floor`` send what this makes.)"""
        if outcome is None:
            assert err is not None
            if isinstance(err, Canceled):
                return Completion.canceled(task.id, task.attempt, error_json(err), usage=usage), {}
            return Completion.failed(task.id, task.attempt, error_json(err), usage=usage), {}
        output = outcome.output
        artifacts = [_artifact_row(a) for a in outcome.artifacts]
        partial = None
        files, stage = self._partial_files(task.task_key, output)
        if files:
            pr = progress.partial_result(
                files,
                inline_limit=self.cfg.limits.partial_inline_bytes,
                task_artifacts=artifacts,
            )
            if pr is not None:
                partial = {**pr.data, **({"stage": stage} if stage else {})}
                artifacts.extend(pr.artifacts)
        staged = self._contents.stage(artifacts)
        completion = Completion.succeeded(
            task.id, task.attempt, self._contents.compact(output, staged) or {}, usage=usage,
            input=self._contents.compact(outcome.input, staged), artifacts=artifacts,
            skip=self.workflow.skips_after(task.task_key, output), partial=partial,
        )  # fmt: skip
        return completion, staged

    def _partial_files(
        self, task_key: str, output: Mapping[str, Any]
    ) -> tuple[list[Any] | None, str | None]:
        """What a success shows the user at once (design 13): a code task's files, or,
        once plan has chosen a template for an edit, the template with the plan's
        settings as a playable preview, made without any model call."""
        spec = self.workflow.by_key.get(task_key)
        if spec is not None and spec.partial:
            return output.get("files"), None
        if (
            self.cfg.engine.preview
            and task_key in PREVIEW_TASKS
            and self._outputs.get("intent", {}).get("intent") == "edit"
        ):
            try:
                return preview_files(output), "preview"
            except Exception:  # a preview is a courtesy: never fail the plan for it
                logger.exception("preview failed", extra={"action": "preview_failed"})
        return None, None

    def _record(self, task: scheduler.ClaimedTask, completion: Completion) -> scheduler.Step:
        """One call that records the attempt and claims the worker's next task (and one
        per idle sibling). Only a success can end the job: then the completion and the
        finalize share one transaction (else the call is one autocommit round trip)."""
        with self._cond:
            claim_next = not self._stop_claims
            more = self._slots(len(self._running) - 1) if claim_next else 0
        atomic = completion.outcome == "succeeded" and self._may_finalize(
            task.task_key, completion.skip or {}
        )
        if self.completer is not None:
            item = Item.completion(
                self.job_id, self.owner, completion, claim=claim_next, more=more,
                may_finish=atomic,
            )  # fmt: skip
            step = self.completer.submit(item)
            scheduler.after_complete(self.cfg, self.job_id, completion, step)
            return step
        params = completion.params(self.job_id, self.owner, claim=claim_next, more=more)
        step = self._landing(
            completion.outcome,
            lambda c: scheduler.call(
                c, self.cfg, self.job_id, self.owner, completion.query, params, atomic=atomic
            ),
            task_id=completion.task_id,
            attempt=completion.attempt,
        )
        scheduler.after_complete(self.cfg, self.job_id, completion, step)
        return step
