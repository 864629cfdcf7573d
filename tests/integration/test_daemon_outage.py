"""A database outage longer than the lease: the daemon must assume its leases are gone
(abort runners with WorkerLost), keep its loops alive, and resume the job as a takeover
once the database is back. Own cluster: the session one is shared."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from enginev2d.backoff import Backoff
from enginev2d.config import Config
from enginev2d.daemon import Daemon
from enginev2d.errors import WorkerLost

from .test_daemon import Running, StandInRunner, wait_for

STANDINS = Path(__file__).resolve().parent.parent / "sql" / "host_standins.sql"


@pytest.mark.slow
def test_outage_longer_than_lease(own_cluster, config: Config, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(Backoff, "MAX_S", 0.5)  # reconnect promptly once the server is back
    cfg = config.replace(
        database={"url": own_cluster.dsn(), "connect_timeout_s": 1.0},
        daemon={"poll_interval_s": 0.3, "lease_s": 1.5, "shutdown_grace_s": 1.0},
    )
    runners: list[StandInRunner] = []
    StandInRunner.registry = runners
    running = Running(Daemon(cfg, runner_factory=StandInRunner))
    running.thread.start()
    try:
        wait_for(running.daemon.ready.is_set, what="ready")
        job_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
        with psycopg.connect(own_cluster.dsn(), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO public.jobs (id, user_id, project_id, status)"
                " VALUES (%s, %s, 'p', 'pending')",
                (job_id, user_id),
            )
            conn.execute("SELECT engine_v2.submit_job(%s, %s, 'p', 'm')", (job_id, user_id))
        first = wait_for(lambda: runners and runners[0], what="claimed")
        assert first.takeover is False
        own_cluster.stop()
        wait_for(lambda: first.abort_reason is not None, timeout=15, what="leases presumed lost")
        assert isinstance(first.abort_reason, WorkerLost)
        assert running.daemon.healthy()  # loops keep advancing through the outage
        own_cluster.start()
        second = wait_for(lambda: len(runners) > 1 and runners[1], timeout=20, what="resumed")
        assert second.job_id == job_id and second.takeover is True
        with psycopg.connect(own_cluster.dsn(), autocommit=True, row_factory=dict_row) as conn:
            row = conn.execute(
                "SELECT owner, status FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)
            ).fetchone()
        assert row == {"owner": running.daemon.daemon_id, "status": "running"}
        second.finish.set()
        acts = [getattr(r, "action", "") for r in caplog.records]
        assert "heartbeat_failed" in acts and "lease_lost" in acts
        assert running.stop() == 0
    finally:
        if running.thread.is_alive():
            running.daemon.request_force_stop("teardown")
            running.thread.join(10)
