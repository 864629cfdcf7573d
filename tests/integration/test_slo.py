"""SLO figures (design 18) computed from rows written directly, checked by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import pytest

from enginev2d import slo
from enginev2d.config import TASK_KEYS

Conn = psycopg.Connection[dict[str, Any]]


def seed_job(
    conn: Conn,
    make_job: Callable[..., str],
    *,
    status: str = "succeeded",
    duration_s: float = 10.0,
    finished_ago_s: float = 60.0,
    attempts: dict[str, Sequence[tuple[str, float]]] | None = None,
    fallback: bool | None = None,
    error_code: str | None = None,
    mode: str = "live",
) -> str:
    """A submitted job forced into ``status`` with tasks and attempts.

    ``attempts`` maps task_key -> [(attempt status, cost_usd), ...]; by default each of
    the seven tasks has one succeeded attempt costing 0.001.
    """
    job_id = make_job(options={"mode": mode})
    if attempts is None:
        attempts = {k: [("succeeded", 0.001)] for k in TASK_KEYS}
    finished = status != "running"
    conn.execute(
        """UPDATE engine_v2.job_runs
              SET status = %(status)s,
                  created_at = now() - make_interval(secs => %(start)s),
                  claimed_at = now() - make_interval(secs => %(start)s),
                  finished_at = CASE WHEN %(finished)s
                                     THEN now() - make_interval(secs => %(ago)s) END,
                  fallback_triggered = %(fallback)s,
                  error_code = %(error_code)s,
                  progress = CASE WHEN %(status)s = 'succeeded' THEN 100 ELSE 40 END
            WHERE job_id = %(job_id)s""",
        {
            "status": status,
            "start": finished_ago_s + duration_s,
            "ago": finished_ago_s,
            "finished": finished,
            "fallback": status == "failed" if fallback is None else fallback,
            "error_code": error_code or ("v2_task_failed" if status == "failed" else None),
            "job_id": job_id,
        },
    )
    for key, tries in attempts.items():
        last = tries[-1][0] if tries else "pending"
        task_id = conn.execute(
            """INSERT INTO engine_v2.job_tasks
                 (job_id, task_key, agent_role, status, attempt_count, started_at, finished_at)
               VALUES (%s, %s, %s, %s, %s, now() - interval '5 s', now() - interval '4 s')
               RETURNING id""",
            (job_id, key, key, last, len(tries)),
        ).fetchone()["id"]
        for n, (attempt_status, cost) in enumerate(tries, start=1):
            conn.execute(
                """INSERT INTO engine_v2.job_task_attempts
                     (task_id, attempt_no, status, tokens_in, tokens_out, latency_ms, cost_usd,
                      ended_at)
                   VALUES (%s, %s, %s, 100, 50, 1000, %s, now())""",
                (task_id, n, attempt_status, cost),
            )
    return job_id


def test_empty_window_has_no_figures(conn):
    report = slo.compute(conn, 3600)
    assert report.counts["jobs_finished"] == 0
    assert all(v is None for v in report.v2.values())
    assert report.v1 is None
    assert [r["pass"] for r in report.rows] == [None] * 5 + [None]


def test_figures_match_the_rows(conn, make_job):
    # Four finished jobs in the window: three succeeded (10 s, 20 s, 30 s), one failed.
    seed_job(conn, make_job, duration_s=10)
    seed_job(
        conn,
        make_job,
        duration_s=20,
        attempts={
            "intent": [("failed", 0.002), ("succeeded", 0.003)],
            "plan": [("succeeded", 0.01)],
        },
    )
    seed_job(conn, make_job, duration_s=30, attempts={"codegen": [("succeeded", 0.1)]})
    seed_job(
        conn,
        make_job,
        status="failed",
        duration_s=5,
        attempts={"intent": [("failed", 0.0), ("failed", 0.0)]},
        error_code="v2_task_failed",
    )
    # Outside the window, still running, canceled: none of them count.
    seed_job(conn, make_job, duration_s=999, finished_ago_s=7200)
    seed_job(conn, make_job, status="running")
    seed_job(conn, make_job, status="canceled")

    report = slo.compute(conn, 3600)
    assert report.counts == {
        "jobs_finished": 4,
        "jobs_succeeded": 3,
        "jobs_fallback": 1,
        "tasks_run": 7 + 2 + 1 + 1,
        "attempts_total": 7 + 3 + 1 + 2,
    }
    assert report.v2["success_rate"] == pytest.approx(0.75)
    assert report.v2["latency_p50_seconds"] == pytest.approx(20, abs=0.5)
    # percentile_cont(0.95) over 10, 20, 30: 20 + 0.9 * 10
    assert report.v2["latency_p95_seconds"] == pytest.approx(29, abs=0.5)
    total_cost = 0.007 + 0.002 + 0.003 + 0.01 + 0.1
    assert report.v2["cost_per_job_usd"] == pytest.approx(total_cost / 4)
    assert report.v2["retry_rate"] == pytest.approx(2 / 11)
    assert report.v2["fallback_rate"] == pytest.approx(0.25)
    # The wider window sees the old job too.
    assert slo.compute(conn, 86400).counts["jobs_finished"] == 5


def test_fallback_event_counts_as_fallback(conn, make_job):
    job = seed_job(conn, make_job, status="failed", fallback=False)
    conn.execute(
        "SELECT engine_v2.emit_event(%s, NULL, 'fallback', '{\"type\": \"fallback\"}')", (job,)
    )
    seed_job(conn, make_job)
    report = slo.compute(conn, 3600)
    assert report.v2["fallback_rate"] == pytest.approx(0.5)


V1_QUERY = """
SELECT 0.5::float8 AS success_rate,
       25.0 AS latency_p50_seconds,
       %(window_s)s::float8 AS latency_p95_seconds,
       (SELECT count(*) FROM public.jobs WHERE created_at >= %(since)s)::float8
         AS cost_per_job_usd
"""


def test_v1_baseline_and_targets(conn, make_job):
    seed_job(conn, make_job, duration_s=10)
    report = slo.compute(conn, 3600, v1_query=V1_QUERY)
    assert report.v1 is not None
    assert report.v1["success_rate"] == 0.5
    assert report.v1["latency_p95_seconds"] == 3600.0
    assert report.v1["cost_per_job_usd"] == 1.0  # one public.jobs row since the window start
    assert report.v1["retry_rate"] is None  # not returned: not measured
    rows = {r["key"]: r for r in report.rows}
    assert rows["success_rate"]["pass"] is True  # 1.0 >= 0.5
    assert rows["latency_p50_seconds"]["pass"] is True  # 10 <= 25
    assert rows["cost_per_job_usd"]["pass"] is True
    assert rows["retry_rate"]["pass"] is None
    assert rows["fallback_rate"] == {
        "key": "fallback_rate",
        "v1": None,
        "v2": 0.0,
        "target": "< 0.05",
        "pass": True,
    }
    data = report.to_json()
    assert set(slo.SLO_KEYS) <= set(data)
    assert data["success_rate"] == {"v1": 0.5, "v2": 1.0, "target": ">= v1", "pass": True}


def test_v1_baseline_is_read_only(conn, make_job):
    seed_job(conn, make_job)
    report = slo.compute(
        conn, 3600, v1_query="UPDATE public.jobs SET status = 'x' RETURNING 1.0 AS success_rate"
    )
    assert report.v1 is None
    assert report.v1_error and "read-only" in report.v1_error
    assert (
        conn.execute("SELECT count(*) AS n FROM public.jobs WHERE status = 'x'").fetchone()["n"]
        == 0
    )
    # The v2 figures are still there.
    assert report.v2["success_rate"] == 1.0


def test_bad_window(conn):
    with pytest.raises(slo.SloError):
        slo.compute(conn, 0)
