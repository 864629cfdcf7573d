"""The real ``enginev2d run`` against the test database: intake, polling, shutdown,
systemd notifications, logs."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from enginev2d import affinity

from .harness import Harness, NotifySocket, harness, inject, wait_for

pytestmark = pytest.mark.slow

SECRET = "Hunter2-not-for-logs"


@pytest.fixture
def h(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    with harness(db_url, tmp_path) as hh:
        yield hh


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    ns = NotifySocket()
    yield ns
    ns.close()


def with_password(db_url: str) -> str:
    # trust authentication ignores it: the log must never show it anyway
    return db_url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@")


def test_jobs_complete_via_notify_and_sigterm_exits_clean(h: Harness, notify_socket):
    d = h.start(
        db_url=with_password(h.db_url),
        poll_interval_s=60.0,  # only NOTIFY can explain a prompt pickup
        env={"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "1200000"},
    )
    d.wait_action("listener_connected")
    jobs = [h.submit() for _ in range(3)]
    h.wait_status(jobs, "succeeded", timeout=20)
    wait_for(lambda: "WATCHDOG=1" in notify_socket.drain(), 5, "a watchdog ping")
    for job_id in jobs:
        h.assert_consistent(job_id)
        run = h.run(job_id)
        assert run["owner"] == d.wait_action("daemon_start")["daemon_id"]
        assert (run["claimed_at"] - run["created_at"]).total_seconds() < 5
    claimed = [r for r in d.records() if r.get("action") == "job_claimed"]
    assert {r["job_id"] for r in claimed} == set(jobs)
    assert all(r["via"] == "notify" for r in claimed)
    assert all(r["started"] for r in claimed)  # each started by its claim (start_jobs)
    d.signal(signal.SIGTERM)
    assert d.wait(20) == 0
    acts = d.actions()
    assert "daemon_stopping" in acts and "leases_released" in acts and "daemon_stopped" in acts
    log = d.log_path.read_text()
    assert SECRET not in log
    # every line the daemon wrote is JSON, and job lines carry job_id
    for rec in d.records():
        if rec.get("action") in ("job_claimed", "job_ended"):
            assert rec.get("job_id")
    msgs = notify_socket.drain()
    assert msgs[0].startswith("READY=1") and msgs[-1] == "STOPPING=1"
    assert "WATCHDOG=1" in msgs


def test_polling_only_still_completes(h: Harness):
    d = h.start(args=("--no-listen",), poll_interval_s=0.3)
    jobs = [h.submit() for _ in range(2)]
    h.wait_status(jobs, "succeeded", timeout=20)
    assert "listener_connected" not in d.actions()
    claimed = [r for r in d.records() if r.get("action") == "job_claimed"]
    assert claimed and all(r["via"] == "poll" and r["started"] for r in claimed)
    for job_id in jobs:
        h.assert_consistent(job_id)
    d.signal(signal.SIGINT)  # pm2 stops with SIGINT
    assert d.wait(20) == 0


def test_listener_killed_jobs_complete_and_notify_returns(h: Harness):
    d = h.start(poll_interval_s=1.0)
    d.wait_action("listener_connected")
    killed = h.conn.execute(
        "SELECT pg_terminate_backend(pid) AS k FROM pg_stat_activity"
        " WHERE application_name = 'enginev2d-listener' AND datname = current_database()"
    ).fetchall()
    assert killed and all(r["k"] for r in killed)
    job = h.submit()
    h.wait_status([job], "succeeded", timeout=20)
    d.wait_action("listener_reconnected")
    h.assert_consistent(job)
    d.signal(signal.SIGTERM)
    assert d.wait(20) == 0


def test_sigterm_lets_running_task_finish_then_releases(h: Harness):
    d = h.start(shutdown_grace_s=10.0)
    job = h.submit(inject(codegen={"latency_ms": 1500}))
    wait_for(lambda: h.task_running(job, "codegen"), 15, "codegen running")
    d.signal(signal.SIGTERM)
    assert d.wait(20) == 0
    run = h.run(job)
    codegen = [a for a in h.attempts(job) if a["task_key"] == "codegen"]
    assert [a["status"] for a in codegen] == ["succeeded"]  # finished within the grace
    if run["status"] == "running":  # unfinished work left: the lease is free at once
        assert run["owner"] is None and run["lease_expires_at"] is None
        d2 = h.start()
        h.wait_status([job], "succeeded", timeout=20)
        d2.signal(signal.SIGTERM)
        assert d2.wait(20) == 0
    h.assert_consistent(job)


def test_second_signal_releases_at_once(h: Harness):
    d = h.start(shutdown_grace_s=60.0)
    job = h.submit(inject(codegen={"latency_ms": 30000}))
    wait_for(lambda: h.task_running(job, "codegen"), 15, "codegen running")
    d.signal(signal.SIGTERM)
    d.wait_action("daemon_stopping")
    d.signal(signal.SIGTERM)
    assert d.wait(15) == 0
    run = h.run(job)
    assert run["status"] == "running" and run["owner"] is None
    assert "force_stop_requested" in d.actions()


def test_kill_switch_instant_stop_drains_running(h: Harness):
    """Design 16: ENGINE_V2_ENABLED=false, restart, running count drains to 0."""
    d = h.start(shutdown_grace_s=0.5)
    job = h.submit(inject(codegen={"latency_ms": 30000}))
    wait_for(lambda: h.task_running(job, "codegen"), 15, "codegen running")
    d.signal(signal.SIGTERM)
    assert d.wait(20) == 0
    assert h.running_count() == 1
    off = h.start(env={"ENGINE_V2_ENABLED": "false"})
    wait_for(lambda: h.running_count() == 0, 10, "running count 0")
    run = h.run(job)
    assert run["status"] == "failed" and run["error_code"] == "v2_scheduler_error"
    assert run["fallback_triggered"]
    assert "engine_disabled" in off.actions()
    late = h.submit()
    wait_for(lambda: h.status(late) == "failed", 10, "late job failed over")
    assert all(t["status"] != "running" for t in h.tasks(job).values())
    off.signal(signal.SIGTERM)
    assert off.wait(20) == 0


def test_stale_schema_refused_then_run_migrate_starts(bare_db_url: str, tmp_path: Path):
    with harness(bare_db_url, tmp_path) as hb:
        refused = hb.start(ready=False)
        assert refused.wait(30) == 1
        out = refused.text()
        assert "schema is not current" in out and "--migrate" in out
        assert "Traceback" not in out
        d = hb.start(args=("--migrate",))
        assert "migration_applied" in d.actions()
        job = hb.submit()
        hb.wait_status([job], "succeeded", timeout=20)
        d.signal(signal.SIGTERM)
        assert d.wait(20) == 0


def test_cpu_affinity_pins_every_thread_of_the_daemon(h: Harness):
    before = affinity.available()
    if len(before) < 2:
        pytest.skip("needs two CPUs to tell a pin apart")
    cpu = max(before)
    d = h.start(cpu_affinity=str(cpu))
    assert d.wait_action("cpu_affinity")["message"].startswith(f"pinned to CPU {cpu} ")
    jobs = [h.submit() for _ in range(2)]
    h.wait_status(jobs, "succeeded", timeout=20)  # its jobs' threads have come and gone
    threads = affinity.thread_cpus(d.pid)
    assert len(threads) > 3 and set(threads.values()) == {frozenset({cpu})}
    d.signal(signal.SIGTERM)
    assert d.wait(20) == 0


def test_cpu_affinity_naming_a_cpu_it_may_not_use_stops_the_start_in_one_line(h: Harness):
    missing = max(affinity.available()) + 1
    refused = h.start(ready=False, cpu_affinity=str(missing))
    assert refused.wait(30) == 1
    out = refused.text().strip()
    assert out.splitlines()[-1] == (
        f"Error: config: daemon.cpu_affinity names CPU {missing}, which this process may "
        f"not use (allowed: {affinity.format_cpu_list(affinity.available())})"
    )
    assert "Traceback" not in out and "daemon_ready" not in refused.actions()
