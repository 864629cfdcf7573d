"""Real jobs through the engine (worker.JobRunner, offline provider and injected failures),
then /metrics scraped: process families and SLO gauges checked against the rows."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from enginev2d import metrics, worker
from enginev2d.config import Config
from enginev2d.db import make_pool
from tests.integration.test_metrics_scrape import scrape, value


@pytest.fixture
def fresh_metrics() -> Iterator[metrics.Metrics]:
    yield metrics.reset()
    metrics.reset()


def run_job(cfg: Config, pool: Any, conn: Any, job_id: str) -> Any:
    row = conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)).fetchone()
    return worker.JobRunner(cfg, pool, row, owner=None).run()


def test_scrape_after_real_jobs(conn, make_job, config, fresh_metrics):
    cfg = config.replace(metrics={"enabled": True, "port": 0, "refresh_s": 3600.0})
    chat = {"output": {"intent": "chat"}}  # design 7.4: a chat skips everything after intent
    jobs = {
        "ok": make_job(options={"inject": {"intent": chat}}),
        "retried": make_job(options={"inject": {"intent": {**chat, "fail_times": 1}}}),
        "failed": make_job(options={"inject": {"intent": {"fail_times": 9}}}),
    }
    pool = make_pool(cfg, max_size=4)
    try:
        outcomes = {name: run_job(cfg, pool, conn, job).status for name, job in jobs.items()}
    finally:
        pool.close()
    assert outcomes == {"ok": "succeeded", "retried": "succeeded", "failed": "failed"}

    server = metrics.start_http_server(cfg, refresh_in_background=False)
    try:
        assert server.refresher is not None and server.refresher.refresh_once()
        s = scrape(server.url)
    finally:
        server.shutdown()

    # Process families, from the hooks the engine called.
    assert value(s, "enginev2_jobs_total", outcome="succeeded") == 2
    assert value(s, "enginev2_jobs_total", outcome="failed") == 1
    runs = conn.execute(
        "SELECT status, error_code, fallback_triggered,"
        " extract(epoch FROM finished_at - created_at)::float8 AS dur"
        " FROM engine_v2.job_runs ORDER BY created_at"
    ).fetchall()
    failed_code = next(r["error_code"] for r in runs if r["status"] == "failed")
    assert value(s, "enginev2_fallback_total", error_code=failed_code) == 1
    attempts = conn.execute(
        """SELECT t.task_key, a.status, a.cost_usd::float8 AS cost
             FROM engine_v2.job_task_attempts a JOIN engine_v2.job_tasks t ON t.id = a.task_id"""
    ).fetchall()
    per_task: dict[str, int] = {}
    for a in attempts:
        per_task[a["task_key"]] = per_task.get(a["task_key"], 0) + 1
    for key, n in per_task.items():
        assert value(s, "enginev2_task_attempts_total", task_key=key) == n, key
        assert value(s, "enginev2_task_duration_seconds_count", task_key=key) == n, key
    assert value(s, "enginev2_tasks_total", task_key="intent", outcome="succeeded") == 2
    assert value(s, "enginev2_tasks_total", task_key="intent", outcome="retry") == 2
    assert value(s, "enginev2_tasks_total", task_key="intent", outcome="failed") == 1
    assert value(s, "enginev2_job_duration_seconds_count", outcome="succeeded") == 2

    # SLO gauges, recomputed here from the rows.
    finished = [r for r in runs if r["status"] in ("succeeded", "failed")]
    ok_durations = sorted(r["dur"] for r in finished if r["status"] == "succeeded")
    tasks_run = conn.execute(
        "SELECT count(DISTINCT task_id) AS n FROM engine_v2.job_task_attempts"
    ).fetchone()["n"]
    assert value(s, "enginev2_slo_up") == 1
    assert value(s, "enginev2_slo_jobs_finished") == 3
    assert value(s, "enginev2_slo_success_rate", engine="v2") == pytest.approx(2 / 3)
    assert value(s, "enginev2_slo_latency_p50_seconds", engine="v2") == pytest.approx(
        statistics.median(ok_durations)
    )
    assert value(s, "enginev2_slo_fallback_rate", engine="v2") == pytest.approx(
        sum(bool(r["fallback_triggered"]) for r in finished) / 3
    )
    assert value(s, "enginev2_slo_retry_rate", engine="v2") == pytest.approx(
        (len(attempts) - tasks_run) / tasks_run
    )
    assert value(s, "enginev2_slo_cost_per_job_usd", engine="v2") == pytest.approx(
        sum(a["cost"] or 0.0 for a in attempts) / 3
    )


def test_skipped_tasks_are_counted(conn, make_job, config, fresh_metrics):
    job = make_job(options={"inject": {"intent": {"output": {"intent": "chat"}}}})
    pool = make_pool(config, max_size=2)
    try:
        assert run_job(config, pool, conn, job).status == "succeeded"
    finally:
        pool.close()
    skipped = conn.execute(
        "SELECT task_key FROM engine_v2.job_tasks WHERE status = 'skipped' AND job_id = %s",
        (job,),
    ).fetchall()
    assert len(skipped) == 6  # design 7.4: chat skips everything after intent
    registry = fresh_metrics.registry
    for r in skipped:
        got = registry.get_sample_value(
            "enginev2_tasks_total", {"task_key": r["task_key"], "outcome": "skipped"}
        )
        assert got == 1, r["task_key"]
