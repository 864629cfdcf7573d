"""The intake's claim with a backlog (migrations 0008, 0009): it reads waiting runs in
claim order from an index and stops at the first claimable ones, instead of reading and
sorting every running run at every claim; and it takes over at most
``daemon.takeovers_per_claim`` of a dead daemon's jobs, reading only the held runs."""

from __future__ import annotations

import json
from contextlib import contextmanager
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
    params = {"owner": "me", "lease_s": 30.0, "limit": 2, "takeovers": 2, "exclude": []}
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
    # the search for a dead holder's runs reads the held ones only (none expired here)
    held = next(n for n in scans if n.get("Index Name") == "idx_job_runs_held")
    assert held["Actual Rows"] + held.get("Rows Removed by Filter", 0) <= HELD

    expected = conn.execute(  # the claim order is unchanged: the oldest free runs
        "SELECT job_id FROM engine_v2.job_runs WHERE owner IS NULL"
        " ORDER BY created_at, job_id LIMIT 2"
    ).fetchall()
    claimed = conn.execute(DAEMON["claim_jobs"], params).fetchall()
    assert sorted(r["job_id"] for r in claimed) == sorted(r["job_id"] for r in expected)


def _claim(conn, owner: str, *, limit: int, takeovers: int) -> dict[str, dict[str, Any]]:
    params = {"owner": owner, "lease_s": 30.0, "limit": limit, "takeovers": takeovers}
    rows = conn.execute(DAEMON["claim_jobs"], {**params, "exclude": []}).fetchall()
    return {str(r["job_id"]): r for r in rows}


def test_a_claim_takes_over_at_most_its_share_of_a_dead_daemons_jobs(conn, make_job) -> None:
    jobs = [make_job() for _ in range(9)]  # submitted in this order: the claim order
    dead = jobs[:6]
    conn.execute(  # a dead daemon held the six oldest: its leases expired
        "UPDATE engine_v2.job_runs SET owner = 'dead', claimed_at = now(),"
        " lease_expires_at = now() - interval '1 s' WHERE job_id = ANY(%s::uuid[])",
        (dead,),
    )
    first = _claim(conn, "a", limit=8, takeovers=2)
    # two of the dead daemon's (the oldest), then every job nobody holds
    assert sorted(first) == sorted(dead[:2] + jobs[6:])
    assert {first[j]["prev_owner"] for j in dead[:2]} == {"dead"}
    assert {first[j]["takeover_count"] for j in dead[:2]} == {1}
    assert {first[j]["prev_owner"] for j in jobs[6:]} == {None}
    # the next claims, here another daemon's, take the rest two at a time
    assert sorted(_claim(conn, "b", limit=8, takeovers=2)) == sorted(dead[2:4])
    assert list(_claim(conn, "c", limit=1, takeovers=2)) == [dead[4]]  # capacity first
    assert list(_claim(conn, "c", limit=8, takeovers=8)) == [dead[5]]
    assert _claim(conn, "d", limit=8, takeovers=8) == {}


def test_a_daemons_poll_takes_over_as_many_as_its_config_says(conn, config, pool, make_job):
    from tests.integration.test_group_completion import _Held, held_daemon

    dead = [make_job() for _ in range(3)]
    conn.execute(
        "UPDATE engine_v2.job_runs SET owner = 'dead', claimed_at = now(),"
        " lease_expires_at = now() - interval '1 s' WHERE job_id = ANY(%s::uuid[])",
        (dead,),
    )
    one = config.replace(daemon={"takeovers_per_claim": 1})
    with contextmanager(held_daemon)(one, pool, _Held) as (d, _):  # two slots free
        d.intake.poll_once()
        assert d.running_job_ids() == [dead[0]]
        d.intake.poll_once()
        assert sorted(d.running_job_ids()) == sorted(dead[:2])
