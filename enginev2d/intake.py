"""Intake: what the daemon claims, and the kill switch that stops it.

Each poll (a NOTIFY, the safety poll interval, a freed slot, a listener reconnect)
claims up to the free capacity with ``FOR UPDATE SKIP LOCKED`` under a lease, oldest
first, and starts a runner per job. v2 runs only while both switches are on: the
daemon's environment flag (``ENGINE_V2_ENABLED``, design 4) and the fleet switch
(:mod:`enginev2d.fleet`, re-read on ``engine_v2_control`` and every safety poll). A
disabled daemon claims nothing, aborts the jobs it runs and fails each over to v1 once
its runner returns, and fails over every job no live daemon holds (design 16).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import PoolTimeout

from . import fleet, metrics, scheduler
from .backoff import Backoff
from .db import schema_missing, schema_present
from .errors import V2_SCHEDULER_ERROR, EngineDisabled
from .logsetup import bind, context_logger

if TYPE_CHECKING:
    from .daemon import Daemon

logger = context_logger(__name__)

DISABLED_MESSAGE = "engine v2 disabled"
CRASHED_MESSAGE = "job runner crashed"
STARTED = "started"  # a claimed row's first step when the claim started its job
EXTRA_COLUMNS = ("prev_owner", "was_claimed", "pickup_s", STARTED)
# Exit code after the schema vanished under a running daemon (`enginev2d uninstall`).
EXIT_SCHEMA_GONE = 3
# Wake-ups after which the fleet switch is read again (NOTIFY engine_v2_control, the safety
# poll, a listener reconnect); a job NOTIFY uses the last value, and the claim itself
# checks the switch in SQL, so a stale value can never claim.
SWITCH_READ_ON = frozenset({"control", "poll", "reconnect"})
ORPHAN_BATCH = 50


class Intake:
    DISABLED_LOG_EVERY_S = 60.0

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self.polls = 0
        self.switch = fleet.Switch(True)
        self.claiming: bool | None = None  # env flag and fleet switch; None = not read yet
        self._backoff = Backoff()
        self._last_disabled_log = -1e9

    # ------------------------------------------------------------------ polls
    def poll_once(self, via: str = "poll", reason: str = "poll") -> float | None:
        """Claim what can be claimed; returns a retry delay after a database error."""
        self.polls += 1
        try:
            if self.claiming is None or reason in SWITCH_READ_ON:
                self.read_switch()
            if self.claiming:
                self._claim(via)
            else:
                self._disabled_poll()
        except (psycopg.Error, PoolTimeout) as exc:
            if schema_missing(exc) and self._confirm_schema_gone():
                return None
            delay = self._backoff.next_delay()
            logger.warning(
                "poll failed (retry in %.1fs): %s",
                delay,
                _first_line(exc),
                extra={"action": "poll_failed", "retry_in_s": round(delay, 3)},
            )
            return delay
        self._backoff.reset()
        return None

    def _claim(self, via: str) -> None:
        running = self.d.running_job_ids()
        capacity = self.d.cfg.daemon.max_concurrent_jobs - len(running)
        if capacity <= 0:
            return
        with self.d.pool.connection(timeout=self.d.CONN_TIMEOUT_S) as conn:
            rows = self._claim_jobs(conn, capacity, running)
            try:  # the claim committed: whatever happens, every row gets its runner
                self._start_fresh(conn, rows)
            except Exception as exc:
                # A statement that failed committed nothing; a lost answer, or a failure
                # after the statement ran, leaves the start in doubt.
                in_doubt = (
                    not isinstance(exc, psycopg.Error)
                    or isinstance(exc, psycopg.OperationalError)
                    or conn.broken
                )
                logger.warning(
                    "starting %d claimed jobs failed (%s): %s", len(rows),
                    "in doubt: their runners recover them" if in_doubt
                    else "their runners start them", _first_line(exc),
                    extra={"action": "job_start_in_claim_failed"},
                )  # fmt: skip
                for row in rows:  # the start may have committed unacknowledged
                    row["was_claimed"] = row.get("was_claimed") or in_doubt
        self.start_claimed(rows, via)

    def _claim_jobs(
        self, conn: psycopg.Connection[Any], limit: int, running: list[str]
    ) -> list[dict[str, Any]]:
        params = {
            "owner": self.d.daemon_id,
            "lease_s": self.d.cfg.daemon.lease_s,
            "limit": limit,
            "exclude": running,
        }
        return conn.execute(self.d.queries["claim_jobs"], params).fetchall()

    def _start_fresh(self, conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> None:
        """Start the fresh jobs among ``rows`` (no takeover) with one call, in the claim's
        transaction when there is one (issue 17, item 4): each row gets its first step
        (``STARTED``), which its runner takes instead of a start hand-off of its own. A
        job whose start raised keeps none: its runner starts it and meets the error."""
        workflow = self.d.start_workflow
        fresh = [str(r["job_id"]) for r in rows if not _takeover(r)]
        if workflow is None or not fresh:
            return
        more = self.d.cfg.daemon.start_more  # as the runner's own start would claim
        started = scheduler.start_many(
            conn, self.d.cfg, fresh, self.d.daemon_id, workflow, more=more
        )
        if started.set_based_error:  # a bug: correct, slower
            logger.warning(
                "set-based start failed (%s): jobs started one by one",
                started.set_based_error,
                extra={"action": "start_set_based_failed"},
            )
        for job_id, error in started.errors.items():
            logger.warning(
                "starting the claimed job failed (its runner starts it): %s", error,
                extra={"action": "job_start_in_claim_failed", "job_id": job_id},
            )  # fmt: skip
        for row in rows:
            row[STARTED] = started.steps.get(str(row["job_id"]))

    # ------------------------------------------------------------------ in a batch
    def claim_in(self, conn: psycopg.Connection[Any], ended: int) -> list[dict[str, Any]]:
        """(the group completer, inside a batch's transaction that ended ``ended`` jobs)
        Claim queued jobs for their slots in the same commit: no poll, no transaction of
        their own (issue 17, item 4). Their threads are still exiting, so they count as
        running here, and the main loop's poll when they exit finds the slots taken.
        Nothing while claiming is off or the daemon stops. A commit whose acknowledgement
        is lost leaves its claims to lease expiry, as a crash does."""
        if not self.claiming or self.d.stop_event.is_set():
            return []
        running = self.d.running_job_ids()
        limit = min(ended, self.d.cfg.daemon.max_concurrent_jobs - len(running) + ended)
        if limit <= 0:
            return []
        rows = self._claim_jobs(conn, limit, running)
        self._start_fresh(conn, rows)
        return rows

    def start_claimed(self, rows: list[dict[str, Any]], via: str = "capacity") -> None:
        """A runner for each job claimed: by a poll, or (after the batch's commit, ``via``
        capacity: the slots ended jobs freed) by :meth:`claim_in`."""
        for row in rows:
            with bind(job_id=str(row["job_id"])):
                self._start(row, via)

    def _start(self, row: dict[str, Any], via: str) -> None:
        prev_owner = row.get("prev_owner")
        takeover = _takeover(row)
        pickup_s = None if row.get("was_claimed") else row.get("pickup_s")
        logger.info(
            "claimed job%s",
            " (takeover)" if takeover else "",
            extra={
                "action": "job_claimed",
                "via": "takeover" if takeover else via,
                "takeover": takeover,
                "started": row.get(STARTED) is not None,  # by the claim (_start_fresh)
                "prev_owner": prev_owner,
                "pickup_ms": None if pickup_s is None else round(pickup_s * 1000, 1),
            },
        )
        metrics.job_claimed(pickup_s, takeover=takeover, via=via)
        job_row = {k: v for k, v in row.items() if k not in EXTRA_COLUMNS}
        self.d.start_job(job_row, takeover=takeover, started=row.get(STARTED))

    # ------------------------------------------------------------------ kill switch
    def read_switch(self) -> None:
        """Read the fleet switch; on a change of the effective state, act on it."""
        with self.d.pool.connection(timeout=self.d.CONN_TIMEOUT_S) as conn:
            self.switch = fleet.read_switch(conn)
        claiming = self.d.env_enabled and self.switch.enabled
        if claiming == self.claiming:
            return
        first = self.claiming is None
        self.claiming = claiming
        metrics.engine_switch(env=self.d.env_enabled, fleet=self.switch.enabled)
        self.d.leases.beat_registry()
        if not claiming:
            self._last_disabled_log = -1e9  # say it now
            self._abort_all()
        elif not first:
            logger.info(
                "engine v2 enabled again: claiming",
                extra={"action": "engine_enabled", "changed_by": self.switch.changed_by},
            )

    def _why_disabled(self) -> str:
        if not self.d.env_enabled:
            return "ENGINE_V2_ENABLED / engine.enabled is off on this daemon"
        reason = f": {self.switch.reason}" if self.switch.reason else ""
        return f"fleet switch off (enginev2d disable by {self.switch.changed_by}{reason})"

    def _abort_all(self) -> None:
        """Every job this daemon runs stops now; each is failed over once its runner
        returns (:meth:`fail_over`), as the flag-off path does."""
        for job_id in self.d.mark_disabled():
            self.d.abort(job_id, EngineDisabled(DISABLED_MESSAGE))

    def fail_over(self, job_id: str, prev_owner: str | None = None) -> None:
        """Fail a job this daemon holds over to v1 because v2 is off."""
        if not self.d._fail_owned(job_id, DISABLED_MESSAGE):
            return
        metrics.disabled_failover()
        logger.warning(
            "job failed over to v1: engine v2 disabled",
            extra={
                "action": "job_failed_disabled",
                "error_code": V2_SCHEDULER_ERROR,
                "prev_owner": prev_owner,
            },
        )

    def _disabled_poll(self) -> None:
        now = time.monotonic()
        if now - self._last_disabled_log >= self.DISABLED_LOG_EVERY_S:
            self._last_disabled_log = now
            logger.warning(
                "engine v2 is disabled (%s): claiming nothing; running jobs are failed over to v1",
                self._why_disabled(),
                extra={
                    "action": "engine_disabled",
                    "env_enabled": self.d.env_enabled,
                    "fleet_enabled": self.switch.enabled,
                    "reason": self.switch.reason,
                },
            )
        while not self.d.stop_event.is_set():
            with self.d.pool.connection(timeout=self.d.CONN_TIMEOUT_S) as conn:
                rows = conn.execute(
                    self.d.queries["claim_orphans"],
                    {
                        "owner": self.d.daemon_id,
                        "lease_s": self.d.cfg.daemon.lease_s,
                        "limit": ORPHAN_BATCH,
                    },
                ).fetchall()
            for row in rows:
                with bind(job_id=str(row["job_id"])):
                    self.fail_over(str(row["job_id"]), row["prev_owner"])
            if len(rows) < ORPHAN_BATCH:
                return

    # ------------------------------------------------------------------ schema gone
    def _confirm_schema_gone(self) -> bool:
        """After an undefined-object error: is engine_v2 really gone (uninstalled)? Then
        say so in one line and stop at once with EXIT_SCHEMA_GONE; the supervisor's
        restart meets the same one-line refusal at start (check_schema)."""
        try:
            with self.d.pool.connection(timeout=self.d.CONN_TIMEOUT_S) as conn:
                if schema_present(conn):
                    return False
        except (psycopg.Error, PoolTimeout):
            return False
        logger.critical(
            "schema engine_v2 is gone (uninstalled?): exiting. Stop every daemon before"
            " `enginev2d uninstall`; `enginev2d migrate` installs it again",
            extra={"action": "schema_gone", "exit_code": EXIT_SCHEMA_GONE},
        )
        self.d.schema_vanished(EXIT_SCHEMA_GONE)
        return True


def _takeover(row: dict[str, Any]) -> bool:
    """A claimed job that ran before (a previous owner, or claimed once): recovered by
    its runner, never started."""
    return row.get("prev_owner") is not None or bool(row.get("was_claimed"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
