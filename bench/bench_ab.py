"""Another checkout's engine against this one, side by side on one cluster (issue 17).

```sh
git worktree add /tmp/old 5bb5660   # e.g. the code before group completion
.venv/bin/python -m bench.bench_ab --old /tmp/old [--rounds 2] [--jobs 500] [--single 30]
```

Each engine gets a fresh database made by its own checkout's migrations, and its daemon
runs that checkout's code. Rounds alternate old, this checkout with
``group_completion = false``, this checkout as configured; each measures 500 jobs / 32 at
once (tasks/s) and 30 sequential jobs (single-job p50) after a warm-up burst and a
``VACUUM ANALYZE``. Throughput only: CPU figures come from ``make bench``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench.daemonproc as daemonproc

from .common import Deadline, inject_options, loadavg, summarize
from .daemonproc import Daemon
from .pg import Client, drop_database, start_cluster
from .run import (
    MAX_CONCURRENT_JOBS,
    batch_sizes,
    db_latencies,
    log,
    run_sequential,
    throughput_result,
    wait_all,
)

HERE = Path(__file__).resolve().parent.parent


class CheckoutDaemon(Daemon):
    """A daemon running the code of another checkout."""

    def __init__(self, repo: Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.repo = repo

    def start(self) -> None:
        saved, daemonproc.REPO = daemonproc.REPO, self.repo
        try:
            super().start()
        finally:
            daemonproc.REPO = saved


def make_db(cluster: Any, repo: Path, name: str) -> str:
    """A fresh database with ``repo``'s host stand-ins and migrations."""
    drop_database(cluster, name)
    code = (
        "from enginev2d.embedded import EmbeddedDatabase\n"
        "from enginev2d.pgcluster import PgCluster\n"
        f"c = PgCluster({str(cluster.base_dir)!r}, durable=True,"
        " settings={'track_commit_timestamp': 'on'})\n"
        f"db = EmbeddedDatabase(c, {name!r}); db.start(); print(db.url)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def one(repo: Path, state: Path, tag: str, url: str, extra: dict[str, Any], n: int, single: int):
    cfg = {"max_concurrent_jobs": MAX_CONCURRENT_JOBS, "job_timeout_s": 120.0, **extra}
    daemon = CheckoutDaemon(repo, state, f"ab-{tag}", url, cfg)
    client = Client(url)
    opts = inject_options()
    try:
        daemon.start()
        daemon.wait_listening(client.conn, Deadline(30, "waiting for the listener"))
        warm, _, _ = client.submit_batch(opts, 2 * MAX_CONCURRENT_JOBS)
        wait_all(client, daemon, warm, Deadline(120, "warm-up burst"))
        client.conn.execute("VACUUM ANALYZE")
        t0 = time.perf_counter()
        ids, xid, _ = client.submit_batch(opts, n)
        wait_all(client, daemon, ids, Deadline(240, f"{n} jobs"))
        zero = dict.fromkeys(("daemon", "postgres", "excluded", "daemon.sys", "postgres.sys"), 0.0)
        out = throughput_result(client.conn, ids, xid, zero, time.perf_counter() - t0, "daemon")
        sids, _, xids = run_sequential(client, daemon, opts, single, "single job")
        return {
            "tasks_per_s": out["tasks_per_s"],
            "single_db_ms": summarize(db_latencies(client, sids, xids)["db"]),
            "batch_items": batch_sizes(client, ids),
        }
    finally:
        daemon.stop()
        client.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", type=Path, required=True, help="the other checkout")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--single", type=int, default=30)
    ap.add_argument("--state-dir", type=Path, default=HERE / "bench" / ".state" / "ab")
    args = ap.parse_args(argv)
    state = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    log(f"load average {loadavg()}")
    cluster = start_cluster(state)
    engines = (
        ("old", args.old.resolve(), {}),
        ("unbatched", HERE, {"group_completion": False}),
        ("new", HERE, {}),
    )
    try:
        urls = {tag: make_db(cluster, repo, f"ab_{tag}") for tag, repo, _ in engines}
        for r in range(args.rounds):
            for tag, repo, extra in engines:
                res = one(repo, state, tag, urls[tag], extra, args.jobs, args.single)
                log(
                    f"round {r + 1} {tag:9s} {res['tasks_per_s']:5.0f} tasks/s, single p50 "
                    f"{res['single_db_ms']['p50']:.1f} ms, hand-offs per commit p50 "
                    f"{res['batch_items']['p50']:.0f}"
                )
    finally:
        cluster.stop("fast")
    log(f"load average {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
