"""Another checkout's engine against this one, side by side on one cluster (issue 17).

```sh
git worktree add /tmp/old 5bb5660   # e.g. the code before group completion
.venv/bin/python -m bench.bench_ab --old /tmp/old [--rounds 2] [--jobs 500] [--single 30]
```

Each engine gets a fresh database made by its own checkout's migrations, and its daemon
runs that checkout's code. Rounds alternate old, this checkout with
``group_completion = false``, this checkout as configured; each is ``make bench``'s 2b
measurement (``run.bench_config``): 30 sequential jobs (single-job p50), then 500 jobs /
32 at once (tasks/s, CPU of the daemon and the whole cluster). Every round's figures go
to ``bench/results/ab-*.json`` with both checkouts' revisions (``--no-record``: not).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench.daemonproc as daemonproc

from .common import loadavg
from .daemonproc import Daemon
from .pg import drop_database, start_cluster
from .run import FULL, MAX_CONCURRENT_JOBS, RESULTS_DIR, bench_config, code_version, log

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", type=Path, required=True, help="the other checkout")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--single", type=int, default=30)
    ap.add_argument("--state-dir", type=Path, default=HERE / "bench" / ".state" / "ab")
    ap.add_argument("--no-record", action="store_true", help="keep the JSON out of results/")
    args = ap.parse_args(argv)
    state = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "old": code_version(args.old.resolve()),
        "new": code_version(),
        "sizes": {"throughput": args.jobs, "single": args.single},
        "loadavg_before": loadavg(),
        "rounds": [],
    }
    log(f"load average {record['loadavg_before']}")
    cluster = start_cluster(state)
    engines = (
        ("old", args.old.resolve(), {}),
        ("unbatched", HERE, {"group_completion": False}),
        ("new", HERE, {}),
    )
    sizes = dataclasses.replace(FULL, throughput=args.jobs, single=args.single)
    try:
        urls = {tag: make_db(cluster, repo, f"ab_{tag}") for tag, repo, _ in engines}
        for r in range(args.rounds):
            for tag, repo, extra in engines:
                cfg = {"max_concurrent_jobs": MAX_CONCURRENT_JOBS, "job_timeout_s": 120.0, **extra}
                make = functools.partial(CheckoutDaemon, repo)
                res = bench_config(
                    cluster, state, urls[tag], f"ab-{tag}", cfg, sizes, make_daemon=make
                )
                out = res["throughput"]
                record["rounds"].append({"round": r + 1, "engine": tag, **res})
                log(
                    f"round {r + 1} {tag:9s} {out['tasks_per_s']:5.0f} tasks/s, "
                    f"{out['cpu_s_per_1000_tasks']:.2f} CPU s per 1,000 tasks, single p50 "
                    f"{res['single_db_ms']['p50']:.1f} ms, hand-offs per commit p50 "
                    f"{out['batch_items']['p50']:.0f}"
                )
    finally:
        cluster.stop("fast")
    record["loadavg_after"] = loadavg()
    log(f"load average {record['loadavg_after']}")
    if not args.no_record:
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"ab-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
        log(f"results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
