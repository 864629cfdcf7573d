"""Leases: the daemon's heartbeat, its registry row, and giving jobs back.

The heartbeat (a side thread) renews every lease of this daemon with one UPDATE per beat
and refreshes the daemon's row in ``engine_v2.daemons``. A job missing from the answer
was taken over (abort with WorkerLost); a canceled job is aborted with Canceled; when
beats keep failing for about ``lease_s`` the daemon presumes its leases gone and aborts
every runner. A job whose runner stopped unfinished is released at once so any daemon
resumes it; at shutdown every lease still held is released.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import PoolTimeout

from .backoff import Backoff
from .errors import Canceled, WorkerLost
from .logsetup import bind, context_logger
from .status import RunStatus

if TYPE_CHECKING:
    from .daemon import Daemon

logger = context_logger(__name__)


class Leases:
    # Beats failing for this fraction of lease_s => leases presumed lost.
    LEASE_SAFETY = 0.9

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self.stop_event = threading.Event()  # the heartbeat outlives the grace period
        self.tick = time.monotonic()

    # ------------------------------------------------------------------ heartbeat
    def heartbeat_loop(self) -> None:
        """Side thread body: beat every ``heartbeat_s`` until :attr:`stop_event`."""
        backoff = Backoff()
        beat_s = self.d.cfg.heartbeat_s
        last_ok = time.monotonic()
        while not self.stop_event.is_set():
            self.tick = started = time.monotonic()
            ids = self.d.running_job_ids()
            try:
                rows = self._beat(ids, timeout=min(self.d.CONN_TIMEOUT_S, beat_s))
            except (psycopg.Error, PoolTimeout) as exc:
                self._beat_failed(ids, exc, time.monotonic() - last_ok)
                self.stop_event.wait(min(backoff.next_delay(), beat_s))
                continue
            last_ok = started
            backoff.reset()
            self._apply(ids, rows)
            self.stop_event.wait(max(0.0, beat_s - (time.monotonic() - started)))

    def _beat(self, ids: list[str], timeout: float) -> list[dict[str, Any]]:
        """One beat: renew the leases (raises on a database error), then the registry row."""
        if not ids:
            self.beat_registry()
            return []
        with self.d.pool.connection(timeout=timeout) as conn:
            rows = conn.execute(
                self.d.queries["renew_leases"],
                {"owner": self.d.daemon_id, "job_ids": ids, "lease_s": self.d.cfg.daemon.lease_s},
            ).fetchall()
            self.beat_registry(conn)
        return rows

    def _beat_failed(self, ids: list[str], exc: BaseException, since_ok_s: float) -> None:
        lost = since_ok_s > self.d.cfg.daemon.lease_s * self.LEASE_SAFETY
        logger.warning(
            "heartbeat failed%s: %s",
            ": leases presumed lost" if lost else "",
            _first_line(exc),
            extra={"action": "heartbeat_failed", "jobs": len(ids), "leases_lost": lost},
        )
        if lost:
            for job_id in ids:
                self.d.abort(job_id, WorkerLost("heartbeat failing: lease presumed lost"))

    def _apply(self, ids: list[str], rows: list[dict[str, Any]]) -> None:
        seen = {str(r["job_id"]): r for r in rows}
        for job_id in ids:
            row = seen.get(job_id)
            if row is None:
                self.d.abort(job_id, WorkerLost("lease lost to another daemon"))
            elif row["cancel_requested"] or row["status"] == RunStatus.CANCELED:
                self.d.abort(job_id, Canceled("job canceled by an operator"))

    # ------------------------------------------------------------------ registry
    def register(self) -> None:
        """This daemon's row in engine_v2.daemons (best effort: the fleet view only)."""
        try:
            with self.d.pool.connection(timeout=self.d.CONN_TIMEOUT_S) as conn:
                self.d.registry.register(conn, claiming=bool(self.d.intake.claiming))
        except (psycopg.Error, PoolTimeout) as exc:
            logger.debug("daemon registry: %s", _first_line(exc), extra={"action": "registry"})

    def beat_registry(self, conn: psycopg.Connection[Any] | None = None) -> None:
        """Refresh this daemon's registry row; failures are quiet (the poll and the lease
        heartbeat already report an unreachable database)."""
        if self.d.schema_gone:
            return
        state = {
            "claiming": bool(self.d.intake.claiming),
            "running_jobs": len(self.d.running_job_ids()),
        }
        try:
            if conn is not None:
                self.d.registry.beat(conn, **state)
                return
            with self.d.pool.connection(timeout=self.d.CONN_TIMEOUT_S) as own:
                self.d.registry.beat(own, **state)
        except (psycopg.Error, PoolTimeout) as exc:
            logger.debug("daemon registry: %s", _first_line(exc), extra={"action": "registry"})

    def unregister(self) -> None:
        try:
            with self.d.pool.connection(timeout=self.d.CONN_TIMEOUT_S) as conn:
                self.d.registry.stopped(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            logger.debug("daemon registry: %s", _first_line(exc), extra={"action": "registry"})

    # ------------------------------------------------------------------ release
    def release(self, job_id: str) -> None:
        """Give one unfinished job back so any daemon resumes it at once."""
        if self.d.force_event.is_set():
            return  # release_all follows at once
        with bind(job_id=job_id):
            try:
                with self.d.pool.connection(timeout=self.d.CONN_TIMEOUT_S) as conn:
                    released = conn.execute(
                        self.d.queries["release_job"],
                        {"job_id": job_id, "owner": self.d.daemon_id},
                    ).fetchone()
            except (psycopg.Error, PoolTimeout) as exc:
                logger.warning(
                    "cannot release lease (it expires by itself): %s",
                    _first_line(exc),
                    extra={"action": "lease_release_failed"},
                )
                return
            if released:
                logger.info("lease released", extra={"action": "lease_released"})
                self.d.wake.set()  # someone (maybe this daemon) may pick it up right away

    def release_all(self) -> None:
        """At shutdown: every lease this daemon still holds."""
        try:
            with self.d.pool.connection(timeout=self.d.CONN_TIMEOUT_S) as conn:
                rows = conn.execute(
                    self.d.queries["release_all"], {"owner": self.d.daemon_id}
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
