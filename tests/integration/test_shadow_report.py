"""``enginev2d shadow-report`` (issue 16 item 7, design 17 M3): 50 shadow runs and their
v1 jobs compared per job and in aggregate, the design 18 verdict, the same figures as
text and as JSON, and (with Chromium) each shadow game loaded in one browser session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.seed import seed_finished_runs
from enginev2d.browser import find_chromium
from tests.integration.test_cli import run, write_config

# v1 per job from the host's public.jobs stand-in, with a cost column the host would have.
V1_JOBS = (
    "SELECT id AS job_id, status = 'completed' AS succeeded,"
    " extract(epoch FROM updated_at - created_at)::float8 AS latency_s,"
    " 0.01::float8 AS cost_usd FROM public.jobs WHERE id = ANY(%(job_ids)s::uuid[])"
)
GAME = "<!doctype html><canvas id=c></canvas><script>requestAnimationFrame(()=>0)</script>"


@pytest.fixture
def cfg_file(config, tmp_path: Path) -> Path:
    extra = (
        '[metrics]\nv1_baseline_query = "SELECT 0.2::float8 AS retry_rate"\n'
        f"[shadow]\nv1_jobs_query = {json.dumps(V1_JOBS)}\nmin_jobs = 50\n"
    )
    return write_config(tmp_path / "enginev2d.toml", config.database.url, config, extra)


@pytest.fixture
def shadow_jobs(conn: psycopg.Connection[Any]) -> list[str]:
    """50 shadow runs from yesterday (v2: 20 s each) whose v1 jobs took 30 s; plus live
    runs and old shadow runs the report must leave out."""
    seed_finished_runs(conn, 50, age_days=1, mode="shadow", code=GAME)
    seed_finished_runs(conn, 5, age_days=1)  # live: not shadow
    seed_finished_runs(conn, 3, age_days=10, mode="shadow", code=GAME)  # outside 7d
    conn.execute(
        "UPDATE public.jobs SET updated_at = created_at + interval '30 seconds'"
        " WHERE id IN (SELECT job_id FROM engine_v2.job_runs WHERE mode = 'shadow')"
    )
    rows = conn.execute(
        "SELECT job_id::text AS j FROM engine_v2.job_runs WHERE mode = 'shadow'"
        " AND created_at > now() - interval '7 days'"
    ).fetchall()
    return [r["j"] for r in rows]


def report(cfg_file: Path, *args: str) -> dict[str, Any]:
    result = run(cfg_file, "shadow-report", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_fifty_paired_jobs_meet_every_target(cfg_file, shadow_jobs):
    data = report(cfg_file, "--no-browser")
    assert data["paired"] == 50 and len(data["jobs"]) == 50
    assert {j["job_id"] for j in data["jobs"]} == set(shadow_jobs)
    agg = {k: (v["v1"], v["v2"], v["pass"]) for k, v in data["aggregate"].items()}
    assert agg["success_rate"] == (1.0, 1.0, True)
    assert agg["latency_p50_seconds"] == (pytest.approx(30.0), pytest.approx(20.0), True)
    assert agg["latency_p95_seconds"][2] is True
    assert agg["cost_per_job_usd"] == (pytest.approx(0.01), pytest.approx(0.007), True)
    assert agg["retry_rate"] == (0.2, 0.0, True)  # v1 from the SLO baseline query
    assert agg["fallback_rate"] == (None, 0.0, True)
    job = data["jobs"][0]
    assert (job["v2_files"], job["v2_bytes"]) == (1, len(GAME))
    assert job["v1"]["succeeded"] is True and job["loads"] is None
    assert data["verdict"]["decision"] == "GO"

    text = run(cfg_file, "shadow-report", "--no-browser")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert "50 shadow run(s), 50 paired with a v1 job" in text.output
    assert lines[-1].startswith("verdict (design 18, M3 -> M4): GO")
    p50 = next(line for line in lines if line.startswith("latency_p50_seconds"))
    assert p50.split()[1:3] == ["30", "20"]  # the JSON's figures


def test_failures_and_too_few_jobs_decide_the_verdict(cfg_file, conn, shadow_jobs):
    conn.execute(
        "UPDATE engine_v2.job_runs SET status = 'failed', error_code = 'v2_task_failed'"
        " WHERE job_id = ANY(%s::uuid[])",
        (shadow_jobs[:5],),
    )
    data = report(cfg_file, "--no-browser")
    assert data["verdict"]["decision"] == "NO-GO"
    reasons = " ".join(data["verdict"]["reasons"])
    assert "success_rate" in reasons and "fallback_rate 0.1" in reasons

    few = report(cfg_file, "--no-browser", "--since", "1h")  # no shadow run that recent
    assert few["paired"] == 0 and few["verdict"]["decision"] == "INSUFFICIENT"
    assert "0 paired job(s), shadow.min_jobs is 50" in few["verdict"]["reasons"][0]


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")
def test_every_shadow_game_is_loaded_in_chromium(cfg_file, conn, shadow_jobs):
    broken = shadow_jobs[7]
    conn.execute(
        "UPDATE engine_v2.job_task_artifacts SET content = jsonb_set(content, '{files,0,content}',"
        " to_jsonb('<script>throw new Error(\"boom\")</script>'::text))"
        " WHERE job_id = %s AND kind = 'shadow_result'",
        (broken,),
    )
    data = report(cfg_file)
    bad_loads = [(j["job_id"], j["load_errors"]) for j in data["jobs"] if j["loads"] is False]
    assert data["browser"]["checked"] == 50 and data["browser"]["loaded"] == 49, bad_loads
    bad = next(j for j in data["jobs"] if j["job_id"] == broken)
    assert bad["loads"] is False and "boom" in bad["load_errors"][0]
    assert data["verdict"]["decision"] == "NO-GO"
    assert "1 shadow game(s) did not load cleanly" in data["verdict"]["reasons"][-1]
