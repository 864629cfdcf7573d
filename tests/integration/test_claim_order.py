"""The intake's claim with a backlog (migration 0008): it reads waiting runs in claim
order from an index and stops at the first claimable ones, instead of reading and
sorting every running run at every claim."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from enginev2d.sql import load_queries

DAEMON = load_queries("daemon")
BACKLOG = 2000
HELD = 32


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


def test_a_claim_with_a_backlog_reads_only_the_held_runs_and_its_own(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(
        "INSERT INTO public.jobs (id, user_id, project_id)"
        " SELECT gen_random_uuid(), gen_random_uuid(), 'p' FROM generate_series(1, %s)",
        (BACKLOG,),
    )
    conn.execute(
        "SELECT engine_v2.submit_job(id, user_id, 'p', 'make a game', '{}'::jsonb) FROM public.jobs"
    )
    waiting = conn.execute("SELECT count(*) AS n FROM engine_v2.job_runs WHERE status = 'running'")
    assert waiting.fetchone()["n"] == BACKLOG
    conn.execute(  # the oldest are held by a live daemon, as under load
        "UPDATE engine_v2.job_runs SET owner = 'other', lease_expires_at = now() + interval '1 h'"
        " WHERE job_id IN (SELECT job_id FROM engine_v2.job_runs"
        "                   ORDER BY created_at, job_id LIMIT %s)",
        (HELD,),
    )
    conn.execute("ANALYZE engine_v2.job_runs")
    params = {"owner": "me", "lease_s": 30.0, "limit": 2, "exclude": []}
    with conn.transaction(force_rollback=True):
        row = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + DAEMON["claim_jobs"], params
        ).fetchone()
    plan = row["QUERY PLAN"]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    nodes = _nodes(plan[0]["Plan"])
    scans = [n for n in nodes if n.get("Relation Name") == "job_runs" and "Scan" in n["Node Type"]]
    reader = next(n for n in scans if n.get("Index Name") == "idx_job_runs_claimable")
    assert not [n for n in nodes if n["Node Type"] == "Sort"]
    # the held runs are skipped, then two are taken: nowhere near the whole backlog
    assert reader["Actual Rows"] + reader.get("Rows Removed by Filter", 0) <= HELD + 2

    expected = conn.execute(  # the claim order is unchanged: the oldest free runs
        "SELECT job_id FROM engine_v2.job_runs WHERE owner IS NULL"
        " ORDER BY created_at, job_id LIMIT 2"
    ).fetchall()
    claimed = conn.execute(DAEMON["claim_jobs"], params).fetchall()
    assert [r["job_id"] for r in claimed] == [r["job_id"] for r in expected]
