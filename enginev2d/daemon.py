"""The daemon (``enginev2d run``): intake, leases, takeover, shutdown, supervision.

One process supervises everything; its threads:

* **main loop** (the calling thread): waits on one wake event (a NOTIFY, a finished job,
  a (re)connect, a signal) or the poll interval, reaps finished jobs, restarts a dead side
  thread, claims jobs, pings the systemd watchdog.
* **listener** (:mod:`enginev2d.listener`): LISTEN engine_v2_jobs, wakes the main loop.
* **heartbeat**: renews every lease of this daemon with one UPDATE per beat; a job
  missing from the answer was taken over (abort with WorkerLost), a canceled job is
  aborted with Canceled, and when beats keep failing for about ``lease_s`` the daemon
  assumes its leases are gone and aborts every runner.
* **one thread per claimed job**, running :class:`enginev2d.worker.JobRunner`.

Stopping: the first SIGTERM/SIGINT stops claiming and asks every runner to stop
gracefully (running attempts finish) for up to ``daemon.shutdown_grace_s``; then the
rest is aborted and every lease still held is released, so another daemon resumes at
once. A second signal skips the grace period.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from . import fleet, metrics, migrations, staging
from .backoff import Backoff
from .config import Config
from .db import connect_kwargs, make_pool, schema_missing, schema_present
from .errors import V2_SCHEDULER_ERROR, Canceled, EngineDisabled, EngineError, WorkerLost
from .feature_flag import daemon_may_claim
from .listener import Listener
from .logsetup import context_thread
from .sdnotify import Notifier
from .sql import load_queries
from .status import RUN_TERMINAL

logger = logging.getLogger(__name__)

DISABLED_MESSAGE = "engine v2 disabled"
CRASHED_MESSAGE = "job runner crashed"
# Exit code after the schema vanished under a running daemon (`enginev2d uninstall`).
EXIT_SCHEMA_GONE = 3
# Wake-ups after which the fleet switch is read again (NOTIFY engine_v2_control, the safety
# poll, a listener reconnect); a job NOTIFY uses the last value, and the claim itself
# checks the switch in SQL, so a stale value can never claim.
SWITCH_READ_ON = frozenset({"control", "poll", "reconnect"})
EXTRA_COLUMNS = ("prev_owner", "was_claimed", "pickup_s")


class Runner(Protocol):
    """What the daemon needs of :class:`enginev2d.worker.JobRunner`."""

    def run(self) -> Any: ...

    def request_stop(self) -> None: ...

    def abort(self, reason: BaseException) -> None: ...


RunnerFactory = Callable[..., Runner]


def default_runner_factory() -> RunnerFactory:
    from .worker import JobRunner

    return JobRunner


def make_daemon_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def pool_size(cfg: Config) -> int:
    """``database.pool_max`` when set (design 12, validated at start), else automatic."""
    return cfg.pool_max


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


class SideThread:
    """A supervised background thread: the main loop restarts it when it dies."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self.name = name
        self.target = target
        self.thread: threading.Thread | None = None
        self.restarts: list[float] = []

    def start(self) -> None:
        self.thread = threading.Thread(target=self._body, name=self.name, daemon=True)
        self.thread.start()

    def _body(self) -> None:
        try:
            self.target()
        except Exception:
            logger.exception(
                "%s thread crashed",
                self.name,
                extra={"action": "thread_crashed", "thread_name": self.name},
            )
            # The thread ends here; the main loop sees it dead and restarts it.

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def join(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout)


class Daemon:
    # Supervision: a side thread may die this often per window before the daemon gives up.
    MAX_RESTARTS = 5
    RESTART_WINDOW_S = 60.0
    DISABLED_LOG_EVERY_S = 60.0
    # Beats failing for this fraction of lease_s => leases presumed lost.
    LEASE_SAFETY = 0.9
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
        self._hb_stop = threading.Event()  # the heartbeat outlives the grace period
        self._pool = pool
        self._own_pool = pool is None
        self._jobs: dict[str, RunningJob] = {}
        self._lock = threading.Lock()
        self._finished: queue.SimpleQueue[RunningJob] = queue.SimpleQueue()
        self._wake_reason = "poll"
        self._side: list[SideThread] = []
        self.listener: Listener | None = None
        self.exit_code = 0
        self.ready = threading.Event()
        self.polls = 0
        now = time.monotonic()
        self.loop_tick = now
        self.heartbeat_tick = now
        self._last_watchdog = 0.0
        self._last_disabled_log = -1e9
        self._poll_backoff = Backoff()
        self.env_enabled = daemon_may_claim(cfg)
        self.switch = fleet.Switch(True)
        self.claiming: bool | None = None  # env flag and fleet switch; None = not read yet
        self.schema_gone = False
        self.registry = fleet.Registry(
            self.daemon_id,
            env_enabled=self.env_enabled,
            max_jobs=cfg.daemon.max_concurrent_jobs,
            beat_s=cfg.heartbeat_s,
        )

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

    def on_wake(self, reason: str, job_id: str | None = None) -> None:
        """Listener callback (any thread)."""
        self._wake_reason = reason
        self.wake.set()

    @property
    def pool(self) -> ConnectionPool:
        assert self._pool is not None
        return self._pool

    def running_job_ids(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    # ------------------------------------------------------------------ main
    def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        if self.runner_factory is None:
            self.runner_factory = default_runner_factory()
        if self._pool is None:
            self._pool = make_pool(self.cfg, max_size=pool_size(self.cfg), name="enginev2d")
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
            self._register()
            self._sweep_staging()
            self._side.append(SideThread("heartbeat", self._heartbeat_loop))
            if self.listen:
                self.listener = Listener(self.cfg, self.stop_event, self.on_wake)
                self._side.append(SideThread("listener", self.listener.run))
            for side in self._side:
                side.start()
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
            now = time.monotonic()
            self.loop_tick = now
            self._reap()
            self._supervise()
            if self.stop_event.is_set():
                break
            woken = self.wake.is_set()
            if woken or now >= next_poll:
                reason = self._wake_reason if woken else "poll"
                self.wake.clear()
                self._wake_reason = "poll"
                # A claim after a finished job freed a slot is not a missed NOTIFY.
                via = {"notify": "notify", "control": "notify", "capacity": "capacity"}
                delay = self.poll_once(via=via.get(reason, "poll"), reason=reason)
                next_poll = time.monotonic() + (poll_s if delay is None else min(poll_s, delay))
                if not self.ready.is_set():
                    self.ready.set()
                    self.notifier.ready(f"daemon {self.daemon_id}")
                    logger.info("daemon ready", extra={"action": "daemon_ready"})
            self._watchdog()
            timeout = max(0.0, next_poll - time.monotonic())
            if self.notifier.watchdog_s:
                timeout = min(timeout, self.notifier.watchdog_s / 4)
            self.wake.wait(timeout)

    # ------------------------------------------------------------------ intake
    def poll_once(self, via: str = "poll", reason: str = "poll") -> float | None:
        """Claim what can be claimed; returns a retry delay after a database error."""
        self.polls += 1
        try:
            if self.claiming is None or reason in SWITCH_READ_ON:
                self._read_switch()
            if self.claiming:
                self._claim(via)
            else:
                self._disabled_poll()
        except (psycopg.Error, PoolTimeout) as exc:
            if schema_missing(exc) and self._confirm_schema_gone():
                return None
            delay = self._poll_backoff.next_delay()
            logger.warning(
                "poll failed (retry in %.1fs): %s",
                delay,
                _first_line(exc),
                extra={"action": "poll_failed", "retry_in_s": round(delay, 3)},
            )
            return delay
        self._poll_backoff.reset()
        return None

    def _claim(self, via: str) -> None:
        with self._lock:
            running = list(self._jobs)
        capacity = self.cfg.daemon.max_concurrent_jobs - len(running)
        if capacity <= 0:
            return
        with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
            rows = conn.execute(
                self.queries["claim_jobs"],
                {
                    "owner": self.daemon_id,
                    "lease_s": self.cfg.daemon.lease_s,
                    "limit": capacity,
                    "exclude": running,
                },
            ).fetchall()
        for row in rows:
            self._start_job(row, via)

    def _start_job(self, row: dict[str, Any], via: str) -> None:
        job_id = str(row["job_id"])
        prev_owner = row.get("prev_owner")
        takeover = prev_owner is not None or bool(row.get("was_claimed"))
        pickup_s = None if row.get("was_claimed") else row.get("pickup_s")
        job_row = {k: v for k, v in row.items() if k not in EXTRA_COLUMNS}
        extra = {
            "action": "job_claimed",
            "job_id": job_id,
            "via": "takeover" if takeover else via,
            "takeover": takeover,
            "prev_owner": prev_owner,
            "pickup_ms": None if pickup_s is None else round(pickup_s * 1000, 1),
        }
        logger.info("claimed job%s", " (takeover)" if takeover else "", extra=extra)
        metrics.job_claimed(pickup_s, takeover=takeover, via=via)
        assert self.runner_factory is not None
        try:
            runner = self.runner_factory(
                self.cfg, self.pool, job_row, owner=self.daemon_id, takeover=takeover
            )
        except Exception as exc:
            logger.exception(
                "cannot start job runner", extra={"action": "job_start_failed", "job_id": job_id}
            )
            self._fail_owned(job_id, f"{CRASHED_MESSAGE}: {type(exc).__name__}")
            return
        rj = RunningJob(job_id=job_id, runner=runner, takeover=takeover)
        rj.thread = context_thread(
            self._run_job, args=(rj,), name=f"job-{job_id[:8]}", job_id=job_id
        )
        with self._lock:
            self._jobs[job_id] = rj
            count = len(self._jobs)
        metrics.running_jobs(count)
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
            self._after_job(rj)

    def _after_job(self, rj: RunningJob) -> None:
        status = getattr(rj.outcome, "status", None)
        error_code = getattr(rj.outcome, "error_code", None)
        extra = {
            "job_id": rj.job_id,
            "status": status,
            "error_code": error_code,
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
                self._fail_over_disabled(rj.job_id)
            elif rj.aborted is None and not isinstance(rj.error, EngineError):
                self._fail_owned(rj.job_id, f"{CRASHED_MESSAGE}: {type(rj.error).__name__}")
            else:
                self._release_job(rj.job_id)
            return
        logger.info("job ended: %s", status, extra={"action": "job_ended", **extra})
        if status not in RUN_TERMINAL:
            if rj.disabled:
                self._fail_over_disabled(rj.job_id)
            else:
                self._release_job(rj.job_id)

    def _release_job(self, job_id: str) -> None:
        if self.force_event.is_set():
            return  # release_all follows at once
        try:
            with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
                released = conn.execute(
                    self.queries["release_job"], {"job_id": job_id, "owner": self.daemon_id}
                ).fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            logger.warning(
                "cannot release lease (it expires by itself): %s",
                _first_line(exc),
                extra={"action": "lease_release_failed", "job_id": job_id},
            )
            return
        if released:
            logger.info("lease released", extra={"action": "lease_released", "job_id": job_id})
            self.wake.set()  # someone (maybe this daemon) may pick it up right away

    # ------------------------------------------------------------------ kill switch
    def _read_switch(self) -> None:
        """Read the fleet switch; on a change of the effective state, act on it."""
        with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
            self.switch = fleet.read_switch(conn)
        claiming = self.env_enabled and self.switch.enabled
        if claiming == self.claiming:
            return
        first = self.claiming is None
        self.claiming = claiming
        metrics.engine_switch(env=self.env_enabled, fleet=self.switch.enabled)
        self._beat_registry()
        if not claiming:
            self._last_disabled_log = -1e9  # say it now
            self._abort_all_disabled()
        elif not first:
            logger.info(
                "engine v2 enabled again: claiming",
                extra={"action": "engine_enabled", "changed_by": self.switch.changed_by},
            )

    def _disabled_why(self) -> str:
        if not self.env_enabled:
            return "ENGINE_V2_ENABLED / engine.enabled is off on this daemon"
        reason = f": {self.switch.reason}" if self.switch.reason else ""
        return f"fleet switch off (enginev2d disable by {self.switch.changed_by}{reason})"

    def _abort_all_disabled(self) -> None:
        """Every job this daemon runs stops now; each is failed over once its runner
        returns (:meth:`_fail_over_disabled`), as the flag-off path does."""
        with self._lock:
            jobs = list(self._jobs.values())
            for rj in jobs:
                rj.disabled = True
        for rj in jobs:
            self._abort(rj.job_id, EngineDisabled(DISABLED_MESSAGE))

    def _fail_over_disabled(self, job_id: str) -> None:
        if self._fail_owned(job_id, DISABLED_MESSAGE):
            metrics.disabled_failover()
            logger.warning(
                "job failed over to v1: engine v2 disabled",
                extra={
                    "action": "job_failed_disabled",
                    "job_id": job_id,
                    "error_code": V2_SCHEDULER_ERROR,
                },
            )

    def _disabled_poll(self) -> None:
        now = time.monotonic()
        if now - self._last_disabled_log >= self.DISABLED_LOG_EVERY_S:
            self._last_disabled_log = now
            logger.warning(
                "engine v2 is disabled (%s): claiming nothing; running jobs are failed over to v1",
                self._disabled_why(),
                extra={
                    "action": "engine_disabled",
                    "env_enabled": self.env_enabled,
                    "fleet_enabled": self.switch.enabled,
                    "reason": self.switch.reason,
                },
            )
        while not self.stop_event.is_set():
            with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
                rows = conn.execute(
                    self.queries["claim_orphans"],
                    {"owner": self.daemon_id, "lease_s": self.cfg.daemon.lease_s, "limit": 50},
                ).fetchall()
            for row in rows:
                job_id = str(row["job_id"])
                if self._fail_owned(job_id, DISABLED_MESSAGE):
                    metrics.disabled_failover()
                    logger.warning(
                        "job failed over to v1: engine v2 disabled",
                        extra={
                            "action": "job_failed_disabled",
                            "job_id": job_id,
                            "error_code": V2_SCHEDULER_ERROR,
                            "prev_owner": row["prev_owner"],
                        },
                    )
            if len(rows) < 50:
                return

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

    # ------------------------------------------------------------------ leases
    def _heartbeat_loop(self) -> None:
        backoff = Backoff()
        beat_s = self.cfg.heartbeat_s
        lease_s = self.cfg.daemon.lease_s
        last_ok = time.monotonic()
        while not self._hb_stop.is_set():
            self.heartbeat_tick = started = time.monotonic()
            ids = self.running_job_ids()
            if not ids:
                last_ok = started
                backoff.reset()
                self._beat_registry()
                self._hb_stop.wait(beat_s)
                continue
            try:
                with self.pool.connection(timeout=min(self.CONN_TIMEOUT_S, beat_s)) as conn:
                    rows = conn.execute(
                        self.queries["renew_leases"],
                        {"owner": self.daemon_id, "job_ids": ids, "lease_s": lease_s},
                    ).fetchall()
                    self._beat_registry(conn)
            except (psycopg.Error, PoolTimeout) as exc:
                delay = min(backoff.next_delay(), beat_s)
                lost = time.monotonic() - last_ok > lease_s * self.LEASE_SAFETY
                logger.warning(
                    "heartbeat failed%s: %s",
                    ": leases presumed lost" if lost else "",
                    _first_line(exc),
                    extra={"action": "heartbeat_failed", "jobs": len(ids), "leases_lost": lost},
                )
                if lost:
                    for job_id in ids:
                        self._abort(job_id, WorkerLost("heartbeat failing: lease presumed lost"))
                self._hb_stop.wait(delay)
                continue
            last_ok = started
            backoff.reset()
            self._apply_heartbeat(ids, rows)
            self._hb_stop.wait(max(0.0, beat_s - (time.monotonic() - started)))

    def _register(self) -> None:
        """This daemon's row in engine_v2.daemons (best effort: the fleet view only)."""
        try:
            with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
                self.registry.register(conn, claiming=bool(self.claiming))
        except (psycopg.Error, PoolTimeout) as exc:
            logger.debug("daemon registry: %s", _first_line(exc), extra={"action": "registry"})

    def _beat_registry(self, conn: psycopg.Connection[Any] | None = None) -> None:
        """Refresh this daemon's registry row; failures are quiet (the poll and the lease
        heartbeat already report an unreachable database)."""
        if self.schema_gone:
            return
        try:
            if conn is not None:
                self.registry.beat(conn, claiming=bool(self.claiming), running_jobs=len(self._jobs))
                return
            with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as own:
                self.registry.beat(own, claiming=bool(self.claiming), running_jobs=len(self._jobs))
        except (psycopg.Error, PoolTimeout) as exc:
            logger.debug("daemon registry: %s", _first_line(exc), extra={"action": "registry"})

    def _apply_heartbeat(self, ids: list[str], rows: list[dict[str, Any]]) -> None:
        seen = {str(r["job_id"]): r for r in rows}
        for job_id in ids:
            row = seen.get(job_id)
            if row is None:
                self._abort(job_id, WorkerLost("lease lost to another daemon"))
            elif row["cancel_requested"] or row["status"] == "canceled":
                self._abort(job_id, Canceled("job canceled by an operator"))

    def _abort(self, job_id: str, reason: EngineError) -> None:
        with self._lock:
            rj = self._jobs.get(job_id)
            if rj is None or rj.aborted is not None:
                return
            rj.aborted = reason.code
        action = {"worker_lost": "lease_lost"}.get(reason.code, f"job_abort_{reason.code}")
        if isinstance(reason, EngineDisabled):
            action = "job_abort_disabled"
        logger.warning(
            "aborting job: %s",
            reason,
            extra={"action": action, "job_id": job_id, "reason": reason.code},
        )
        try:
            rj.runner.abort(reason)
        except Exception:
            logger.exception(
                "runner.abort failed", extra={"action": "abort_failed", "job_id": job_id}
            )

    # ------------------------------------------------------------------ supervision
    def _supervise(self) -> None:
        for side in self._side:
            if side.alive() or self.stop_event.is_set():
                continue
            now = time.monotonic()
            side.restarts = [t for t in side.restarts if now - t < self.RESTART_WINDOW_S]
            if len(side.restarts) >= self.MAX_RESTARTS:
                logger.critical(
                    "%s thread keeps dying: stopping the daemon",
                    side.name,
                    extra={"action": "daemon_giving_up", "thread_name": side.name},
                )
                self.exit_code = 1
                self.request_stop(f"{side.name} thread died")
                return
            side.restarts.append(now)
            logger.error(
                "%s thread died: restarting",
                side.name,
                extra={"action": "thread_restarted", "thread_name": side.name},
            )
            side.start()

    def healthy(self, now: float | None = None) -> bool:
        """True while the main loop, the heartbeat and the listener really advance."""
        now = time.monotonic() if now is None else now
        slack = Backoff.MAX_S + self.CONN_TIMEOUT_S + 5.0
        if now - self.loop_tick > self.cfg.daemon.poll_interval_s + slack:
            return False
        if now - self.heartbeat_tick > self.cfg.heartbeat_s + slack:
            return False
        if self.listener is not None:
            limit = self.cfg.database.connect_timeout_s + Listener.PING_S + slack
            if now - self.listener.last_tick > limit:
                return False
        return all(side.alive() for side in self._side)

    def _watchdog(self) -> None:
        interval = self.notifier.watchdog_s
        if not interval:
            return
        now = time.monotonic()
        if now - self._last_watchdog < interval / 3:
            return
        if self.healthy(now):
            self._last_watchdog = now
            self.notifier.watchdog()
        else:
            logger.error(
                "loops stalled: not pinging the watchdog", extra={"action": "watchdog_withheld"}
            )

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self) -> None:
        self.stop_event.set()
        self.notifier.stopping()
        with self._lock:
            jobs = list(self._jobs.values())
        logger.info(
            "stopping: %d job(s) running",
            len(jobs),
            extra={"action": "daemon_stopping", "jobs": len(jobs)},
        )
        for rj in jobs:
            rj.stop_requested = True
            try:
                rj.runner.request_stop()
            except Exception:
                logger.exception(
                    "runner.request_stop failed",
                    extra={"action": "request_stop_failed", "job_id": rj.job_id},
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
                self._abort(job_id, WorkerLost("daemon shutting down"))
            self._drain(time.monotonic() + self.ABORT_JOIN_S)
        if not self.schema_gone:
            self._release_all()
            self._unregister()
        self._hb_stop.set()
        for side in self._side:
            side.join(2.0)
        if self._own_pool and self._pool is not None:
            self._pool.close(timeout=2.0)
        logger.info(
            "daemon stopped", extra={"action": "daemon_stopped", "exit_code": self.exit_code}
        )

    def _unregister(self) -> None:
        if self._pool is None:
            return
        try:
            with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
                self.registry.stopped(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            logger.debug("daemon registry: %s", _first_line(exc), extra={"action": "registry"})

    def _confirm_schema_gone(self) -> bool:
        """After an undefined-object error: is engine_v2 really gone (uninstalled)? Then
        say so in one line and stop at once with EXIT_SCHEMA_GONE; the supervisor's
        restart meets the same one-line refusal at start (check_schema)."""
        try:
            with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
                if schema_present(conn):
                    return False
        except (psycopg.Error, PoolTimeout):
            return False
        self.schema_gone = True
        self.exit_code = EXIT_SCHEMA_GONE
        logger.critical(
            "schema engine_v2 is gone (uninstalled?): exiting. Stop every daemon before"
            " `enginev2d uninstall`; `enginev2d migrate` installs it again",
            extra={"action": "schema_gone", "exit_code": EXIT_SCHEMA_GONE},
        )
        self.force_event.set()
        self.stop_event.set()
        self.wake.set()
        return True

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

    def _release_all(self) -> None:
        if self._pool is None:
            return
        try:
            with self.pool.connection(timeout=self.CONN_TIMEOUT_S) as conn:
                rows = conn.execute(
                    self.queries["release_all"], {"owner": self.daemon_id}
                ).fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            logger.warning(
                "cannot release leases (they expire within lease_s): %s",
                _first_line(exc),
                extra={"action": "lease_release_failed"},
            )
            return
        logger.info(
            "released %d lease(s)",
            len(rows),
            extra={"action": "leases_released", "count": len(rows)},
        )


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


class SignalHandler:
    """First signal: graceful stop. Second: forced stop. Third: exit at once."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.daemon.request_stop(name)
        elif self.count == 2:
            self.daemon.request_force_stop(name)
        else:
            os._exit(130)

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self)


def run_daemon(
    cfg: Config,
    *,
    migrate: bool = False,
    listen: bool = True,
    runner_factory: RunnerFactory | None = None,
) -> int:
    """``enginev2d run``: returns the exit code (0 after a clean shutdown)."""
    daemon = Daemon(cfg, listen=listen, runner_factory=runner_factory)
    SignalHandler(daemon).install()
    if daemon.runner_factory is None:
        daemon.runner_factory = default_runner_factory()
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
