"""pgqueuer as a peer of the engine's throughput phase (issue 17).

pgqueuer (PyPI, pinned below) runs in a virtualenv of its own that the bench creates
once under ``bench/.state/`` (so the project's dependencies stay untouched), against its
own database ``bench_pgqueuer`` on the bench's durable cluster. The worker
(bench/pgqueuer_worker.py, in that venv) chains the design's seven-task DAG through
pgqueuer jobs. Measured like the daemon's phase 2: an unmeasured burst of 64 DAGs, then
500 DAGs submitted in one transaction with 32 in flight; tasks/s from the submit's commit
timestamp to the last completion pgqueuer recorded; CPU of the worker process plus the
whole PostgreSQL cluster (bench.common.CpuMeter).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from .common import TASK_KEYS, BenchError, CpuMeter, Deadline, postmaster_pid
from .pg import CLIENT_OPTIONS, drop_database

REQUIREMENTS = ("pgqueuer[asyncpg]==1.6.0", "asyncpg==0.32.0")
PGQUEUER_DB = "bench_pgqueuer"
IN_FLIGHT = 32  # DAGs at once, like the daemon's max_concurrent_jobs
BATCH_SIZE = 10  # pgqueuer's default dequeue batch
POOL_SIZE = 8  # connections the task bodies use to enqueue successors
INSTALL_TIMEOUT_S = 300
REPO = Path(__file__).resolve().parent.parent
TERMINAL = ("successful", "exception", "failed", "canceled", "deleted")


def venv_dir(state: Path) -> Path:
    return state / "pgqueuer-venv"


def installed(state: Path) -> bool:
    """The venv exists and holds exactly the pinned requirements."""
    stamp = venv_dir(state) / ".installed"
    return stamp.exists() and stamp.read_text().split() == list(REQUIREMENTS)


def ensure_venv(state: Path, log: Any) -> Path | None:
    """The venv's python, installing it first when needed; None (and one line) when
    pgqueuer cannot be installed (no network)."""
    venv = venv_dir(state)
    python = venv / "bin" / "python"
    if installed(state):
        return python
    log(f"installing {' '.join(REQUIREMENTS)} into {venv}")
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *REQUIREMENTS,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        tail = getattr(exc, "stderr", None) or str(exc)
        last = str(tail).strip().splitlines()[-1:] or [type(exc).__name__]
        log(f"pgqueuer peer skipped: could not install pgqueuer ({last[0][:200]})")
        return None
    (venv / ".installed").write_text("\n".join(REQUIREMENTS) + "\n")
    return python


class Worker:
    """The worker subprocess and its JSON-lines protocol (see bench/pgqueuer_worker.py)."""

    def __init__(self, python: Path, url: str, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [
                str(python),
                "-m",
                "bench.pgqueuer_worker",
                "--dsn",
                url,
                "--batch-size",
                str(BATCH_SIZE),
                "--pool-size",
                str(POOL_SIZE),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.pid = self.proc.pid
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.errors: list[dict[str, Any]] = []
        threading.Thread(target=self._read, name="pgqueuer-worker-out", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            if msg.get("event") == "error":
                self.errors.append(msg)
            else:
                self.lines.put(msg)

    def alive(self) -> None:
        if self.errors:
            raise BenchError(f"pgqueuer worker: a task failed: {self.errors[0]}")
        if self.proc.poll() is not None:
            tail = self.log_path.read_text().strip().splitlines()[-15:]
            raise BenchError(
                f"pgqueuer worker exited with {self.proc.returncode}:\n" + "\n".join(tail)
            )

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def expect(self, event: str, deadline: Deadline) -> dict[str, Any]:
        while True:
            try:
                msg = self.lines.get(timeout=min(0.5, max(0.01, deadline.remaining)))
            except queue.Empty:
                self.alive()
                deadline.check()
                continue
            if msg.get("event") == event:
                return msg

    def stop(self) -> int | None:
        try:
            self.send(cmd="stop")
            return self.proc.wait(timeout=30)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self.proc.kill()
            return self.proc.wait(timeout=10)
        finally:
            self._log.close()


def create_db(cluster: Any) -> str:
    drop_database(cluster, PGQUEUER_DB)
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{PGQUEUER_DB}"')
    return str(cluster.dsn(PGQUEUER_DB))


def logged(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute("SELECT status::text, count(*) FROM pgqueuer_log GROUP BY 1").fetchall()
    return {s: int(n) for s, n in rows}


def wait_batch(
    conn: psycopg.Connection[Any], worker: Worker, batch: str, deadline: Deadline
) -> None:
    """Until every DAG of ``batch`` finished and pgqueuer recorded every completion
    (its queue is empty: a job's row leaves the queue when its log entry is written)."""
    while True:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pgq_bench.dag WHERE batch = %s AND finished_at IS NULL),"
            " (SELECT count(*) FROM pgqueuer)",
            (batch,),
        ).fetchone()
        assert row is not None
        if row[0] == 0 and row[1] == 0:
            return
        worker.alive()
        deadline.check()
        time.sleep(0.05)  # client wall only; durations come from the DB


def bench_pgqueuer(cluster: Any, state: Path, dags: int, log: Any) -> dict[str, Any] | None:
    """The peer's throughput phase; None when pgqueuer is not installable here."""
    python = ensure_venv(state, log)
    if python is None:
        return None
    url = create_db(cluster)
    conn = psycopg.connect(url, autocommit=True, options=CLIENT_OPTIONS)
    worker = Worker(python, url, state / "pgqueuer-worker.log")
    try:
        ready = worker.expect("ready", Deadline(60, "waiting for the pgqueuer worker"))
        log(f"pgqueuer worker ready (pid {worker.pid}, {ready['versions']})")
        worker.send(cmd="submit", batch="warmup", dags=2 * IN_FLIGHT, in_flight=IN_FLIGHT)
        worker.expect("submitted", Deadline(30, "submitting the pgqueuer warm-up"))
        wait_batch(conn, worker, "warmup", Deadline(120, "waiting for the pgqueuer warm-up"))

        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pm = postmaster_pid(cluster.data_dir)
        meter = CpuMeter({"pgqueuer": worker.pid, "postgres": pm}, [int(row[0])], "postgres")
        before = logged(conn)
        a = meter.snapshot()
        t0 = time.perf_counter()
        worker.send(cmd="submit", batch="measured", dags=dags, in_flight=IN_FLIGHT)
        xid = worker.expect("submitted", Deadline(30, "submitting the pgqueuer DAGs"))["xid"]
        wait_batch(conn, worker, "measured", Deadline(240, f"waiting for {dags} pgqueuer DAGs"))
        wall = time.perf_counter() - t0
        b = meter.snapshot()
        out = result(conn, xid, dags, before, logged(conn), meter.delta(a, b), wall)
        out.update(versions=ready["versions"], batch_size=BATCH_SIZE, pool_size=POOL_SIZE)
        return out
    finally:
        rc = worker.stop()
        conn.close()
        if rc not in (0, None):
            log(f"pgqueuer worker exited with code {rc} (log: {worker.log_path})")


def result(
    conn: psycopg.Connection[Any],
    xid: int,
    dags: int,
    before: dict[str, int],
    after: dict[str, int],
    cpu: dict[str, float],
    wall_s: float,
) -> dict[str, Any]:
    """The same figures as bench.run.throughput_result, from pgqueuer's log."""
    # pgqueuer logs every transition (queued, picked, then one terminal status).
    by_status = {s: after.get(s, 0) - before.get(s, 0) for s in after if s in TERMINAL}
    by_status = {s: n for s, n in by_status.items() if n}
    tasks = sum(by_status.values())
    row = conn.execute(
        "SELECT pg_xact_commit_timestamp((%s %% 4294967296)::text::xid),"
        " (SELECT max(finished_at) FROM pgq_bench.dag WHERE batch = 'measured'),"
        " (SELECT count(*) FROM pgq_bench.dag WHERE batch = 'measured'"
        "  AND finished_at IS NOT NULL),"
        " (SELECT max(created) FROM pgqueuer_log)",
        (xid,),
    ).fetchone()
    assert row is not None
    committed, last_finished, finished, last_logged = row
    if by_status.get("successful", 0) != dags * len(TASK_KEYS) or finished != dags:
        raise BenchError(
            f"pgqueuer: {finished} of {dags} DAGs finished, tasks logged {by_status} "
            f"(expected {dags * len(TASK_KEYS)} successful)"
        )
    # The last task is done when pgqueuer has recorded it (its buffered log), which
    # comes after the sink's own write.
    last = max(last_finished, last_logged)
    dur = (last - committed).total_seconds()
    engine_only = cpu["pgqueuer"] + cpu["postgres"]
    total = engine_only + cpu["excluded"]
    return {
        "jobs": dags,
        "jobs_failed": 0,
        "tasks": tasks,
        "tasks_by_status": by_status,
        "duration_s": dur,
        "client_wall_s": wall_s,
        "log_tail_ms": (last_logged - last_finished).total_seconds() * 1000.0,
        "jobs_per_s": dags / dur,
        "tasks_per_s": tasks / dur,
        "cpu_s": {
            "pgqueuer": cpu["pgqueuer"],
            "postgres": cpu["postgres"],
            "postgres_client_backends": cpu["excluded"],
        },
        "cpu_sys_s": {"pgqueuer": cpu["pgqueuer.sys"], "postgres": cpu["postgres.sys"]},
        "cpu_s_per_1000_tasks": total / tasks * 1000.0,
        "cpu_s_per_1000_tasks_without_client_backends": engine_only / tasks * 1000.0,
        "cpu_utilisation_cores": total / dur,
    }
