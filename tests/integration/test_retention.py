"""Retention (issue 16 item 3): ``enginev2d prune`` deletes finished runs' detail rows in
batches, keeps their job_runs rows, and never touches a running or draining job."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from bench.seed import seed_finished_runs
from enginev2d import admin, retention
from tests.integration.test_cli import one_line_error, run, write_config

DETAIL = ("job_tasks", "job_task_attempts", "job_task_events", "job_task_artifacts")


def count(conn: psycopg.Connection[Any], table: str, where: str = "true") -> int:
    return conn.execute(f"SELECT count(*) AS n FROM engine_v2.{table} WHERE {where}").fetchone()[
        "n"
    ]


def detail(conn: psycopg.Connection[Any], job_id: str) -> dict[str, int]:
    out = {t: count(conn, t, f"job_id = '{job_id}'") for t in DETAIL if t != "job_task_attempts"}
    out["job_task_attempts"] = count(
        conn,
        "job_task_attempts",
        f"task_id IN (SELECT id FROM engine_v2.job_tasks WHERE job_id = '{job_id}')",
    )
    return out


@pytest.fixture
def cfg_file(config, tmp_path):
    return write_config(tmp_path / "enginev2d.toml", config.database.url, config)


@pytest.fixture
def seeded(conn, make_job) -> dict[str, Any]:
    """30 runs finished 40 days ago, 5 finished yesterday, an old running job, an old
    draining one, fallback and registry rows on both sides of the cutoff."""
    seed_finished_runs(conn, 30, age_days=40)
    seed_finished_runs(conn, 5, age_days=1)
    running = make_job()
    draining = make_job()
    conn.execute(
        "UPDATE engine_v2.job_runs SET created_at = now() - interval '90 days' WHERE job_id = %s",
        (running,),
    )
    conn.execute(
        "UPDATE engine_v2.job_runs SET status = 'failed', draining = true,"
        " finished_at = now() - interval '90 days' WHERE job_id = %s",
        (draining,),
    )
    conn.execute(
        "INSERT INTO engine_v2.server_fallbacks (job_id, error_code, created_at) VALUES"
        " (gen_random_uuid(), 'v2_timeout', now() - interval '40 days'),"
        " (gen_random_uuid(), 'v2_timeout', now() - interval '40 days'),"
        " (gen_random_uuid(), 'v2_timeout', now())"
    )
    conn.execute(
        "INSERT INTO engine_v2.daemons (daemon_id, hostname, pid, version, env_enabled,"
        " claiming, max_jobs, beat_s, last_seen_at, stopped_at) VALUES"
        " ('old', 'h', 1, 'v', true, false, 8, 10, now() - interval '40 days', now()),"
        " ('new', 'h', 2, 'v', true, true, 8, 10, now(), NULL)"
    )
    return {
        "running": running,
        "draining": draining,
        "before": {t: detail(conn, j) for t, j in (("running", running), ("draining", draining))},
    }


def test_prune_deletes_in_batches_and_keeps_runs_and_running_jobs(conn, seeded):
    runs_before = count(conn, "job_runs")
    preview = retention.prune(conn, 30 * 86400, dry_run=True)
    seen: list[int] = []
    report = retention.prune(conn, 30 * 86400, batch=7, on_batch=lambda r: seen.append(r.batches))
    assert report.counts == preview.counts
    assert report.counts == {
        "runs": 30,
        "tasks": 210,
        "attempts": 210,
        "events": 420,
        "artifacts": 60,
        "dependencies": 210,
    }
    assert seen == [1, 2, 3, 4, 5] and report.batches == 5  # 7+7+7+7+2
    assert (report.server_fallbacks, report.daemons) == (2, 1)
    assert report.rows == 210 * 3 + 420 + 60 + 2 + 1
    assert preview.bytes["events"] > 0 and sum(preview.bytes.values()) > 0

    assert count(conn, "job_runs") == runs_before  # SLO history stays
    assert count(conn, "job_runs", "pruned_at IS NOT NULL") == 30
    recent = "job_id IN (SELECT job_id FROM engine_v2.job_runs WHERE pruned_at IS NULL)"
    assert count(conn, "job_tasks", recent) == 5 * 7 + 0  # yesterday's runs untouched
    for name in ("running", "draining"):
        assert detail(conn, seeded[name]) == seeded["before"][name]
    assert (
        conn.execute(
            "SELECT status FROM engine_v2.job_runs WHERE job_id = %s", (seeded["running"],)
        ).fetchone()["status"]
        == "running"
    )
    assert count(conn, "server_fallbacks") == 1 and count(conn, "daemons") == 1

    again = retention.prune(conn, 30 * 86400, batch=7)
    assert again.rows == 0 and again.batches == 0


def test_a_pruned_run_cannot_be_retried(conn):
    seed_finished_runs(conn, 1, age_days=40, status="failed")
    job = conn.execute("SELECT job_id::text AS j FROM engine_v2.job_runs").fetchone()["j"]
    retention.prune(conn, 30 * 86400)
    with pytest.raises(admin.AdminError, match="pruned"):
        admin.retry(conn, job)


def test_prune_command(cfg_file, conn):
    seed_finished_runs(conn, 4, age_days=40)
    dry = run(cfg_file, "prune", "--older-than", "30d", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["tasks"] == 28 and count(conn, "job_tasks") == 28
    done = run(cfg_file, "prune", "--older-than", "30d", "--batch", "3")
    assert done.exit_code == 0, done.output
    assert "deleted 28 tasks" in done.output and "2 batch(es)" in done.output
    assert count(conn, "job_tasks") == 0
    assert "bad duration" in one_line_error(run(cfg_file, "prune", "--older-than", "0d"))
