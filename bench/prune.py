"""Retention benchmark (issue 16 item 3): ``enginev2d prune`` on 10,000 finished runs
while the real daemon keeps running jobs, and the storage one job takes.

    .venv/bin/python -m bench.prune            # 10,000 runs (about 1 minute)
    .venv/bin/python -m bench.prune --runs 2000 --jobs 20

It starts its own durable PostgreSQL (bench/.state/prune), seeds finished runs of a real
live job's shape (bench/seed.py) 40 days old, starts ``enginev2d run`` and measures:

1. baseline: jobs with the scaled model latencies (critical path 280 ms) submitted one
   every ``--gap-ms``, duration ``finished_at - created_at`` (database clock);
2. the same stream while ``retention.prune`` deletes the seeded runs in batches: rows
   deleted per second, batches, and each overlapping job's duration against the
   baseline's p99;
3. storage per job: rows and ``pg_column_size`` bytes per table for real offline-provider
   jobs (a generated game, no injected outputs), and how often the game's file contents
   are stored (task outputs, artifacts, the partialResult event, job_runs.result).

Prints one JSON document; ``--record`` keeps it in bench/results/prune-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from enginev2d import retention

from .common import (
    SCALED_LATENCY_MS,
    BenchError,
    Deadline,
    inject_options,
    loadavg,
    summarize,
)
from .daemonproc import Daemon
from .pg import Client, create_daemon_db, start_cluster
from .seed import seed_finished_runs

STATE = Path(__file__).resolve().parent / ".state" / "prune"
RESULTS = Path(__file__).resolve().parent / "results"
PRUNE_DEADLINE_S = 600.0  # 10,000 runs take seconds; a prune this slow is a failure


def durations(conn: psycopg.Connection[Any], ids: list[str]) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT job_id::text, status, created_at, finished_at,"
        " extract(epoch FROM finished_at - created_at)::float8 AS s"
        " FROM engine_v2.job_runs WHERE job_id = ANY(%s::uuid[])",
        (ids,),
    ).fetchall()


def wait_done(conn: psycopg.Connection[Any], ids: list[str], daemon: Daemon, s: float) -> None:
    deadline = Deadline(s, f"waiting for {len(ids)} jobs")
    while True:
        rows = durations(conn, ids)
        if all(r["status"] != "running" for r in rows):
            bad = [r for r in rows if r["status"] != "succeeded"]
            if bad:
                raise BenchError(f"{len(bad)} job(s) did not succeed: {bad[:2]}")
            return
        deadline.check()
        daemon.alive()
        time.sleep(0.05)


def stream(
    client: Client,
    n: int,
    gap_s: float,
    until: threading.Event | None,
    deadline: Deadline | None = None,
) -> list[str]:
    """Submit a scaled-latency job every gap_s: n of them, or until ``until`` is set
    (within ``deadline``)."""
    options = inject_options(SCALED_LATENCY_MS)
    ids = []
    while len(ids) < n or (until is not None and not until.is_set()):
        if deadline is not None:
            deadline.check()
        ids.append(client.submit(options).job_id)
        time.sleep(gap_s)
    return ids


def storage(conn: psycopg.Connection[Any], ids: list[str]) -> dict[str, Any]:
    per_table = retention.storage_per_job(conn, ids)
    n = len(ids)
    per_job = {k: {"rows": v["rows"] / n, "bytes": v["bytes"] / n} for k, v in per_table.items()}
    copies = conn.execute(
        """
        WITH f AS (  -- the job's largest code file, as its JSON-escaped text
          SELECT DISTINCT ON (a.job_id) a.job_id, a.content->>'path' AS path,
                 length(a.content->>'content') AS chars,
                 substr(to_jsonb(a.content->>'content')::text, 2, 200) AS needle
            FROM engine_v2.job_task_artifacts a
           WHERE a.job_id = ANY(%(ids)s::uuid[]) AND a.kind = 'code'
             AND a.content ? 'content'
           ORDER BY a.job_id, length(a.content->>'content') DESC
        )
        SELECT
          avg(f.chars) AS file_chars,
          avg((SELECT count(*) FROM engine_v2.job_tasks t
                WHERE t.job_id = f.job_id AND strpos(t.output::text, f.needle) > 0))
            AS in_task_outputs,
          avg((SELECT count(*) FROM engine_v2.job_task_artifacts a
                WHERE a.job_id = f.job_id AND strpos(a.content::text, f.needle) > 0))
            AS in_artifacts,
          avg((SELECT count(*) FROM engine_v2.job_task_events e
                WHERE e.job_id = f.job_id AND strpos(e.data::text, f.needle) > 0))
            AS in_events,
          avg((SELECT count(*) FROM engine_v2.job_runs r
                WHERE r.job_id = f.job_id AND strpos(coalesce(r.result::text, ''), f.needle) > 0))
            AS in_result
          FROM f
        """,
        {"ids": ids},
    ).fetchone()
    code = conn.execute(
        "SELECT avg(s) AS chars FROM (SELECT sum(length(a.content->>'content')) AS s"
        "  FROM engine_v2.job_task_artifacts a"
        " WHERE a.job_id = ANY(%(ids)s::uuid[]) AND a.kind = 'code' GROUP BY a.job_id) x",
        {"ids": ids},
    ).fetchone()
    return {
        "jobs": n,
        "bytes_per_job": round(sum(v["bytes"] for v in per_job.values())),
        "per_table": {
            k: {"rows": v["rows"], "bytes": round(v["bytes"])} for k, v in per_job.items()
        },
        "codegen_chars_per_job": None if code["chars"] is None else round(float(code["chars"])),
        "largest_file_copies": {k: None if v is None else float(v) for k, v in copies.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000, help="finished runs to seed")
    ap.add_argument("--batch", type=int, default=200, help="prune batch (runs)")
    ap.add_argument("--pause-ms", type=float, default=0.0, help="pause between batches")
    ap.add_argument("--jobs", type=int, default=40, help="baseline jobs")
    ap.add_argument("--gap-ms", type=float, default=150.0, help="between submits")
    ap.add_argument("--real-jobs", type=int, default=3, help="offline jobs for storage")
    ap.add_argument("--record", action="store_true", help="keep the JSON in bench/results")
    args = ap.parse_args(argv)

    STATE.mkdir(parents=True, exist_ok=True)
    cluster = start_cluster(STATE)
    daemon: Daemon | None = None
    try:
        url = create_daemon_db(cluster)
        conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        t0 = time.monotonic()
        left = args.runs
        while left > 0:
            left -= seed_finished_runs(conn, min(1000, left), age_days=40)
        seed_s = time.monotonic() - t0
        seeded_ids = [
            r["job_id"]
            for r in conn.execute(
                "SELECT job_id::text FROM engine_v2.job_runs ORDER BY random() LIMIT 200"
            ).fetchall()
        ]
        seeded_storage = storage(conn, seeded_ids)

        daemon = Daemon(STATE, "daemon", url, {"max_concurrent_jobs": 8, "poll_interval_s": 1.0})
        daemon.start()
        client = Client(url)
        if not daemon.wait_listening(client.conn, Deadline(30, "daemon start")):
            raise BenchError("the daemon never listened")
        gap = args.gap_ms / 1000

        stream(client, 5, gap, None)  # warm-up (pool, plans)
        base_ids = stream(client, args.jobs, gap, None)
        wait_done(conn, base_ids, daemon, 120)
        base = summarize([r["s"] for r in durations(conn, base_ids)])

        done = threading.Event()
        result: dict[str, Any] = {}

        def run_prune() -> None:
            try:
                with psycopg.connect(url, autocommit=True, row_factory=dict_row) as pconn:
                    result["report"] = retention.prune(
                        pconn, 30 * 86400, batch=args.batch, pause_s=args.pause_ms / 1000
                    )
            finally:  # a failed prune must end the stream too (its error is reported below)
                done.set()

        pruner = threading.Thread(target=run_prune, name="prune")
        started = time.monotonic()
        pruner.start()
        during_ids = stream(client, 1, gap, done, Deadline(PRUNE_DEADLINE_S, "pruning"))
        pruner.join(timeout=PRUNE_DEADLINE_S)
        if "report" not in result:
            raise BenchError("the prune failed (its traceback is above) or did not end")
        wait_done(conn, during_ids, daemon, 120)
        report = result["report"]
        during_s = [r["s"] for r in durations(conn, during_ids)]
        during = summarize(during_s)
        slowed = [s for s in during_s if s > base["p99"]]

        real_ids = [client.submit({}, message="make me a neon snake game").job_id]
        real_ids += [
            client.submit({}, message="make a breakout game").job_id
            for _ in range(args.real_jobs - 1)
        ]
        wait_done(conn, real_ids, daemon, 120)
        out = {
            "runs_seeded": args.runs,
            "batch": args.batch,
            "pause_ms": args.pause_ms,
            "seed_s": round(seed_s, 2),
            "prune": {
                **{k: v for k, v in report.to_json().items() if k != "cutoff"},
                "wall_s": round(time.monotonic() - started, 2),
            },
            "job_s_baseline": {k: round(v, 3) for k, v in base.items()},
            "job_s_during_prune": {k: round(v, 3) for k, v in during.items()},
            "jobs_during_prune": len(during_ids),
            "jobs_slower_than_baseline_p99": len(slowed),
            "storage_seeded_job": seeded_storage,
            "storage_offline_job": storage(conn, real_ids),
        }
        client.close()
        conn.close()
    finally:
        if daemon is not None:
            daemon.stop()
        cluster.stop("fast")
    out["loadavg_after"] = loadavg()
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.record:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"prune-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
