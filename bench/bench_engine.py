"""Engine-only benchmark: the DAG engine (JobRunner + scheduler SQL) with no-op task bodies.

    .venv/bin/python -m bench.bench_engine [--jobs 500] [--concurrency 32] [--sequential 50]

Starts its own durable PostgreSQL 15 (fsync and synchronous_commit on), creates a
database with the host stand-ins and every migration, and measures, in-process:

1. single-job latency: ``--sequential`` DAG7 jobs one after another, each submitted with
   ``engine_v2.submit_job`` then run by ``JobRunner.run()`` (materialize, 7 claims and
   completions, finalize with ``public.jobs`` completed); p50/p99 of the runner's wall
   time and of ``finished_at - created_at`` on the database clock;
2. throughput: ``--jobs`` jobs submitted at once, ``--concurrency`` runners at a time
   (3 worker threads each): jobs/s and tasks/s over the wall time.

No daemon, no NOTIFY pickup: that is ``make bench`` (bench/run.py). This isolates the
engine's own cost per task hand-off.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from enginev2d.config import Config, load_config
from enginev2d.db import make_pool
from enginev2d.migrations import migrate
from enginev2d.pgcluster import PgCluster
from enginev2d.tasks.base import Artifact, TaskContext, TaskOutcome, Usage
from enginev2d.worker import JobRunner

ROOT = Path(__file__).resolve().parent.parent
STANDINS = ROOT / "tests" / "sql" / "host_standins.sql"

OUTPUTS: dict[str, dict[str, Any]] = {
    "intent": {"intent": "edit"},
    "plan": {"dimension": "2d", "skills": [], "image_count": 0, "codegen_strategy": "scratch"},
    "codegen": {"files": [{"path": "index.html", "content": "<html></html>"}], "summary": "s"},
    "asset": {"images": []},
    "qa_review": {"issues": 1, "findings": []},
    "fix": {"files": [{"path": "index.html", "content": "<html>fixed</html>"}]},
    "publish_prep": {"commit_hash": "0" * 40},
}


def noop_executor(ctx: TaskContext) -> TaskOutcome:
    out = OUTPUTS[ctx.task_key]
    arts = [Artifact("code", f["path"], dict(f), {"path": f["path"]}) for f in out.get("files", ())]
    return TaskOutcome(output=out, usage=Usage(), artifacts=arts)


def submit(conn: psycopg.Connection[Any], n: int = 1) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    with conn.transaction():
        for job_id in ids:
            user = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO public.jobs (id, user_id, project_id) VALUES (%s, %s, 'p')",
                (job_id, user),
            )
            conn.execute(
                "SELECT engine_v2.submit_job(%s, %s, 'p', 'bench', %s)",
                (job_id, user, Jsonb({})),
            )
    return ids


def run_job(cfg: Config, pool: Any, job_id: str) -> tuple[float, str]:
    with pool.connection() as c:
        row = c.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)).fetchone()
    t0 = time.perf_counter()
    out = JobRunner(cfg, pool, row, owner=None, executor=noop_executor).run()
    return time.perf_counter() - t0, out.status


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequential", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--keep", action="store_true", help="keep the cluster directory")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="enginev2d-bench-engine-", dir="/tmp"))
    base.chmod(0o755)
    cluster = PgCluster(base / "pg", durable=True)
    cluster.start()
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as c:
            c.execute("CREATE DATABASE bench_engine")
        dsn = cluster.dsn("bench_engine")
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(STANDINS.read_text())
        migrate(dsn)
        staging = base / "staging"
        staging.mkdir()
        cfg = load_config(
            env={},
            overrides={
                "database": {"url": dsn, "ssl": False, "pool_max": args.concurrency * 3 + 4},
                "engine": {"enabled": True, "allowlist_only": False},
                "paths": {"projects_root": str(base / "projects"), "staging_root": str(staging)},
                "metrics": {"enabled": False},
                "logging": {"format": "text", "level": "WARNING"},
            },
        )
        pool = make_pool(cfg, min_size=min(8, args.concurrency * 3))
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
            # 1. single-job latency
            for job_id in submit(conn, 5):  # warm-up: prepared statements, plan caches
                run_job(cfg, pool, job_id)
            runner_s: list[float] = []
            for _ in range(args.sequential):
                (job_id,) = submit(conn)
                dt, status = run_job(cfg, pool, job_id)
                assert status == "succeeded", status
                runner_s.append(dt)
            db_s = [
                r["s"]
                for r in conn.execute(
                    "SELECT extract(epoch FROM finished_at - created_at)::float8 AS s"
                    " FROM engine_v2.job_runs WHERE status = 'succeeded'"
                    " ORDER BY created_at DESC LIMIT %s",
                    (args.sequential,),
                ).fetchall()
            ]
            # 2. throughput
            ids = submit(conn, args.jobs)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as ex:
                results = list(ex.map(lambda j: run_job(cfg, pool, j)[1], ids))
            wall = time.perf_counter() - t0
            assert all(s == "succeeded" for s in results), set(results)
            n_tasks = conn.execute(
                "SELECT count(*) AS n FROM engine_v2.job_tasks WHERE job_id = ANY(%s)"
                " AND status IN ('succeeded','skipped')",
                (ids,),
            ).fetchone()["n"]
        pool.close()

        ms = 1000.0
        print(
            "enginev2d engine benchmark (durable PostgreSQL 15, "
            f"{cfg.daemon.workers_per_job} workers/job)"
        )
        print(
            f"single DAG7 job, JobRunner.run(): p50 {statistics.median(runner_s) * ms:.1f} ms, "
            f"p99 {pct(runner_s, 99) * ms:.1f} ms  (n={len(runner_s)})"
        )
        print(
            "single DAG7 job, created_at -> finished_at (db): "
            f"p50 {statistics.median(db_s) * ms:.1f} ms, "
            f"p99 {pct(db_s, 99) * ms:.1f} ms"
        )
        print(
            f"throughput: {args.jobs} jobs x 7 tasks, {args.concurrency} concurrent runners: "
            f"{wall:.2f} s, {args.jobs / wall:.0f} jobs/s, {n_tasks / wall:.0f} tasks/s"
        )
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
