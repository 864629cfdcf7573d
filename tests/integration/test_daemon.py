"""The daemon in-process against real PostgreSQL, with a stand-in JobRunner (intake,
leases, takeover, cancel, kill switch, shutdown). The real runner is exercised by the
acceptance tests in tests/acceptance/."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from enginev2d.config import Config
from enginev2d.daemon import Daemon
from enginev2d.errors import Canceled, WorkerLost
from tests.waiting import wait_for


@dataclass
class Outcome:
    status: str
    error_code: str | None = None


class StandInRunner:
    """Holds its job until the test says finish, a stop or an abort arrives."""

    registry: list[StandInRunner]

    def __init__(
        self, cfg: Config, pool: Any, job_row: dict[str, Any], *, owner: str, takeover: bool
    ) -> None:
        self.cfg, self.pool, self.row = cfg, pool, job_row
        self.job_id = str(job_row["job_id"])
        self.owner, self.takeover = owner, takeover
        self.finish = threading.Event()
        self.stopped = threading.Event()
        self.ignore_stop = False
        self.abort_reason: BaseException | None = None
        self._wake = threading.Event()
        self.registry.append(self)

    def run(self) -> Outcome:
        while True:
            if self.abort_reason is not None:
                return Outcome("released", getattr(self.abort_reason, "code", None))
            if self.finish.is_set():
                with self.pool.connection() as conn:
                    conn.execute(
                        "UPDATE engine_v2.job_runs SET status = 'succeeded', finished_at = now()"
                        " WHERE job_id = %s AND owner = %s",
                        (self.job_id, self.owner),
                    )
                return Outcome("succeeded")
            if self.stopped.is_set() and not self.ignore_stop:
                return Outcome("released")
            self._wake.wait(0.05)
            self._wake.clear()

    def request_stop(self) -> None:
        self.stopped.set()
        self._wake.set()

    def abort(self, reason: BaseException) -> None:
        self.abort_reason = reason
        self._wake.set()


class CrashingRunner(StandInRunner):
    def run(self) -> Outcome:
        raise RuntimeError("bug in the runner")


@pytest.fixture
def runners() -> Iterator[list[StandInRunner]]:
    reg: list[StandInRunner] = []
    StandInRunner.registry = reg
    yield reg


@pytest.fixture
def cfg(config: Config) -> Config:
    return config.replace(
        daemon={"poll_interval_s": 0.3, "lease_s": 2.0, "shutdown_grace_s": 1.0},
    )


class Running:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.exit_code = self.daemon.run()

    def stop(self, timeout: float = 15.0) -> int | None:
        self.daemon.request_stop("test")
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "daemon did not stop"
        return self.exit_code


@pytest.fixture
def start_daemon(runners: list[StandInRunner]) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def _start(cfg: Config, *, runner: type = StandInRunner, **kw: Any) -> Running:
        r = Running(Daemon(cfg, runner_factory=runner, **kw))
        r.thread.start()
        wait_for(r.daemon.ready.is_set, what="daemon ready")
        started.append(r)
        return r

    yield _start
    for r in started:
        if r.thread.is_alive():
            r.daemon.request_force_stop("teardown")
            r.thread.join(10)


def run_row(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any]:
    return conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)).fetchone()


def runner_for(runners: list[StandInRunner], job_id: str) -> StandInRunner:
    return wait_for(
        lambda: next((r for r in runners if r.job_id == job_id), None), what=f"runner {job_id}"
    )


def actions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "action", "") for r in caplog.records]


def test_notify_claims_at_once_and_job_completes(
    cfg, conn, make_job, runners, start_daemon, caplog
):
    caplog.set_level(logging.INFO)
    d = start_daemon(cfg.replace(daemon={"poll_interval_s": 30.0})).daemon
    wait_for(lambda: d.listener and d.listener.connected.is_set(), what="listener")
    job_id = make_job()
    r = runner_for(runners, job_id)  # poll interval is 30 s: only NOTIFY explains this
    row = run_row(conn, job_id)
    assert row["owner"] == d.daemon_id
    assert row["claimed_at"] is not None and row["lease_expires_at"] > row["claimed_at"]
    assert row["takeover_count"] == 0 and r.takeover is False
    claimed = [x for x in caplog.records if getattr(x, "action", "") == "job_claimed"]
    assert claimed[0].job_id == job_id and claimed[0].via == "notify"
    r.finish.set()
    wait_for(lambda: run_row(conn, job_id)["status"] == "succeeded", what="succeeded")
    wait_for(lambda: not d.running_job_ids(), what="reaped")


def test_polling_only_claims_within_poll_interval(cfg, conn, make_job, runners, start_daemon):
    d = start_daemon(cfg, listen=False).daemon
    assert d.listener is None
    job_id = make_job()
    started = time.monotonic()
    runner_for(runners, job_id)
    assert time.monotonic() - started < cfg.daemon.poll_interval_s + 1.0


def test_capacity_is_respected_and_freed(cfg, conn, make_job, runners, start_daemon):
    d = start_daemon(cfg.replace(daemon={"max_concurrent_jobs": 2})).daemon
    jobs = [make_job() for _ in range(4)]
    wait_for(lambda: len(runners) == 2, what="two claims")
    wait_for(lambda: d.polls >= 3, what="a few more polls")
    assert len(runners) == 2
    assert {r.job_id for r in runners} == set(jobs[:2])  # oldest first
    runners[0].finish.set()
    wait_for(lambda: len(runners) == 3, what="third claim after a slot frees")
    assert runners[2].job_id == jobs[2]


def test_two_daemons_never_claim_the_same_job(cfg, conn, make_job, runners, start_daemon):
    a = start_daemon(cfg.replace(daemon={"max_concurrent_jobs": 4})).daemon
    b = start_daemon(cfg.replace(daemon={"max_concurrent_jobs": 4})).daemon
    jobs = [make_job() for _ in range(6)]
    wait_for(lambda: len(runners) == 6, what="all claimed")
    assert sorted(r.job_id for r in runners) == sorted(jobs)
    owners = {r.owner for r in runners}
    assert owners <= {a.daemon_id, b.daemon_id}
    for r in runners:
        r.finish.set()
    wait_for(
        lambda: (
            conn.execute(
                "SELECT count(*) AS n FROM engine_v2.job_runs WHERE status = 'succeeded'"
            ).fetchone()["n"]
            == 6
        ),
        what="all succeeded",
    )
    assert len(runners) == 6  # nobody ran a job twice


def test_expired_lease_is_taken_over(cfg, conn, make_job, runners, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    job_id = make_job(submit=True)
    conn.execute(
        "UPDATE engine_v2.job_runs SET owner = 'dead-daemon',"
        " claimed_at = now() - interval '1 min',"
        " lease_expires_at = now() - interval '1 s' WHERE job_id = %s",
        (job_id,),
    )
    live = make_job()
    conn.execute(
        "UPDATE engine_v2.job_runs SET owner = 'live-daemon', claimed_at = now(),"
        " lease_expires_at = now() + interval '1 hour' WHERE job_id = %s",
        (live,),
    )
    d = start_daemon(cfg).daemon
    r = runner_for(runners, job_id)
    assert r.takeover is True
    row = run_row(conn, job_id)
    assert row["owner"] == d.daemon_id and row["takeover_count"] == 1
    wait_for(lambda: d.polls >= 3, what="more polls")
    assert [x.job_id for x in runners] == [job_id]  # the live lease is never touched
    assert run_row(conn, live)["owner"] == "live-daemon"
    claimed = [x for x in caplog.records if getattr(x, "action", "") == "job_claimed"]
    assert claimed[0].via == "takeover" and claimed[0].prev_owner == "dead-daemon"


def test_heartbeat_renews_leases(cfg, conn, make_job, runners, start_daemon):
    start_daemon(cfg)
    job_id = make_job()
    runner_for(runners, job_id)
    first = run_row(conn, job_id)["lease_expires_at"]
    wait_for(lambda: run_row(conn, job_id)["lease_expires_at"] > first, what="renewal")
    # Several lease periods later the job is still ours and never taken over.
    wait_for(
        lambda: (
            run_row(conn, job_id)["lease_expires_at"].timestamp()
            > first.timestamp() + 2 * cfg.daemon.lease_s
        ),
        timeout=3 * cfg.daemon.lease_s + 2,
        what="leases renewed across several periods",
    )
    assert run_row(conn, job_id)["takeover_count"] == 0
    assert len(runners) == 1


def test_cancel_requested_aborts_the_runner(cfg, conn, make_job, runners, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    start_daemon(cfg)
    job_id = make_job()
    r = runner_for(runners, job_id)
    conn.execute(
        "UPDATE engine_v2.job_runs SET cancel_requested = true WHERE job_id = %s", (job_id,)
    )
    wait_for(lambda: r.abort_reason is not None, what="abort")
    assert isinstance(r.abort_reason, Canceled)
    assert "job_abort_canceled" in actions(caplog)


def test_lost_lease_aborts_with_worker_lost(cfg, conn, make_job, runners, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    d = start_daemon(cfg).daemon
    job_id = make_job()
    r = runner_for(runners, job_id)
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'thief' WHERE job_id = %s", (job_id,))
    wait_for(lambda: r.abort_reason is not None, what="abort")
    assert isinstance(r.abort_reason, WorkerLost)
    assert "lease_lost" in actions(caplog)
    wait_for(lambda: not d.running_job_ids(), what="reaped")
    assert run_row(conn, job_id)["owner"] == "thief"  # never released what is not ours


def test_graceful_stop_releases_leases(cfg, conn, make_job, runners, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    running = start_daemon(cfg)
    job_id = make_job()
    r = runner_for(runners, job_id)
    assert running.stop() == 0
    assert r.stopped.is_set() and r.abort_reason is None
    row = run_row(conn, job_id)
    assert row["status"] == "running" and row["owner"] is None and row["lease_expires_at"] is None
    acts = actions(caplog)
    assert "daemon_stopping" in acts and "daemon_stopped" in acts


def test_grace_expiry_aborts_then_releases(cfg, conn, make_job, runners, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    running = start_daemon(cfg.replace(daemon={"shutdown_grace_s": 0.3}))
    job_id = make_job()
    r = runner_for(runners, job_id)
    r.ignore_stop = True
    started = time.monotonic()
    assert running.stop() == 0
    assert time.monotonic() - started < 5
    assert isinstance(r.abort_reason, WorkerLost)
    assert "grace_expired" in actions(caplog) and "leases_released" in actions(caplog)
    assert run_row(conn, job_id)["owner"] is None


def test_force_stop_skips_grace(cfg, conn, make_job, runners, start_daemon):
    running = start_daemon(cfg.replace(daemon={"shutdown_grace_s": 60.0}))
    job_id = make_job()
    r = runner_for(runners, job_id)
    r.ignore_stop = True
    started = time.monotonic()
    running.daemon.request_stop("first")
    wait_for(r.stopped.is_set, what="request_stop")
    running.daemon.request_force_stop("second")
    running.thread.join(10)
    assert not running.thread.is_alive()
    assert time.monotonic() - started < 10
    assert run_row(conn, job_id)["owner"] is None


def test_another_daemon_resumes_a_released_job(cfg, conn, make_job, runners, start_daemon):
    first = start_daemon(cfg.replace(daemon={"poll_interval_s": 30.0}))
    job_id = make_job()
    runner_for(runners, job_id)
    second = start_daemon(cfg.replace(daemon={"poll_interval_s": 30.0})).daemon
    assert first.stop() == 0
    # The release wakes nobody by NOTIFY: the second daemon polls only every 30 s, so
    # resume within a short deadline would be luck. Poke it like a poll tick would.
    second.wake.set()
    r2 = wait_for(lambda: len(runners) == 2 and runners[1], what="resume")
    assert r2.job_id == job_id and r2.owner == second.daemon_id and r2.takeover is True
    assert run_row(conn, job_id)["takeover_count"] == 0  # released, not expired


def test_runner_crash_fails_job_with_fallback(cfg, conn, make_job, runners, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    start_daemon(cfg, runner=CrashingRunner)
    job_id = make_job()
    wait_for(lambda: run_row(conn, job_id)["status"] == "failed", what="failed")
    row = run_row(conn, job_id)
    assert row["error_code"] == "v2_scheduler_error" and row["fallback_triggered"] is True
    events = [
        e["event_type"]
        for e in conn.execute(
            "SELECT event_type FROM engine_v2.job_task_events WHERE job_id = %s ORDER BY seq",
            (job_id,),
        )
    ]
    assert events == ["jobSubmitted", "jobFailed", "fallback"]
    assert "job_crashed" in actions(caplog)


def test_kill_switch_claims_nothing_and_drains(cfg, conn, make_job, runners, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    fresh = make_job()
    expired = make_job()
    held = make_job()
    conn.execute(
        "UPDATE engine_v2.job_runs SET owner = 'dead', lease_expires_at = now() - interval '1s'"
        " WHERE job_id = %s",
        (expired,),
    )
    conn.execute(
        "UPDATE engine_v2.job_runs SET owner = 'alive', lease_expires_at = now() + interval '3s'"
        " WHERE job_id = %s",
        (held,),
    )
    d = start_daemon(cfg.replace(engine={"enabled": False})).daemon
    for job_id in (fresh, expired):
        row = run_row(conn, job_id)
        assert row["status"] == "failed" and row["error_code"] == "v2_scheduler_error"
        assert row["fallback_triggered"] and row["owner"] == d.daemon_id  # who failed it
        events = {
            e["event_type"]: e["data"]
            for e in conn.execute(
                "SELECT event_type, data FROM engine_v2.job_task_events WHERE job_id = %s",
                (job_id,),
            )
        }
        assert events["jobFailed"]["message"] == "engine v2 disabled"
        assert events["fallback"]["error_code"] == "v2_scheduler_error"
    assert run_row(conn, held)["status"] == "running"  # a live daemon still holds it
    late = make_job()  # submitted after the switch: failed over too
    wait_for(lambda: run_row(conn, late)["status"] == "failed", what="late job failed over")
    # The "live" daemon dies: once its lease expires the job drains as well (design 16).
    wait_for(
        lambda: (
            conn.execute(
                "SELECT count(*) AS n FROM engine_v2.job_runs WHERE status = 'running'"
            ).fetchone()["n"]
            == 0
        ),
        what="running count drained to 0",
    )
    assert runners == []
    assert actions(caplog).count("engine_disabled") == 1  # at most once a minute
    assert d.polls > 2


def test_listener_reconnects_after_terminate(cfg, conn, make_job, runners, start_daemon, caplog):
    caplog.set_level(logging.INFO)
    d = start_daemon(cfg.replace(daemon={"poll_interval_s": 30.0})).daemon
    listener = d.listener
    assert listener is not None
    wait_for(listener.connected.is_set, what="listener connected")
    old_pid = listener.backend_pid
    conn.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
    wait_for(lambda: listener.connects >= 2 and listener.connected.is_set(), what="reconnect")
    assert listener.backend_pid != old_pid
    assert "listener_lost" in actions(caplog) and "listener_reconnected" in actions(caplog)
    job_id = make_job()
    runner_for(runners, job_id)  # poll interval 30 s: NOTIFY works again


def test_dead_side_thread_is_restarted(cfg, runners, start_daemon, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    d = start_daemon(cfg).daemon
    hb = next(s for s in d.supervisor.sides if s.name == "heartbeat")
    original = hb.target
    calls = {"n": 0}

    def dies_once() -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("heartbeat bug")
        original()

    hb.target = dies_once
    d.leases.stop_event.set()  # end the current heartbeat loop; its replacement crashes once
    wait_for(lambda: not hb.alive(), what="heartbeat ended")
    d.leases.stop_event.clear()
    wait_for(lambda: calls["n"] >= 2 and hb.alive(), what="restarted twice")
    acts = actions(caplog)
    assert "thread_crashed" in acts and acts.count("thread_restarted") >= 2


def test_pool_max_is_the_daemon_pool_size(cfg, runners, start_daemon):
    d = start_daemon(cfg.replace(database={"pool_max": 7}, daemon={"max_concurrent_jobs": 2}))
    assert d.daemon.pool.max_size == 7
