"""A PostgreSQL restart in the middle of running jobs is survived by the real daemon.

Uses its own cluster: the session cluster is shared with tests running concurrently."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from enginev2d.pgcluster import PgCluster

from .harness import Harness, harness, inject, wait_for

pytestmark = pytest.mark.slow

STANDINS = Path(__file__).resolve().parent.parent / "sql" / "host_standins.sql"


@pytest.fixture
def h(own_cluster: PgCluster, tmp_path: Path) -> Iterator[Harness]:
    with harness(own_cluster.dsn(), tmp_path) as hh:
        yield hh


def test_postgres_restart_mid_run_is_survived(h: Harness, own_cluster: PgCluster):
    d = h.start(poll_interval_s=0.5, lease_s=5.0)
    d.wait_action("listener_connected")
    jobs = [h.submit(inject(codegen={"latency_ms": 2000})) for _ in range(3)]
    wait_for(lambda: all(h.task_running(j, "codegen") for j in jobs), 15, "codegen running")
    h.conn.close()
    own_cluster.stop()  # fast shutdown: every backend of the daemon is cut
    # Stay down until the daemon has noticed (heartbeat and listener both failing).
    d.wait_action("heartbeat_failed", timeout=15)
    d.wait_action("listener_connect_failed", timeout=15)
    own_cluster.start()
    h.conn = psycopg.connect(own_cluster.dsn(), autocommit=True, row_factory=psycopg.rows.dict_row)
    assert d.proc.poll() is None, d.text()
    h.wait_status(jobs, "succeeded", timeout=40)
    for j in jobs:
        h.assert_consistent(j)
    d.wait_action("listener_reconnected", timeout=15)
    later = h.submit()  # intake works again after the outage
    h.wait_status([later], "succeeded", timeout=15)
    h.assert_consistent(later)
    assert d.proc.poll() is None
    d.signal(signal.SIGTERM)
    assert d.wait(20) == 0
