"""Pickup latency of the real daemon: NOTIFY versus polling only.

    .venv/bin/python -m bench.bench_pickup [--jobs 30] [--poll-interval 0.5]

Starts a private durable PostgreSQL 15 (``track_commit_timestamp = on``) in a temporary
directory, runs ``enginev2d run`` as a subprocess twice (LISTEN/NOTIFY with a 30 s safety
poll, then ``run --no-listen`` polling every ``--poll-interval``), submits jobs one at a
time the way the Node server does (``INSERT public.jobs`` + ``engine_v2.submit_job`` in
one transaction) with random 0-200 ms gaps so submits do not phase-lock with the poll,
and measures on the database clock:

* **claim**: submit commit (``pg_xact_commit_timestamp``) -> ``job_runs.claimed_at``
* **first task**: submit commit -> the job's first ``taskStarted`` event

Every task's output is injected (``testing.allow_inject``), so no model runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from enginev2d.embedded import EmbeddedDatabase
from enginev2d.pgcluster import PgCluster

ENGINEV2D = str(Path(sys.executable).parent / "enginev2d")
OUTPUTS: dict[str, dict[str, Any]] = {
    "intent": {"intent": "edit"},
    "plan": {"dimension": "2d", "skills": ["canvas"], "image_count": 0, "codegen_strategy": "x"},
    "codegen": {"files": [{"path": "index.html", "content": "<html>x</html>"}], "summary": "s"},
    "asset": {"images": []},
    "qa_review": {"issues": 0, "findings": []},
    "fix": {"files": [{"path": "index.html", "content": "<html>y</html>"}]},
    "publish_prep": {"commit_hash": "abc"},
}


def wait_until(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_pickup: timed out waiting for {what}")
        time.sleep(0.005)


def write_config(path: Path, url: str, root: Path, poll_s: float) -> None:
    (root / "projects").mkdir(exist_ok=True)
    (root / "staging").mkdir(exist_ok=True)
    path.write_text(
        f"""
[database]
url = "{url}"
ssl = false
[engine]
enabled = true
allowlist_only = false
[daemon]
poll_interval_s = {poll_s}
[paths]
projects_root = "{root / "projects"}"
staging_root = "{root / "staging"}"
[metrics]
enabled = false
[testing]
allow_inject = true
[logging]
level = "WARNING"
"""
    )


def submit(conn: psycopg.Connection[Any]) -> tuple[str, int]:
    job_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    options = {"inject": {k: {"output": v} for k, v in OUTPUTS.items()}}
    with conn.transaction():
        conn.execute(
            "INSERT INTO public.jobs (id, user_id, project_id, status)"
            " VALUES (%s, %s, 'bench', 'pending')",
            (job_id, user_id),
        )
        conn.execute(
            "SELECT engine_v2.submit_job(%s, %s, 'bench', 'bench pickup', %s)",
            (job_id, user_id, Jsonb(options)),
        )
        xid = conn.execute("SELECT txid_current() AS x").fetchone()["x"]
    return job_id, int(xid)


def measure(conn: psycopg.Connection[Any], job_id: str, xid: int) -> dict[str, float]:
    row = conn.execute(
        """
        SELECT extract(epoch FROM r.claimed_at - c.ts) * 1000 AS claim_ms,
               extract(epoch FROM (SELECT min(e.created_at) FROM engine_v2.job_task_events e
                                    WHERE e.job_id = r.job_id AND e.event_type = 'taskStarted')
                                  - c.ts) * 1000 AS first_task_ms
          FROM engine_v2.job_runs r,
               LATERAL (SELECT pg_xact_commit_timestamp((%s %% 4294967296)::text::xid) AS ts) c
         WHERE r.job_id = %s
        """,
        (xid, job_id),
    ).fetchone()
    return {"claim_ms": float(row["claim_ms"]), "first_task_ms": float(row["first_task_ms"])}


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "n": len(values),
        "p50": round(statistics.median(values), 2),
        "p95": round(pct(95), 2),
        "max": round(max(values), 2),
        "mean": round(statistics.fmean(values), 2),
    }


def run_mode(
    url: str, root: Path, *, listen: bool, poll_s: float, jobs: int, rng: random.Random
) -> dict[str, Any]:
    name = "notify" if listen else "poll"
    cfg = root / f"{name}.toml"
    write_config(cfg, url, root, poll_s)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "ENGINEV2_CONFIG") and not k.startswith("ENGINE_V2_")
    }
    args = [ENGINEV2D, "--config", str(cfg), "run"] + ([] if listen else ["--no-listen"])
    log = (root / f"{name}.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    samples: list[dict[str, float]] = []
    try:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            if listen:
                wait_until(
                    lambda: conn.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE application_name ="
                        " 'enginev2d-listener' AND query ILIKE 'LISTEN%%'"
                    ).fetchone(),
                    30,
                    "the daemon's LISTEN",
                )
            for i in range(jobs + 2):  # two warm-up jobs
                time.sleep(rng.uniform(0, 0.2))
                job_id, xid = submit(conn)
                wait_until(
                    lambda job_id=job_id: conn.execute(
                        "SELECT status <> 'running' AS done FROM engine_v2.job_runs"
                        " WHERE job_id = %s",
                        (job_id,),
                    ).fetchone()["done"],
                    60,
                    f"job {job_id}",
                )
                if proc.poll() is not None:
                    raise SystemExit(f"bench_pickup: daemon exited ({proc.returncode})")
                if i >= 2:
                    samples.append(measure(conn, job_id, xid))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        if proc.poll() is None:
            proc.kill()
        log.close()
    return {
        "mode": name,
        "poll_interval_s": poll_s,
        "claim_ms": summary([s["claim_ms"] for s in samples]),
        "first_task_ms": summary([s["first_task_ms"] for s in samples]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    ns = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="ev2-pickup-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = PgCluster(base / "pg", durable=True, settings={"track_commit_timestamp": "on"})
    rng = random.Random(ns.seed)
    try:
        db = EmbeddedDatabase(cluster, "pickup")
        db.start()
        results = [
            run_mode(db.url, base, listen=True, poll_s=30.0, jobs=ns.jobs, rng=rng),
            run_mode(db.url, base, listen=False, poll_s=ns.poll_interval, jobs=ns.jobs, rng=rng),
        ]
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
    if ns.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"pickup latency, {ns.jobs} jobs each, database clock, ms (submit commit -> ...)")
    print(f"{'mode':<24} {'what':<12} {'p50':>8} {'p95':>8} {'max':>8} {'mean':>8}")
    for r in results:
        label = (
            "NOTIFY (poll 30 s)"
            if r["mode"] == "notify"
            else (f"polling only ({r['poll_interval_s']:g} s)")
        )
        for what in ("claim_ms", "first_task_ms"):
            s = r[what]
            print(
                f"{label:<24} {what[:-3]:<12} {s['p50']:>8} {s['p95']:>8} {s['max']:>8}"
                f" {s['mean']:>8}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
