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

3. deterministic counts over ``--counts`` sequential jobs (the machine may be noisy,
   these are not): client round trips per job (every wait for the server on a
   psycopg connection, pool checks included), write transactions per job (xids the
   cluster assigned: each is one fsync'd commit), NOTIFYs delivered per job (a LISTEN
   connection on ``engine_v2_events`` and ``engine_v2_jobs``), and CPU (this process +
   every PostgreSQL process, from /proc) per task; the throughput run reports CPU per
   task too.

``--profile`` loads pg_stat_statements into the bench cluster and prints the statements
of the counts phase (top-level = round trips that run SQL; nested = inside functions).

No daemon, no NOTIFY pickup: that is ``make bench`` (bench/run.py). This isolates the
engine's own cost per task hand-off.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg.waiting import Wait

from bench.common import CLK_TCK, CpuMeter, all_procs, postmaster_pid, read_proc
from bench.profile import PROFILE_SETTINGS, reset_statements, top_statements
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


def job_rows(conn: psycopg.Connection[Any], ids: list[str]) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT * FROM engine_v2.job_runs WHERE job_id = ANY(%s::uuid[])", (ids,)
    ).fetchall()
    by_id = {str(r["job_id"]): r for r in rows}
    return [by_id[j] for j in ids]


def run_job(cfg: Config, pool: Any, job_id: str, row: Any = None) -> tuple[float, str]:
    if row is None:
        with pool.connection() as c:
            row = c.execute(
                "SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)
            ).fetchone()
    t0 = time.perf_counter()
    out = JobRunner(cfg, pool, row, owner=None, executor=noop_executor).run()
    return time.perf_counter() - t0, out.status


class RoundTrips:
    """Counts client round trips: each time a psycopg connection blocks waiting only to
    read (``Wait.R``) after sending is one. Pipeline flushes (``Wait.RW``) are not; a
    pipeline sync is. Connections in ``exclude`` (the bench's LISTEN) are not counted."""

    def __init__(self) -> None:
        self.n = 0
        self.exclude: set[int] = set()
        self._lock = threading.Lock()
        self._orig = psycopg.Connection.wait

    def install(self) -> None:
        orig = self._orig
        rt = self

        def counting(gen: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
            reading = False
            try:
                state = next(gen)
                while True:
                    is_read = state == Wait.R
                    if is_read and not reading:
                        with rt._lock:
                            rt.n += 1
                    reading = is_read
                    ready = yield state
                    state = gen.send(ready)
            except StopIteration as stop:
                return stop.value

        def wait(conn: Any, gen: Any, *args: Any, **kw: Any) -> Any:
            if id(conn) in rt.exclude:
                return orig(conn, gen, *args, **kw)
            return orig(conn, counting(gen), *args, **kw)

        psycopg.Connection.wait = wait  # type: ignore[method-assign]

    def uninstall(self) -> None:
        psycopg.Connection.wait = self._orig  # type: ignore[method-assign]


class Notifies:
    """A LISTEN connection counting what it receives on the engine's channels."""

    def __init__(self, dsn: str) -> None:
        self.counts: dict[str, int] = {"engine_v2_events": 0, "engine_v2_jobs": 0}
        self.conn = psycopg.connect(dsn, autocommit=True)
        for ch in self.counts:
            self.conn.execute(f"LISTEN {ch}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for n in self.conn.notifies(timeout=0.1):
                self.counts[n.channel] = self.counts.get(n.channel, 0) + 1

    def snapshot(self) -> dict[str, int]:
        time.sleep(0.3)  # let deliveries of the last commit arrive
        return dict(self.counts)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.conn.close()


def pg_cpu_by_kind(postmaster: int, database: str = "bench_engine") -> dict[str, int]:
    """CPU ticks of the cluster's processes by kind (a backend of ``database``,
    autovacuum, walwriter, ...); exited children (reaped by the postmaster) count as
    'exited'."""
    out: dict[str, int] = {}
    for pt in all_procs():
        if pt.ppid != postmaster:
            continue
        try:
            title = Path(f"/proc/{pt.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        title = title.removeprefix("postgres: ").strip()
        kind = "backend" if database in title else title.split(" ")[0]
        out[kind] = out.get(kind, 0) + pt.utime + pt.stime + pt.cutime + pt.cstime
    me = read_proc(postmaster)
    if me is not None:
        out["exited+postmaster"] = me.utime + me.stime + me.cutime + me.cstime
    return out


def xids(conn: psycopg.Connection[Any]) -> int:
    """Transaction ids assigned so far (does not assign one itself)."""
    row = conn.execute("SELECT txid_snapshot_xmax(txid_current_snapshot()) AS x").fetchone()
    assert row is not None
    return int(row["x"] if isinstance(row, dict) else row[0])


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequential", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--counts", type=int, default=20, help="jobs of the counts phase")
    ap.add_argument("--profile", action="store_true", help="pg_stat_statements report")
    ap.add_argument("--keep", action="store_true", help="keep the cluster directory")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="enginev2d-bench-engine-", dir="/tmp"))
    base.chmod(0o755)
    settings = dict(PROFILE_SETTINGS) if args.profile else {}
    cluster = PgCluster(base / "pg", durable=True, settings=settings)
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
        meter = CpuMeter(
            {"postgres": postmaster_pid(cluster.data_dir), "engine": os.getpid()},
        )
        rt = RoundTrips()
        listener = Notifies(dsn)
        rt.exclude.add(id(listener.conn))
        counts: dict[str, float] = {}
        pg_kinds: dict[str, float] = {}
        statements = ""
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
            # 3. deterministic counts (sequential jobs)
            if args.counts > 0:
                ids = submit(conn, args.counts)
                rows = job_rows(conn, ids)  # not counted: the runner gets its row
                if args.profile:
                    reset_statements(dsn)
                pm = postmaster_pid(cluster.data_dir)
                k0 = pg_cpu_by_kind(pm)
                n0, x0, c0 = listener.snapshot(), xids(conn), meter.snapshot()
                rt.install()
                try:
                    for job_id, row in zip(ids, rows, strict=True):
                        assert run_job(cfg, pool, job_id, row)[1] == "succeeded"
                finally:
                    rt.uninstall()
                c1, x1, n1 = meter.snapshot(), xids(conn), listener.snapshot()
                k1 = pg_cpu_by_kind(pm)
                pg_kinds = {
                    k: (k1[k] - k0.get(k, 0)) / CLK_TCK * 1000 / (7 * args.counts)
                    for k in k1
                    if k1[k] != k0.get(k, 0)
                }
                cpu = meter.delta(c0, c1)
                n = args.counts
                counts = {
                    "round_trips": rt.n / n,
                    "write_commits": (x1 - x0) / n,
                    "notify_events": (n1["engine_v2_events"] - n0["engine_v2_events"]) / n,
                    "notify_jobs": (n1["engine_v2_jobs"] - n0["engine_v2_jobs"]) / n,
                    "cpu_engine_ms": cpu["engine"] * 1000 / (7 * n),
                    "cpu_pg_ms": cpu["postgres"] * 1000 / (7 * n),
                }
                if args.profile:
                    statements = top_statements(dsn, 7 * n)
                    row = conn.execute(
                        "SELECT sum(calls) FILTER (WHERE NOT toplevel) AS nested"
                        " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
                        " WHERE d.datname = current_database()"
                    ).fetchone()
                    counts["nested_statements"] = float(row["nested"] or 0) / (7 * n)
            # 2. throughput
            ids = submit(conn, args.jobs)
            cpu0 = meter.snapshot()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as ex:
                results = list(ex.map(lambda j: run_job(cfg, pool, j)[1], ids))
            wall = time.perf_counter() - t0
            tp_cpu = meter.delta(cpu0, meter.snapshot())
            assert all(s == "succeeded" for s in results), set(results)
            n_tasks = conn.execute(
                "SELECT count(*) AS n FROM engine_v2.job_tasks WHERE job_id = ANY(%s)"
                " AND status IN ('succeeded','skipped')",
                (ids,),
            ).fetchone()["n"]
        pool.close()
        listener.close()

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
            f"{wall:.2f} s, {args.jobs / wall:.0f} jobs/s, {n_tasks / wall:.0f} tasks/s; CPU per "
            f"task {tp_cpu['engine'] * ms / n_tasks:.2f} ms engine + "
            f"{tp_cpu['postgres'] * ms / n_tasks:.2f} ms PostgreSQL"
        )
        if counts:
            print(
                f"counts per DAG7 job ({args.counts} sequential jobs): "
                f"{counts['round_trips']:.1f} round trips, "
                f"{counts['write_commits']:.1f} write commits (xids), "
                f"{counts['notify_events']:.1f} NOTIFY engine_v2_events, "
                f"{counts['notify_jobs']:.1f} NOTIFY engine_v2_jobs; CPU per task "
                f"{counts['cpu_engine_ms']:.2f} ms engine + {counts['cpu_pg_ms']:.2f} ms PostgreSQL"
            )
        if "nested_statements" in counts:
            print(
                "SQL statements executed inside functions per task (pg_stat_statements, "
                f"counts phase): {counts['nested_statements']:.1f}"
            )
        if pg_kinds:
            kinds = ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(pg_kinds.items(), key=lambda x: -x[1])
            )
            print(f"PostgreSQL CPU ms per task by process (counts phase): {kinds}")
        print(f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        if statements:
            print(statements)
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
