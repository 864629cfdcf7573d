"""`make bench`: the v2 engine's performance on its own durable PostgreSQL.

Measures, through the real daemon (`enginev2d run`) and the real SQL contract
(`engine_v2.submit_job`, tasks completed by injected outputs):

1. single-job latency (50 sequential jobs): DB (finished_at - created_at) and client
   (submit commit -> jobCompleted announced on engine_v2_events);
2. throughput (500 jobs submitted in one transaction, max_concurrent_jobs = 32): jobs/s,
   tasks/s, CPU of daemon + PostgreSQL per 1,000 tasks; 2c. the engine's SQL alone, no
   daemon (bench/row_floor.py), the most tasks/s that SQL allows on the cluster; 2d. the
   same with each task's real body, staging and completion run inline by the writer: a
   daemon with no thread per job, so 2d against 2. is what the execution model costs;
3. pickup latency (submit commit -> job_runs.claimed_at) with NOTIFY and polling only;
4. one job with the design's model latencies scaled to ms, against its critical path;
5. the same on a faithful port of the design's naive loop (bench/naive.py);
6. pgqueuer as a peer of 2., the same DAG chained through its jobs (bench/pgqueuer_peer.py).

Prints a table and writes it into bench/README.md. `--quick` for a smaller run.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from . import floor as floor_mod
from . import naive as naive_mod
from . import pgqueuer_peer, row_floor
from . import profile as prof_mod
from .common import (
    SCALED_LATENCY_MS,
    BenchError,
    CpuMeter,
    Deadline,
    critical_path_ms,
    inject_options,
    loadavg,
    machine_info,
    postmaster_pid,
    summarize,
)
from .daemonproc import Daemon, daemon_config_keys, run_help
from .pg import (
    CLIENT_OPTIONS,
    Client,
    create_daemon_db,
    create_naive_db,
    drop_database,
    server_version,
    start_cluster,
)

BENCH_DIR = Path(__file__).resolve().parent
README = BENCH_DIR / "README.md"
RESULTS_DIR = BENCH_DIR / "results"
MARK_START = "<!-- results:start -->"
MARK_END = "<!-- results:end -->"

MAX_CONCURRENT_JOBS = 32
POLL_ONLY_INTERVAL_S = 0.2


@dataclass(frozen=True)
class Sizes:
    single: int
    throughput: int
    scaled: int
    pickup_poll: int
    naive_single: int
    naive_throughput: int
    warmup: int


FULL = Sizes(50, 500, 5, 20, 50, 500, 5)
QUICK = Sizes(10, 100, 2, 6, 5, 100, 2)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ms(delta: Any) -> float:
    return delta.total_seconds() * 1000.0


# =========================================================================== daemon


def run_sequential(
    client: Client,
    daemon: Daemon,
    options: dict[str, Any],
    n: int,
    what: str,
    gap_s: float = 0.0,
) -> tuple[list[str], dict[str, float], list[int]]:
    """Submit n jobs one after another, each after the previous one completed.
    Returns (job ids, client-observed ms by job id, commit->claimed pickup ms)."""
    ids: list[str] = []
    client_ms: dict[str, float] = {}
    xids: dict[str, int] = {}
    for _ in range(n):
        sub = client.submit(options)
        got, etype = client.wait_completed(
            sub.job_id, Deadline(60, f"waiting for {what}"), daemon.alive
        )
        if etype != "jobCompleted":
            raise BenchError(f"{what}: job ended with {etype}\n{client.job_debug(sub.job_id)}")
        ids.append(sub.job_id)
        xids[sub.job_id] = sub.xid
        client_ms[sub.job_id] = (got - sub.committed) * 1000.0
        if gap_s:
            time.sleep(random.uniform(0, gap_s))
    return ids, client_ms, [xids[j] for j in ids]


def db_latencies(client: Client, ids: list[str], xids: list[int]) -> dict[str, list[float]]:
    runs = {r["job_id"]: r for r in client.runs(ids)}
    first_started = dict(
        client.conn.execute(
            "SELECT job_id::text, min(created_at) FROM engine_v2.job_task_events"
            " WHERE job_id = ANY(%s::uuid[]) AND event_type = 'taskStarted' GROUP BY job_id",
            (ids,),
        ).fetchall()
    )
    out: dict[str, list[float]] = {
        "db": [], "pickup": [], "engine": [], "commit_to_done": [], "start": [], "dag": []
    }  # fmt: skip
    for jid, xid in zip(ids, xids, strict=True):
        r = runs[jid]
        if r["status"] != "succeeded":
            raise BenchError(f"job {jid} is {r['status']} ({r['error_code']})")
        committed = client.commit_ts(xid)
        out["db"].append(ms(r["finished_at"] - r["created_at"]))
        out["commit_to_done"].append(ms(r["finished_at"] - committed))
        if r["claimed_at"] is not None:
            out["pickup"].append(ms(r["claimed_at"] - committed))
            out["engine"].append(ms(r["finished_at"] - r["claimed_at"]))
            if first_started.get(jid) is not None:
                # claimed -> first taskStarted: materialize, staging, first claim;
                # first taskStarted -> finished: the DAG itself.
                out["start"].append(ms(first_started[jid] - r["claimed_at"]))
                out["dag"].append(ms(r["finished_at"] - first_started[jid]))
    return out


def bench_daemon(cluster: Any, state: Path, sizes: Sizes, profile: bool) -> dict[str, Any]:
    res: dict[str, Any] = {}
    help_text = run_help()
    if help_text is None:
        raise BenchError("`enginev2d run` does not exist yet (the daemon issue has not landed)")
    url = create_daemon_db(cluster)
    opts = inject_options()
    keys = daemon_config_keys()
    common = {"max_concurrent_jobs": MAX_CONCURRENT_JOBS, "job_timeout_s": 120.0}
    res["daemon_config"] = common

    # On a database of its own, as fresh as the other one: same starting point for both
    log(f"2b. one commit per hand-off: {sizes.single} sequential jobs, then throughput")
    res["unbatched"] = bench_config(
        cluster, state, create_daemon_db(cluster, "bench_daemon_unbatched"),
        "daemon-unbatched", dict(common, group_completion=False), sizes,
    )  # fmt: skip

    # ------------------------------------------------------------ with NOTIFY
    daemon = Daemon(state, "daemon-notify", url, dict(common))
    client = Client(url)
    try:
        daemon.start()
        log(f"daemon started (pid {daemon.pid}), config {daemon.config_path}")
        if not daemon.wait_listening(client.conn, Deadline(30, "waiting for the listener")):
            log("warning: no backend LISTENs on engine_v2_jobs after 30 s")
        run_sequential(client, daemon, opts, sizes.warmup, "warm-up job")

        log(f"1. single-job latency: {sizes.single} sequential jobs")
        spy = None
        if profile:
            prof_mod.reset_statements(client.url)
            spy = prof_mod.PySpy(daemon.pid, state / "profile-single", log)
        ids, cms, xids = run_sequential(client, daemon, opts, sizes.single, "single job")
        if profile:
            report = [prof_mod.top_statements(url, sizes.single * 7)]
            raw = spy.stop() if spy else None
            if raw is not None:
                report.append(prof_mod.summarize_collapsed(raw.read_text()))
            path = state / "profile-single-report.txt"
            path.write_text("\n\n".join(report) + "\n")
            log(f"profile report in {path}")
        lat = db_latencies(client, ids, xids)
        res["single"] = {
            "db_ms": summarize(lat["db"]),
            "client_ms": summarize(list(cms.values())),
            "engine_ms": summarize(lat["engine"]),
            "start_ms": summarize(lat["start"]),
            "dag_ms": summarize(lat["dag"]),
        }
        res["pickup_notify_ms"] = summarize(lat["pickup"])

        log(f"4. scaled latencies: {sizes.scaled} sequential jobs")
        scaled_opts = inject_options(SCALED_LATENCY_MS)
        ids, cms, xids = run_sequential(client, daemon, scaled_opts, sizes.scaled, "scaled job")
        lat = db_latencies(client, ids, xids)
        cp = critical_path_ms(SCALED_LATENCY_MS)
        wall = summarize(lat["commit_to_done"])
        res["scaled"] = {
            "critical_path_ms": cp,
            "wall_ms": wall,
            "engine_ms": summarize(lat["engine"]),
            "start_ms": summarize(lat["start"]),
            "dag_ms": summarize(lat["dag"]),
            "client_ms": summarize(list(cms.values())),
            "overhead_ms": wall["p50"] - cp,
            "overhead_pct": (wall["p50"] - cp) / cp * 100.0,
        }

        log(f"2. throughput: {sizes.throughput} jobs in one transaction")
        res["throughput"] = throughput_daemon(cluster, client, daemon, opts, sizes, profile, state)
    finally:
        rc = daemon.stop()
        client.close()
    log(f"daemon stopped (exit code {rc})")
    if rc not in (0, None, -signal.SIGTERM):
        res["daemon_exit_code"] = rc

    # ------------------------------------------------------------ polling only
    poll_cfg = dict(common, poll_interval_s=POLL_ONLY_INTERVAL_S)
    poll_args: tuple[str, ...] = ()
    if "--no-listen" in help_text:
        poll_args = ("--no-listen",)
    elif "listen" in keys:
        poll_cfg["listen"] = False
    else:
        res["pickup_poll_ms"] = {"n": 0, "note": "needs `run --no-listen` or daemon.listen"}
        return res
    log(
        f"3. pickup, polling only (poll_interval_s={POLL_ONLY_INTERVAL_S}): "
        f"{sizes.pickup_poll} jobs"
    )
    daemon = Daemon(state, "daemon-poll", url, poll_cfg, args=poll_args)
    client = Client(url)
    try:
        daemon.start()
        time.sleep(1.0)
        daemon.alive()
        ids, _cms, xids = run_sequential(
            client, daemon, opts, sizes.pickup_poll, "polling-only job", gap_s=POLL_ONLY_INTERVAL_S
        )
        lat = db_latencies(client, ids, xids)
        res["pickup_poll_ms"] = summarize(lat["pickup"])
        res["pickup_poll_ms"]["poll_interval_s"] = POLL_ONLY_INTERVAL_S
    finally:
        daemon.stop()
        client.close()
    return res


def bench_config(
    cluster: Any,
    state: Path,
    url: str,
    name: str,
    daemon_cfg: dict[str, Any],
    sizes: Sizes,
    *,
    profile: bool = False,
    make_daemon: Callable[..., Daemon] = Daemon,
) -> dict[str, Any]:
    """One daemon configuration on its own: warm-up jobs, ``sizes.single`` sequential
    jobs (single-job latency), then throughput (:func:`throughput_daemon`)."""
    daemon = make_daemon(state, name, url, daemon_cfg)
    client = Client(url)
    opts = inject_options()
    try:
        daemon.start()
        if not daemon.wait_listening(client.conn, Deadline(30, "waiting for the listener")):
            log("warning: no backend LISTENs on engine_v2_jobs after 30 s")
        run_sequential(client, daemon, opts, sizes.warmup, "warm-up job")
        ids, _cms, xids = run_sequential(client, daemon, opts, sizes.single, "single job")
        single = summarize(db_latencies(client, ids, xids)["db"])
        out = throughput_daemon(cluster, client, daemon, opts, sizes, profile, state)
    finally:
        rc = daemon.stop()
        client.close()
    log(f"daemon {name} stopped (exit code {rc})")
    return {"single_db_ms": single, "throughput": out}


def batch_sizes(client: Client, ids: list[str]) -> dict[str, float]:
    """Hand-offs per commit (issue 17): the attempts of these jobs grouped by the
    transaction that closed them (``xmin``: every item of a batch is written in one
    subtransaction of it, so one batch is one group)."""
    rows = client.conn.execute(
        "SELECT count(*) FROM engine_v2.job_task_attempts a"
        " JOIN engine_v2.job_tasks t ON t.id = a.task_id"
        " WHERE t.job_id = ANY(%s::uuid[]) AND a.ended_at IS NOT NULL"
        " GROUP BY a.xmin::text",
        (ids,),
    ).fetchall()
    return summarize([float(r[0]) for r in rows])


def wait_all(client: Client, daemon: Daemon, ids: list[str], deadline: Deadline) -> None:
    """Until no job of ``ids`` is running (the daemon alive, the deadline not passed)."""
    while True:
        row = client.conn.execute(
            "SELECT count(*) FILTER (WHERE status <> 'running') FROM engine_v2.job_runs"
            " WHERE job_id = ANY(%s::uuid[])",
            (ids,),
        ).fetchone()
        if (int(row[0]) if row else 0) >= len(ids):
            return
        daemon.alive()
        deadline.check()
        time.sleep(0.2)  # client wall only; durations come from the DB


def throughput_daemon(
    cluster: Any,
    client: Client,
    daemon: Daemon,
    opts: dict[str, Any],
    sizes: Sizes,
    profile: bool,
    state: Path,
) -> dict[str, Any]:
    # Steady state, not cold start: a burst of 2 x max_concurrent_jobs jobs first grows
    # the daemon's pool to its working size (new backends, PL/pgSQL compiled and plans
    # cached per backend). Not measured.
    warm, _, _ = client.submit_batch(opts, 2 * MAX_CONCURRENT_JOBS)
    wait_all(client, daemon, warm, Deadline(120, "waiting for the warm-up burst"))
    # Autovacuum must not bill the measured run for what earlier phases wrote (the
    # whole cluster's CPU is counted): vacuum and analyze first, outside the meter.
    client.conn.execute("VACUUM ANALYZE")
    pm = postmaster_pid(cluster.data_dir)
    meter = CpuMeter({"daemon": daemon.pid, "postgres": pm}, client.backend_pids(), "postgres")
    prof = None
    if profile:
        prof_mod.reset_statements(client.url)
        prof = prof_mod.PySpy(daemon.pid, state / "profile-throughput", log)
    a = meter.snapshot()
    t0 = time.perf_counter()
    ids, xid, _ = client.submit_batch(opts, sizes.throughput)
    wait_all(client, daemon, ids, Deadline(240, f"waiting for {sizes.throughput} jobs"))
    wall = time.perf_counter() - t0
    b = meter.snapshot()
    cpu = meter.delta(a, b)
    out = throughput_result(client.conn, ids, xid, cpu, wall, engine_name="daemon")
    out["batch_items"] = batch_sizes(client, ids)
    if profile:
        report = [prof_mod.top_statements(client.url, out["tasks"])]
        raw = prof.stop() if prof else None
        if raw is not None:
            report.append(prof_mod.summarize_collapsed(raw.read_text()))
        path = state / "profile-throughput-report.txt"
        path.write_text("\n\n".join(report) + "\n")
        log(f"profile report in {path}")
    return out


def throughput_result(
    conn: psycopg.Connection[Any],
    ids: list[str],
    xid: int,
    cpu: dict[str, float],
    wall_s: float,
    engine_name: str,
    allow_failed: bool = False,
) -> dict[str, Any]:
    row = conn.execute(
        "SELECT pg_xact_commit_timestamp((%s %% 4294967296)::text::xid),"
        " max(finished_at), min(created_at),"
        " count(*) FILTER (WHERE status = 'succeeded'), count(*)"
        " FROM engine_v2.job_runs WHERE job_id = ANY(%s::uuid[])",
        (xid, ids),
    ).fetchone()
    assert row is not None
    committed, last, _first, ok, total = row
    tasks = conn.execute(
        "SELECT status, count(*) FROM engine_v2.job_tasks WHERE job_id = ANY(%s::uuid[])"
        " GROUP BY status",
        (ids,),
    ).fetchall()
    by_status = {s: int(n) for s, n in tasks}
    executed = by_status.get("succeeded", 0) + by_status.get("failed", 0)
    terminal = executed + by_status.get("skipped", 0) + by_status.get("canceled", 0)
    if ok != total and not allow_failed:
        raise BenchError(f"throughput: {total - ok} of {total} jobs did not succeed ({by_status})")
    dur = (last - committed).total_seconds()
    # As issue 9 asks: the engine process tree plus ALL processes of the bench cluster
    # (this includes the bench client's two backends, which submit and wait; the figure
    # without them is kept too).
    cpu_engine_only = cpu[engine_name] + cpu["postgres"]
    cpu_total = cpu_engine_only + cpu["excluded"]
    return {
        "jobs": int(total),
        "jobs_failed": int(total - ok),
        "tasks": terminal,
        "tasks_by_status": by_status,
        "duration_s": dur,
        "client_wall_s": wall_s,
        "jobs_per_s": total / dur,
        "tasks_per_s": terminal / dur,
        "cpu_s": {
            engine_name: cpu[engine_name],
            "postgres": cpu["postgres"],
            "postgres_client_backends": cpu["excluded"],
        },
        "cpu_sys_s": {engine_name: cpu[f"{engine_name}.sys"], "postgres": cpu["postgres.sys"]},
        "cpu_s_per_1000_tasks": cpu_total / terminal * 1000.0,
        "cpu_s_per_1000_tasks_without_client_backends": cpu_engine_only / terminal * 1000.0,
        "cpu_utilisation_cores": cpu_total / dur,
    }


# =========================================================================== naive


def bench_naive(cluster: Any, state: Path, sizes: Sizes, profile: bool) -> dict[str, Any]:
    url = create_naive_db(cluster)
    errors: list[str] = []
    engine = naive_mod.NaiveEngine(
        url, on_error=lambda j, e: errors.append(f"{j}: {type(e).__name__}: {e}")
    )
    conn = psycopg.connect(url, autocommit=True, options=CLIENT_OPTIONS)
    res: dict[str, Any] = {"pool_size": 5, "workers_per_job": 3, "wait_ms": 300}
    try:

        def one() -> tuple[str, int, float]:
            jid = str(uuid.uuid4())
            xid = naive_mod.submit(conn, [(jid, str(uuid.uuid4()))])
            t0 = time.perf_counter()
            engine.run_job(jid)  # a false deadlock is counted in `errors`
            return jid, xid, (time.perf_counter() - t0) * 1000.0

        for _ in range(sizes.warmup):
            one()
        log(f"5a. naive single-job latency: {sizes.naive_single} sequential jobs")
        ids, client_ms = [], []
        for _ in range(sizes.naive_single):
            jid, _xid, cms = one()
            ids.append(jid)
            client_ms.append(cms)
        rows = conn.execute(
            "SELECT finished_at - created_at FROM engine_v2.job_runs"
            " WHERE job_id = ANY(%s::uuid[])",
            (ids,),
        ).fetchall()
        res["single"] = {
            "db_ms": summarize([ms(r[0]) for r in rows]),
            "client_ms": summarize(client_ms),
            "false_deadlocks": len(errors),
        }

        log(f"5b. naive throughput: {sizes.naive_throughput} jobs, {MAX_CONCURRENT_JOBS} at once")
        if profile:
            prof_mod.reset_statements(url)
        res["throughput"] = throughput_naive(cluster, conn, engine, sizes, errors)
        if profile:
            path = state / "profile-naive-report.txt"
            path.write_text(prof_mod.top_statements(url, res["throughput"]["tasks"]) + "\n")
            log(f"profile report in {path}")
    finally:
        engine.close()
        conn.close()
    return res


def throughput_naive(
    cluster: Any,
    conn: psycopg.Connection[Any],
    engine: naive_mod.NaiveEngine,
    sizes: Sizes,
    errors: list[str],
) -> dict[str, Any]:
    pm = postmaster_pid(cluster.data_dir)
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    meter = CpuMeter({"naive": os.getpid(), "postgres": pm}, [int(row[0])], "postgres")
    pairs = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(sizes.naive_throughput)]
    ids = [j for j, _ in pairs]
    todo: queue.Queue[str] = queue.Queue()
    finished = threading.Semaphore(0)

    def runner() -> None:
        while True:
            try:
                jid = todo.get_nowait()
            except queue.Empty:
                return
            try:
                engine.run_job(jid)
            finally:
                finished.release()

    errors_before = len(errors)
    a = meter.snapshot()
    t0 = time.perf_counter()
    xid = naive_mod.submit(conn, pairs)
    for j in ids:
        todo.put(j)
    for i in range(MAX_CONCURRENT_JOBS):
        threading.Thread(target=runner, name=f"naive-runner-{i}", daemon=True).start()
    deadline = Deadline(240, f"waiting for {len(ids)} naive jobs")
    for _ in ids:
        if not finished.acquire(timeout=max(0.01, deadline.remaining)):
            deadline.check()
    wall = time.perf_counter() - t0
    b = meter.snapshot()
    # The design's loop raises DagDeadlockError when a sibling claimed the last ready
    # task between its promote and its retry claim (a false v2_dag_deadlock): those jobs
    # still ran every task (the siblings finish them) but are marked failed. Counted.
    out = throughput_result(
        conn, ids, xid, meter.delta(a, b), wall, engine_name="naive", allow_failed=True
    )
    out["false_deadlocks"] = len(errors) - errors_before
    out["first_error"] = errors[errors_before] if len(errors) > errors_before else None
    return out


# =========================================================================== report


def fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v != v:  # nan
            return "n/a"
        return f"{v:.{digits}f}"
    return str(v)


def get(d: dict[str, Any], *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def verdict(value: Any, limit: float, higher_is_better: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "not measured"
    ok = value >= limit if higher_is_better else value <= limit
    return "met" if ok else "NOT met"


def render(results: dict[str, Any]) -> str:
    d = results.get("daemon") or {}
    n = results.get("naive") or {}
    q = results.get("pgqueuer") or {}
    cp = critical_path_ms(SCALED_LATENCY_MS)

    def ratio(a: Any, b: Any) -> str:
        if a is None or b is None or not b:
            return ""
        return f"{a / b:.1f}x"

    rows: list[tuple[str, ...]] = []

    def row(
        metric: str,
        target: str,
        dv: Any,
        nv: Any,
        ver: str,
        rat: str = "",
        digits: int = 1,
        qv: Any = "",  # pgqueuer: measured for throughput only ("" = not applicable)
    ) -> None:
        qs = "" if qv == "" else fmt(qv, digits)
        rows.append((metric, target, fmt(dv, digits), fmt(nv, digits), rat, ver, qs))

    s_p50 = get(d, "single", "db_ms", "p50")
    s_p99 = get(d, "single", "db_ms", "p99")
    ns_p50 = get(n, "single", "db_ms", "p50")
    ns_p99 = get(n, "single", "db_ms", "p99")
    row(
        "1. single job p50, DB finished_at - created_at (ms)",
        "<= 10",
        s_p50,
        ns_p50,
        verdict(s_p50, 10),
        ratio(ns_p50, s_p50),
    )
    row(
        "1. single job p99, DB (ms)",
        "<= 30",
        s_p99,
        ns_p99,
        verdict(s_p99, 30),
        ratio(ns_p99, s_p99),
    )
    c50 = get(d, "single", "client_ms", "p50")
    c99 = get(d, "single", "client_ms", "p99")
    nc50 = get(n, "single", "client_ms", "p50")
    nc99 = get(n, "single", "client_ms", "p99")
    row(
        "1. single job p50, client: commit -> jobCompleted NOTIFY (ms)",
        "<= 10",
        c50,
        nc50,
        verdict(c50, 10),
        ratio(nc50, c50),
    )
    row("1. single job p99, client (ms)", "<= 30", c99, nc99, verdict(c99, 30), ratio(nc99, c99))
    tj = get(d, "throughput", "jobs_per_s")
    ntj = get(n, "throughput", "jobs_per_s")
    row(
        "2. throughput, jobs/s (500 jobs, 32 concurrent)",
        "",
        tj,
        ntj,
        "",
        ratio(tj, ntj),
        qv=get(q, "jobs_per_s"),
    )
    tt = get(d, "throughput", "tasks_per_s")
    ntt = get(n, "throughput", "tasks_per_s")
    row(
        "2. throughput, tasks/s",
        ">= 1500",
        tt,
        ntt,
        verdict(tt, 1500, True),
        ratio(tt, ntt),
        digits=0,
        qv=get(q, "tasks_per_s"),
    )
    cpu = get(d, "throughput", "cpu_s_per_1000_tasks")
    ncpu = get(n, "throughput", "cpu_s_per_1000_tasks")
    row(
        "2. CPU s per 1,000 tasks (engine + whole PostgreSQL cluster)",
        "<= 1.0",
        cpu,
        ncpu,
        verdict(cpu, 1.0),
        ratio(ncpu, cpu),
        digits=2,
        qv=get(q, "cpu_s_per_1000_tasks"),
    )
    ut = get(d, "unbatched", "throughput", "tasks_per_s")
    row(
        "2. tasks/s, one commit per hand-off (group_completion = false)",
        "",
        ut,
        None,
        "",
        f"batched {ratio(tt, ut)}" if ut else "",
        digits=0,
    )
    ucpu = get(d, "unbatched", "throughput", "cpu_s_per_1000_tasks")
    row(
        "2. CPU s per 1,000 tasks, one commit per hand-off",
        "",
        ucpu,
        None,
        "",
        f"batched {ratio(cpu, ucpu)}" if ucpu else "",
        digits=2,
    )
    es = results.get("engine_sql") or {}
    row(
        "2c. tasks/s, the engine's SQL alone (no daemon, 2 writers: bench/row_floor.py)",
        "",
        get(es, "tasks_per_s"),
        None,
        "",
        f"daemon at {ratio(tt, get(es, 'tasks_per_s'))}" if es else "",
        digits=0,
    )
    row(
        "2c. PostgreSQL CPU ms per task, the engine's SQL alone",
        "",
        get(es, "cluster_cpu_ms_per_task"),
        None,
        "",
        digits=2,
    )
    eb = results.get("engine_bodies") or {}
    row(
        "2d. tasks/s, 2c with the real task bodies inline (no thread per job)",
        "",
        get(eb, "tasks_per_s"),
        None,
        "",
        f"daemon at {ratio(tt, get(eb, 'tasks_per_s'))}" if eb else "",
        digits=0,
    )
    cpu_2d = [get(eb, "cluster_cpu_ms_per_task"), get(eb, "client_cpu_ms_per_task")]
    row(
        "2d. CPU ms per task: PostgreSQL + the writers' Python",
        "",
        sum(cpu_2d) if eb and None not in cpu_2d else None,
        None,
        "",
        "{} + {}".format(*cpu_2d) if eb else "",
        digits=2,
        qv=get(q, "cpu_s_per_1000_tasks"),  # its whole run's, per task
    )
    b50 = get(d, "throughput", "batch_items", "p50")
    b99 = get(d, "throughput", "batch_items", "p99")
    rows.append(
        (
            "2. hand-offs per commit with group completion, p50 / p99",
            "",
            f"{fmt(b50, 0)} / {fmt(b99, 0)}" if b50 is not None else "n/a",
            "", "", "", "",
        )
    )  # fmt: skip
    us50 = get(d, "unbatched", "single_db_ms", "p50")
    row(
        "1. single job p50, DB, one commit per hand-off (ms)",
        "",
        us50,
        None,
        "",
        f"batched {ratio(s_p50, us50)}" if us50 else "",
    )
    p50 = get(d, "pickup_notify_ms", "p50")
    p99 = get(d, "pickup_notify_ms", "p99")
    row("3. pickup p50 with NOTIFY, commit -> claimed_at (ms)", "", p50, None, "", digits=2)
    row("3. pickup p99 with NOTIFY (ms)", "<= 5", p99, None, verdict(p99, 5), digits=2)
    pp50 = get(d, "pickup_poll_ms", "p50")
    pp99 = get(d, "pickup_poll_ms", "p99")
    note = get(d, "pickup_poll_ms", "note")
    row(
        f"3. pickup p50, polling only (poll {POLL_ONLY_INTERVAL_S} s) (ms)",
        "",
        pp50,
        None,
        note or "",
    )
    row(
        "3. pickup p99, polling only (ms)",
        f"<= {POLL_ONLY_INTERVAL_S * 1000:.0f}",
        pp99,
        None,
        note or verdict(pp99, POLL_ONLY_INTERVAL_S * 1000),
    )
    wall = get(d, "scaled", "wall_ms", "p50")
    row(
        f"4. scaled job wall p50, commit -> finished (critical path {cp} ms)",
        f"<= {cp * 1.02:.1f}",
        wall,
        None,
        verdict(wall, cp * 1.02),
    )
    over = get(d, "scaled", "overhead_ms")
    pct = get(d, "scaled", "overhead_pct")
    rows.append(
        (
            "4. scaled job overhead over critical path",
            "<= 2 %",
            f"{fmt(over)} ms ({fmt(pct)} %)" if over is not None else "n/a",
            "",
            "",
            verdict(pct, 2.0),
            "",
        )
    )

    head = ("metric", "target", "enginev2d", "naive design loop", "ratio", "verdict", "pgqueuer")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_details(results: dict[str, Any]) -> str:
    out = []
    m = results["machine"]
    out.append(
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram']} RAM, PostgreSQL {m['postgresql']} "
        f"(durable: fsync on, synchronous_commit on), Python {m['python']}, "
        f"kernel {m['kernel']}; run {m['date']}; load average before the run "
        f"{results['loadavg_before']}, after {results.get('loadavg_after', '?')}."
    )
    mode = "quick" if results["quick"] else "full"
    out.append(
        f"Mode: {mode}; sizes {results['sizes']}; code {results.get('code', '?')}; "
        f"took {results.get('elapsed_s', 0):.0f} s."
    )
    fl = results.get("floor") or {}
    if fl:

        def pg(key: str, what: str) -> str:
            r = fl.get(key) or {}
            return f"{fmt(r.get(what), 3 if what == 'latency_ms' else 0)}"

        out.append(
            "PostgreSQL floor here (pgbench, one-statement transactions): a durable commit "
            f"{pg('commit_1_client', 'latency_ms')} ms with 1 client, "
            f"{pg('commit_32_clients', 'tps')} commits/s with 32 clients; a commit that also "
            f"NOTIFYs {pg('notify_1_client', 'latency_ms')} ms with 1 client, "
            f"{pg('notify_32_clients', 'tps')} commits/s with 32 clients (notifying commits "
            "serialise on the notify queue lock)."
        )
    d = results.get("daemon") or {}
    if d.get("daemon_exit_code") is not None:
        out.append(f"Warning: the daemon exited with code {d['daemon_exit_code']} on SIGTERM.")
    if results.get("daemon_error"):
        out.append(f"Daemon benchmark error: {results['daemon_error']}")
    if results.get("naive_error"):
        out.append(f"Naive benchmark error: {results['naive_error']}")
    if results.get("pgqueuer_error"):
        out.append(f"pgqueuer benchmark error: {results['pgqueuer_error']}")
    for key in ("engine_sql_error", "engine_bodies_error"):
        if results.get(key):
            out.append(f"Engine SQL benchmark error ({key}): {results[key]}")
    q = results.get("pgqueuer")
    peers = (("enginev2d", d), ("naive", results.get("naive") or {}))
    for label, res in (*peers, ("pgqueuer", {"throughput": q} if q else {})):
        tp = res.get("throughput")
        if tp:
            out.append(
                f"{label} throughput: {tp['jobs']} jobs, {tp['tasks']} tasks "
                f"{tp['tasks_by_status']} in {tp['duration_s']:.2f} s (commit -> last finished); "
                f"CPU s {json.dumps({k: round(v, 2) for k, v in tp['cpu_s'].items()})} = "
                + ", ".join(
                    f"{k} {v / tp['tasks'] * 1000:.2f} ms/task"
                    for k, v in tp["cpu_s"].items()
                    if k != "postgres_client_backends"
                )
                + " (of which kernel time: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in tp.get("cpu_sys_s", {}).items())
                + f"); {tp['cpu_utilisation_cores']:.2f} cores busy; without the bench client's "
                + "backends "
                + f"{tp['cpu_s_per_1000_tasks_without_client_backends']:.2f} CPU s per 1,000 tasks"
                + f"; jobs failed: {tp['jobs_failed']}"
                + (
                    f" (false v2_dag_deadlock of the design's loop: {tp['false_deadlocks']})"
                    if "false_deadlocks" in tp
                    else ""
                )
                + "."
            )
    if q:
        v = q["versions"]
        out.append(
            f"pgqueuer peer: pgqueuer {v['pgqueuer']} (asyncpg {v['asyncpg']}, durable tables), "
            f"dequeue batch {q['batch_size']}, {q['pool_size']} connections for the task bodies' "
            f"enqueues; its buffered completion log lagged the last DAG's finish by "
            f"{q['log_tail_ms']:.0f} ms (counted in its duration)."
        )
    for key, label in (("single", "single job"), ("scaled", "scaled job")):
        if d.get(key):
            pickup = get(d, "pickup_notify_ms", "p50") if key == "single" else None
            out.append(
                f"enginev2d {label}, p50 of each part (DB clock): pickup (submit commit -> "
                f"claimed_at) {fmt(pickup, 2)}"
                f" ms; start (claimed_at -> first taskStarted: materialize, staging, first "
                f"claim) {fmt(get(d, key, 'start_ms', 'p50'), 2)} ms; DAG (first taskStarted "
                f"-> finished_at) {fmt(get(d, key, 'dag_ms', 'p50'), 2)} ms; engine total "
                f"(claimed_at -> finished_at) {fmt(get(d, key, 'engine_ms', 'p50'), 2)} ms."
            )
    return "\n\n".join(out)


def write_readme(table: str, details: str) -> None:
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{MARK_START}\n{MARK_END}\n"
    block = f"{MARK_START}\n{table}\n\n{details}\n{MARK_END}"
    if MARK_START in text and MARK_END in text:
        pre = text.split(MARK_START)[0]
        post = text.split(MARK_END, 1)[1]
        text = pre + block + post
    else:
        text += "\n" + block + "\n"
    README.write_text(text)


# =========================================================================== main


def code_version(repo: Path = BENCH_DIR.parent) -> str:
    """HEAD of ``repo`` and whether the engine's files differ from it (the tree is shared)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "enginev2d", "sql"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    n = len(dirty.splitlines())
    return f"{head}" + (f" + {n} uncommitted engine files" if n else "")


def wait_quiet(limit_s: float, threshold: float = 1.0) -> None:
    deadline = Deadline(limit_s, "waiting for a quiet machine")
    while deadline.remaining > 0:
        one = float(loadavg().split()[0])
        if one < threshold:
            log(f"load average {one:.2f}: starting")
            return
        log(f"load average {one:.2f} >= {threshold}: waiting ({deadline.remaining:.0f} s left)")
        time.sleep(min(15.0, max(0.1, deadline.remaining)))
    log("machine still busy: running anyway (the load is recorded with the results)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller, faster run")
    ap.add_argument("--state-dir", type=Path, default=BENCH_DIR / ".state")
    ap.add_argument("--skip-daemon", action="store_true", help="only the naive loop")
    ap.add_argument("--skip-naive", action="store_true", help="only the daemon")
    ap.add_argument("--skip-floor", action="store_true", help="no pgbench floor figures")
    ap.add_argument(
        "--skip-pgqueuer",
        action="store_true",
        help="no pgqueuer peer (installed once into the state dir's own venv; --quick runs "
        "it only when that venv is already there)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="profile the throughput run: py-spy on the daemon, pg_stat_statements "
        "(report in the state dir; CPU figures include py-spy's perturbation)",
    )
    ap.add_argument(
        "--no-readme",
        action="store_true",
        help="do not write bench/README.md (default: written on full runs)",
    )
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for the 1-minute load average to drop below 1.0 first "
        "(the machine is shared; the load is recorded either way)",
    )
    args = ap.parse_args(argv)
    if args.wait_quiet > 0:
        wait_quiet(args.wait_quiet)
    sizes = QUICK if args.quick else FULL
    state: Path = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)
    results: dict[str, Any] = {
        "quick": args.quick,
        "sizes": sizes.__dict__,
        "loadavg_before": loadavg(),
    }
    failed = False
    started = time.monotonic()
    log(f"starting durable PostgreSQL under {state / 'pg'}")
    cluster = start_cluster(state, prof_mod.PROFILE_SETTINGS if args.profile else None)
    try:
        results["machine"] = machine_info(server_version(cluster.dsn()))
        results["code"] = code_version()
        if not args.skip_floor:
            log("0. PostgreSQL floor (pgbench: durable and notifying commits)")
            drop_database(cluster, "bench_floor")
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                conn.execute('CREATE DATABASE "bench_floor"')
            results["floor"] = floor_mod.measure(cluster, state, "bench_floor")
        if not args.skip_daemon:
            try:
                results["daemon"] = bench_daemon(cluster, state, sizes, args.profile)
            except BenchError as exc:
                failed = True
                results["daemon_error"] = str(exc)
                log(f"DAEMON BENCHMARK FAILED: {exc}")
        for key, bodies in (("engine_sql", False), ("engine_bodies", True)):
            if args.skip_daemon:
                break
            what = "2d. with the task bodies" if bodies else "2c. the engine's SQL alone"
            log(f"{what}, no daemon: {sizes.throughput} jobs, 2 writers")
            try:
                results[key] = row_floor.engine_sql(cluster, sizes.throughput, bodies=bodies)
            except Exception as exc:  # the other rows stand without it
                failed = True
                results[f"{key}_error"] = f"{type(exc).__name__}: {exc}"
                log(f"ENGINE SQL BENCHMARK FAILED ({key}): {exc}")
        if not args.skip_naive:
            try:
                results["naive"] = bench_naive(cluster, state, sizes, args.profile)
            except BenchError as exc:
                failed = True
                results["naive_error"] = str(exc)
                log(f"NAIVE BENCHMARK FAILED: {exc}")
        if args.skip_pgqueuer:
            pass
        elif args.quick and not pgqueuer_peer.installed(state):
            log("pgqueuer peer skipped in --quick: its venv is not installed (a full run does)")
        else:
            try:
                log(f"6. pgqueuer peer: {sizes.throughput} DAGs, {MAX_CONCURRENT_JOBS} at once")
                results["pgqueuer"] = pgqueuer_peer.bench_pgqueuer(
                    cluster, state, sizes.throughput, log
                )
            except BenchError as exc:
                failed = True
                results["pgqueuer_error"] = str(exc)
                log(f"PGQUEUER BENCHMARK FAILED: {exc}")
    except Exception:
        failed = True
        traceback.print_exc()
    finally:
        log("stopping PostgreSQL")
        try:
            cluster.stop()
        except Exception as exc:
            log(f"could not stop PostgreSQL: {exc}")
    results["loadavg_after"] = loadavg()
    results["elapsed_s"] = time.monotonic() - started
    if "machine" not in results:
        return 1
    table = render(results)
    details = render_details(results)
    print()
    print(table)
    print()
    print(details)
    # Recorded runs (full, both engines, README rewritten) are kept in bench/results/;
    # every other run only in the state directory.
    record = not args.quick and not args.no_readme and not (args.skip_daemon or args.skip_naive)
    out_dir = RESULTS_DIR if record else state / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}{'-quick' if args.quick else ''}.json"
    (out_dir / name).write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"results in {out_dir / name}; took {results['elapsed_s']:.0f} s")
    if record:
        write_readme(table, details)
        log(f"table written to {README}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
