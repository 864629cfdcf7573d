"""The fleet-wide kill switch on three real daemons (issue 16 item 1; design 16 without a
restart): ``enginev2d disable`` stops claiming everywhere within a second, every running
job is failed over to v1 with exactly one ``fallback``, the running count drains to 0;
``enginev2d enable`` resumes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import ENGINEV2D, Harness, harness, inject, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def h(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    with harness(db_url, tmp_path) as hh:
        yield hh


def cli(h: Harness, *args: str) -> subprocess.CompletedProcess[str]:
    config = h.root / "daemon0.toml"  # same database; the command reads only [database]
    return subprocess.run(
        [ENGINEV2D, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )


def fallbacks(h: Harness, job_id: str) -> int:
    return h.conn.execute(
        "SELECT count(*) AS n FROM engine_v2.job_task_events"
        " WHERE job_id = %s AND event_type = 'fallback'",
        (job_id,),
    ).fetchone()["n"]


def test_disable_stops_three_daemons_and_drains_then_enable_resumes(h: Harness):
    # two slots each: the six jobs below spread over all three
    daemons = [h.start(ready=False, poll_interval_s=5.0, max_concurrent_jobs=2) for _ in range(3)]
    for d in daemons:
        d.wait_ready()
    slow = inject(codegen={"latency_ms": 60000})
    jobs = [h.submit(slow) for _ in range(6)]
    wait_for(lambda: all(h.task_running(j, "codegen") for j in jobs), 20, "codegen running")
    owners = {h.run(j)["owner"] for j in jobs}
    assert len(owners) == 3, owners  # every daemon runs some of them

    done = cli(h, "disable", "--reason", "drill")
    assert done.returncode == 0, done.stderr
    assert "disabled fleet-wide" in done.stdout

    # Poll interval 5 s: only the NOTIFY on engine_v2_control explains a prompt reaction.
    wait_for(lambda: h.running_count() == 0, 15, "running count 0")
    timing = h.conn.execute(
        "SELECT extract(epoch FROM (SELECT max(last_seen_at) FROM engine_v2.daemons"
        "         WHERE NOT claiming) - s.changed_at)::float8 AS stop_s,"
        "       extract(epoch FROM (SELECT max(finished_at) FROM engine_v2.job_runs)"
        "         - s.changed_at)::float8 AS drain_s,"
        "       (SELECT count(*) FROM engine_v2.daemons WHERE NOT claiming) AS stopped"
        "  FROM engine_v2.engine_switch s"
    ).fetchone()
    print(f"\nswitch: claiming stopped {timing['stop_s']:.3f}s, drained {timing['drain_s']:.3f}s")
    assert timing["stopped"] == 3 and timing["stop_s"] < 1.0, timing
    for j in jobs:
        run = h.run(j)
        assert (run["status"], run["error_code"]) == ("failed", "v2_scheduler_error"), run
        assert run["fallback_triggered"] and fallbacks(h, j) == 1
        assert all(t["status"] not in ("running", "ready") for t in h.tasks(j).values())
    for d in daemons:
        rec = d.wait_action("engine_disabled")
        assert "drill" in rec["message"] and rec["fleet_enabled"] is False

    late = h.submit()  # while disabled: failed over, never run
    wait_for(lambda: h.status(late) == "failed", 10, "late job failed over")
    assert fallbacks(h, late) == 1

    status = cli(h, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert '"enabled": false' in status.stdout and status.stdout.count('"alive": true') == 3

    assert cli(h, "enable").returncode == 0
    resumed = h.submit()
    h.wait_status([resumed], "succeeded", timeout=20)
    for d in daemons:
        d.wait_action("engine_enabled")
