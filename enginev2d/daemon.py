"""The daemon (``enginev2d run``): one process supervising everything, in small parts.

* :class:`Daemon` (here): the state the parts share (running jobs, events, the pool),
  the main loop, a job's life (start, reap, abort) and shutdown.
* :mod:`enginev2d.intake`: what is claimed, and the kill switch (fleet switch and
  ``ENGINE_V2_ENABLED``) that stops it.
* :mod:`enginev2d.leases`: the heartbeat (one UPDATE per beat renews every lease), the
  registry row, releasing jobs.
* :mod:`enginev2d.supervision`: side threads restarted when they die, the systemd
  watchdog, signals.

Threads: the **main loop** (the calling thread) waits on one wake event (a NOTIFY, a
finished job, a (re)connect, a signal) or the poll interval, reaps finished jobs,
restarts a dead side thread, claims, pings the watchdog; the **listener**
(:mod:`enginev2d.listener`: LISTEN engine_v2_jobs and engine_v2_control) wakes it; the
**heartbeat**; and one thread per claimed job running :class:`enginev2d.worker.JobRunner`
in the job's logging context (``job_id`` on every line).

Stopping: the first SIGTERM/SIGINT stops claiming and asks every runner to stop
gracefully (running attempts finish) for up to ``daemon.shutdown_grace_s``; then the
rest is aborted and every lease still held is released, so another daemon resumes at
once. A second signal skips the grace period.
"""

from __future__ import annotations

import functools
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from . import affinity, fleet, metrics, migrations, staging
from .backoff import Backoff
from .completer import Completer
from .config import Config
from .db import connect_kwargs, make_pool
from .errors import V2_SCHEDULER_ERROR, EngineDisabled, EngineError, WorkerLost
from .feature_flag import daemon_may_claim
from .intake import CRASHED_MESSAGE, DISABLED_MESSAGE, EXIT_SCHEMA_GONE, Intake
from .leases import Leases
from .listener import Listener
from .logsetup import bind, context_logger, context_thread
from .scheduler import Step
from .sdnotify import Notifier
from .sql import load_queries
from .status import RUN_TERMINAL
from .supervision import SideThread, SignalHandler, Supervisor
from .watch import next_tick
from .workflow import DEFAULT_WORKFLOW, Workflow

logger = context_logger(__name__)

__all__ = [
    "CRASHED_MESSAGE",
    "DISABLED_MESSAGE",
    "EXIT_SCHEMA_GONE",
    "Daemon",
    "SideThread",
    "SignalHandler",
    "check_schema",
    "run_daemon",
]


class Runner(Protocol):
    """What the daemon needs of :class:`enginev2d.worker.JobRunner`."""

    def run(self) -> Any: ...

    def request_stop(self) -> None: ...

    def abort(self, reason: BaseException) -> None: ...


RunnerFactory = Callable[..., Runner]


def default_runner_factory(completer: Completer | None = None) -> RunnerFactory:
    from .worker import JobRunner

    return functools.partial(JobRunner, completer=completer) if completer else JobRunner


def make_daemon_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class RunningJob:
    job_id: str
    runner: Runner
    takeover: bool
    started: float = field(default_factory=time.monotonic)
    thread: threading.Thread | None = None
    aborted: str | None = None  # why abort() was called (once per job)
    disabled: bool = False  # aborted because v2 was switched off: fail over when it returns
    stop_requested: bool = False
    outcome: Any = None
    error: BaseException | None = None


def next_poll_at(
    scheduled: float, now: float, poll_s: float, delay: float | None, *, timed: bool
) -> float:
    """When the next timed poll is due (monotonic seconds). Timed polls keep a fixed
    rate, on the grid ``scheduled + k * poll_s``: the time a poll takes never adds to the
    interval, so polling-only pickup stays within ``poll_s`` (plus the claim itself),
    and ticks a stalled loop missed are skipped, not run back to back. A poll a NOTIFY
    or a freed slot woke leaves the schedule alone; after a failed poll the next one
    comes after ``delay`` (the intake's backoff), at most ``poll_s``."""
    if delay is not None:
        return now + min(poll_s, delay)
    if not timed:
        return scheduled
    if poll_s <= 0:
        return now
    nxt = scheduled + next_tick(now - scheduled, poll_s)  # the job watch's grid arithmetic
    return nxt if nxt > now else nxt + poll_s  # (float rounding at a tick's edge)


class Daemon:
    # After abort(), how long runners get to return before leases are released anyway.
    ABORT_JOIN_S = 5.0
    # Longest wait for a pooled connection in the loops (they must keep ticking).
    CONN_TIMEOUT_S = 5.0

    def __init__(
        self,
        cfg: Config,
        *,
        runner_factory: RunnerFactory | None = None,
        listen: bool = True,
        notifier: Notifier | None = None,
        pool: ConnectionPool | None = None,
        daemon_id: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.daemon_id = daemon_id or cfg.daemon.daemon_id or make_daemon_id()
        self.runner_factory = runner_factory
        self.listen = listen
        self.notifier = notifier or Notifier()
        self.queries = load_queries("daemon")
        self.stop_event = threading.Event()  # stop claiming; loops end
        self.force_event = threading.Event()  # second signal: no grace
        self.wake = threading.Event()
        self._pool = pool
        self._own_pool = pool is None
        self._jobs: dict[str, RunningJob] = {}
        self._lock = threading.Lock()
        self._finished: queue.SimpleQueue[RunningJob] = queue.SimpleQueue()
        self._wake_reason = "poll"
        self.listener: Listener | None = None
        self.completer: Completer | None = None  # group completion (issue 17)
        # The workflow every runner runs, when the daemon knows it (its default runner):
        # the intake then starts fresh jobs as it claims them (Intake._start_fresh).
        self.start_workflow: Workflow | None = None
        self.exit_code = 0
        self.ready = threading.Event()
        self.loop_tick = time.monotonic()
        self.env_enabled = daemon_may_claim(cfg)
        self.schema_gone = False
        self.registry = fleet.Registry(
            self.daemon_id,
            env_enabled=self.env_enabled,
            max_jobs=cfg.daemon.max_concurrent_jobs,
            beat_s=cfg.heartbeat_s,
        )
        self.intake = Intake(self)
        self.leases = Leases(self)
        self.supervisor = Supervisor(self)

    # ------------------------------------------------------------------ control
    def request_stop(self, reason: str = "requested") -> None:
        if not self.stop_event.is_set():
            logger.info(
                "stop requested (%s): no new claims, running jobs get %.0fs",
                reason,
                self.cfg.daemon.shutdown_grace_s,
                extra={"action": "stop_requested", "reason": reason},
            )
        self.stop_event.set()
        self.wake.set()

    def request_force_stop(self, reason: str = "requested") -> None:
        logger.warning(
            "forced stop (%s): releasing leases now",
            reason,
            extra={"action": "force_stop_requested", "reason": reason},
        )
        self.force_event.set()
        self.stop_event.set()
        self.wake.set()

    def schema_vanished(self, exit_code: int) -> None:
        """(intake) engine_v2 is gone: stop now, touching nothing of it on the way out."""
        self.schema_gone = True
        self.exit_code = exit_code
        self.force_event.set()
        self.stop_event.set()
        self.wake.set()

    def on_wake(self, reason: str, job_id: str | None = None) -> None:
        """Listener callback (any thread)."""
        self._wake_reason = reason
        self.wake.set()

    @property
    def pool(self) -> ConnectionPool:
        assert self._pool is not None
        return self._pool

    @property
    def polls(self) -> int:
        return self.intake.polls

    def healthy(self, now: float | None = None) -> bool:
        return self.supervisor.healthy(now)

    def running_job_ids(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    # ------------------------------------------------------------------ main
    def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        if self._pool is None:
            self._pool = make_pool(self.cfg, name="enginev2d")  # cfg.pool_max connections
        if self.runner_factory is None:
            if self.cfg.daemon.group_completion:
                self.completer = Completer(self.cfg, self._pool, claimer=self.intake).start()
            self.runner_factory = default_runner_factory(self.completer)
            self.start_workflow = DEFAULT_WORKFLOW.validate()  # the default runner's
        logger.info(
            "daemon %s starting (max %d jobs, %d workers each, poll %.1fs, lease %.0fs)",
            self.daemon_id,
            self.cfg.daemon.max_concurrent_jobs,
            self.cfg.daemon.workers_per_job,
            self.cfg.daemon.poll_interval_s,
            self.cfg.daemon.lease_s,
            extra={
                "action": "daemon_start",
                "daemon_id": self.daemon_id,
                "enabled": self.env_enabled,
                "listen": self.listen,
            },
        )
        try:
            self.leases.register()
            self._sweep_staging()
            self.supervisor.start("heartbeat", self.leases.heartbeat_loop)
            if self.listen:
                self.listener = Listener(self.cfg, self.stop_event, self.on_wake)
                self.supervisor.start("listener", self.listener.run)
            self._main_loop()
        except Exception:
            logger.critical("main loop crashed", exc_info=True, extra={"action": "daemon_crashed"})
            self.exit_code = 1
        finally:
            self._shutdown()
        return self.exit_code

    def _sweep_staging(self) -> None:
        """Remove staging left by crashed daemons for jobs that have ended since."""

        def running(ids: list[str]) -> set[str]:
            with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
                rows = conn.execute(self.queries["running_jobs_among"], {"ids": ids})
                return {r["job_id"] for r in rows.fetchall()}

        try:
            removed = staging.sweep(self.cfg, running)
        except (OSError, psycopg.Error, PoolTimeout) as exc:
            logger.warning(
                "staging sweep skipped: %s", _first_line(exc), extra={"action": "staging_sweep"}
            )
            return
        if removed:
            logger.info(
                "removed %d stale staging entries",
                len(removed),
                extra={"action": "staging_sweep", "removed": len(removed)},
            )

    def _main_loop(self) -> None:
        poll_s = self.cfg.daemon.poll_interval_s
        next_poll = time.monotonic()
        while not self.stop_event.is_set():
            now = self.loop_tick = time.monotonic()
            self._reap()
            self.supervisor.supervise()
            if self.stop_event.is_set():
                break
            due = now >= next_poll
            if self.wake.is_set() or due:
                delay = self._poll(woken=self.wake.is_set())
                next_poll = next_poll_at(next_poll, time.monotonic(), poll_s, delay, timed=due)
            self.supervisor.watchdog()
            timeout = max(0.0, next_poll - time.monotonic())
            if self.notifier.watchdog_s:
                timeout = min(timeout, self.notifier.watchdog_s / 4)
            self.wake.wait(timeout)

    def _poll(self, *, woken: bool) -> float | None:
        reason = self._wake_reason if woken else "poll"
        self.wake.clear()
        self._wake_reason = "poll"
        # A claim after a finished job freed a slot is not a missed NOTIFY.
        via = {"notify": "notify", "control": "notify", "capacity": "capacity"}
        delay = self.intake.poll_once(via=via.get(reason, "poll"), reason=reason)
        if not self.ready.is_set():
            self.ready.set()
            self.notifier.ready(f"daemon {self.daemon_id}")
            logger.info("daemon ready", extra={"action": "daemon_ready"})
        return delay

    # ------------------------------------------------------------------ a job's life
    def start_job(
        self, job_row: dict[str, Any], *, takeover: bool, started: Step | None = None
    ) -> None:
        """(intake) A claimed job: its runner, in its own thread and logging context;
        ``started``: its first step, when the claim started it (:attr:`start_workflow`).
        The completer's thread may start one as the daemon begins to stop (a batch's
        claims): a job registered after shutdown took its list is asked to stop here."""
        job_id = str(job_row["job_id"])
        assert self.runner_factory is not None
        first = {} if started is None else {"started": started}
        try:
            runner = self.runner_factory(
                self.cfg, self.pool, job_row, owner=self.daemon_id, takeover=takeover, **first
            )
        except Exception as exc:
            logger.exception("cannot start job runner", extra={"action": "job_start_failed"})
            self._fail_owned(job_id, f"{CRASHED_MESSAGE}: {type(exc).__name__}")
            return
        rj = RunningJob(job_id=job_id, runner=runner, takeover=takeover)
        rj.thread = context_thread(
            self._run_job, args=(rj,), name=f"job-{job_id[:8]}", job_id=job_id
        )
        with self._lock:
            self._jobs[job_id] = rj
            count = len(self._jobs)
            rj.stop_requested = self.stop_event.is_set()  # (set before shutdown's list)
        metrics.running_jobs(count)
        if rj.stop_requested:
            runner.request_stop()  # graceful: it claims nothing and its lease is released
        rj.thread.start()

    def _run_job(self, rj: RunningJob) -> None:
        """The job's thread (logging context: its job_id)."""
        try:
            rj.outcome = rj.runner.run()
        except BaseException as exc:
            rj.error = exc
        finally:
            self._finished.put(rj)
            self.on_wake("capacity")  # a slot is free: claim what waited

    def _reap(self) -> None:
        while True:
            try:
                rj = self._finished.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                self._jobs.pop(rj.job_id, None)
                count = len(self._jobs)
            metrics.running_jobs(count)
            with bind(job_id=rj.job_id):
                self._after_job(rj)

    def _after_job(self, rj: RunningJob) -> None:
        status = getattr(rj.outcome, "status", None)
        extra = {
            "status": status,
            "error_code": getattr(rj.outcome, "error_code", None),
            "duration_s": round(time.monotonic() - rj.started, 3),
            "aborted": rj.aborted,
        }
        if rj.error is not None:
            logger.error(
                "job runner crashed: %s",
                _first_line(rj.error),
                exc_info=rj.error,
                extra={"action": "job_crashed", **extra},
            )
            if rj.disabled:
                self.intake.fail_over(rj.job_id)
            elif rj.aborted is None and not isinstance(rj.error, EngineError):
                self._fail_owned(rj.job_id, f"{CRASHED_MESSAGE}: {type(rj.error).__name__}")
            else:
                self.leases.release(rj.job_id)
            return
        logger.info("job ended: %s", status, extra={"action": "job_ended", **extra})
        if status not in RUN_TERMINAL:
            if rj.disabled:
                self.intake.fail_over(rj.job_id)
            else:
                self.leases.release(rj.job_id)

    def mark_disabled(self) -> list[str]:
        """(intake) Every running job is to be failed over when its runner returns."""
        with self._lock:
            for rj in self._jobs.values():
                rj.disabled = True
            return list(self._jobs)

    def abort(self, job_id: str, reason: EngineError) -> None:
        """Stop a running job's attempts now (once per job; any thread)."""
        with self._lock:
            rj = self._jobs.get(job_id)
            if rj is None or rj.aborted is not None:
                return
            rj.aborted = reason.code
        action = {"worker_lost": "lease_lost"}.get(reason.code, f"job_abort_{reason.code}")
        if isinstance(reason, EngineDisabled):
            action = "job_abort_disabled"
        with bind(job_id=job_id):
            logger.warning(
                "aborting job: %s", reason, extra={"action": action, "reason": reason.code}
            )
            try:
                rj.runner.abort(reason)
            except Exception:
                logger.exception("runner.abort failed", extra={"action": "abort_failed"})

    def _fail_owned(self, job_id: str, message: str) -> bool:
        """Fail a job this daemon holds with v2_scheduler_error (fallback to v1), through
        the scheduler: a takeover first (recover_job: a job whose commit is already live
        completes instead), then the job fails, every task still going is stopped, with
        jobFailed + fallback events."""
        from . import scheduler
        from .publish import Production

        try:
            with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
                step = scheduler.recover_job(
                    conn, job_id, self.daemon_id, self.cfg, production=Production(self.cfg)
                )
                if step.ended:  # its commit was live (completed), or a waiting cancel
                    return True
                step = scheduler.fail_job(
                    conn, self.cfg, job_id, self.daemon_id, V2_SCHEDULER_ERROR, message
                )
        except (psycopg.Error, PoolTimeout) as exc:
            logger.error(
                "cannot fail job over to v1 (its lease will expire): %s",
                _first_line(exc),
                extra={"action": "job_fail_failed", "job_id": job_id},
            )
            return False
        return not getattr(step, "stale", False)

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self) -> None:
        with self._lock:  # a job start_job registers from now on sees the stop itself
            self.stop_event.set()
            jobs = list(self._jobs.values())
        self.notifier.stopping()
        logger.info(
            "stopping: %d job(s) running",
            len(jobs),
            extra={"action": "daemon_stopping", "jobs": len(jobs)},
        )
        for rj in jobs:
            rj.stop_requested = True
            with bind(job_id=rj.job_id):
                try:
                    rj.runner.request_stop()
                except Exception:
                    logger.exception(
                        "runner.request_stop failed", extra={"action": "request_stop_failed"}
                    )
        self._drain(time.monotonic() + self.cfg.daemon.shutdown_grace_s)
        left = self.running_job_ids()
        if left:
            logger.warning(
                "grace period over: aborting %d job(s)",
                len(left),
                extra={"action": "grace_expired", "jobs": len(left)},
            )
            for job_id in left:
                self.abort(job_id, WorkerLost("daemon shutting down"))
            self._drain(time.monotonic() + self.ABORT_JOIN_S)
        if self.completer is not None:  # after the runners: it writes what they handed in
            self.completer.stop(timeout=self.ABORT_JOIN_S)
        if self._pool is not None and not self.schema_gone:
            self.leases.release_all()
            self.leases.unregister()
        self.leases.stop_event.set()
        self.supervisor.join(2.0)
        if self._own_pool and self._pool is not None:
            self._pool.close(timeout=2.0)
        logger.info(
            "daemon stopped", extra={"action": "daemon_stopped", "exit_code": self.exit_code}
        )

    def _drain(self, deadline: float) -> None:
        while self.running_job_ids() and not self.force_event.is_set():
            self._reap()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.running_job_ids():
                break
            self.loop_tick = time.monotonic()
            self.wake.wait(min(0.2, remaining))
            self.wake.clear()
        self._reap()


# --------------------------------------------------------------------------- entry point


def check_schema(cfg: Config, *, migrate: bool, stop: threading.Event) -> bool:
    """Apply or verify migrations; waits for the database with backoff. False = stopped."""
    kw = connect_kwargs(cfg, application_name="enginev2d-migrate")
    backoff = Backoff()
    while not stop.is_set():
        try:
            if migrate:
                for m in migrations.migrate(cfg.database.url, **kw):
                    logger.info(
                        "applied migration %04d_%s",
                        m.version,
                        m.name,
                        extra={"action": "migration_applied"},
                    )
                return True
            states = migrations.status(cfg.database.url, **kw)
            if all(s.state == "pending" for s in states):
                raise SchemaNotCurrent(
                    "schema is not current: engine_v2 is not installed (uninstalled?); run"
                    " `enginev2d migrate` or start with `run --migrate`"
                )
            pending = [
                f"{s.version:04d}_{s.name} ({s.state})"
                if s.version is not None
                else f"functions/{s.name} ({s.state})"
                for s in states
                if s.state != "applied"
            ]
            if pending:
                raise SchemaNotCurrent(
                    "schema is not current: "
                    + ", ".join(pending)
                    + " (run `enginev2d migrate` or start with `run --migrate`)"
                )
            return True
        except psycopg.OperationalError as exc:
            delay = backoff.next_delay()
            logger.warning(
                "database unavailable at start (retry in %.1fs): %s",
                delay,
                _first_line(exc),
                extra={"action": "db_unavailable", "retry_in_s": round(delay, 3)},
            )
            stop.wait(delay)
    return False


class SchemaNotCurrent(EngineError):
    code = V2_SCHEDULER_ERROR


def run_daemon(
    cfg: Config,
    *,
    migrate: bool = False,
    listen: bool = True,
    runner_factory: RunnerFactory | None = None,
) -> int:
    """``enginev2d run``: returns the exit code (0 after a clean shutdown)."""
    affinity.pin(cfg.daemon.cpu_affinity)  # first: every thread started later inherits it
    try:
        daemon = Daemon(cfg, listen=listen, runner_factory=runner_factory)
        SignalHandler(daemon).install()
        if not check_schema(cfg, migrate=migrate, stop=daemon.stop_event):
            return 0
        server = None
        if cfg.metrics.enabled:
            try:
                server = metrics.start_http_server(cfg)
            except OSError as exc:
                logger.error(
                    "metrics server not started: %s", exc, extra={"action": "metrics_start_failed"}
                )
        try:
            return daemon.run()
        finally:
            if server is not None:
                server.shutdown()
    finally:
        affinity.unpin()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
