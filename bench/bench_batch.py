"""Group completion on and off, side by side in one run (issue 17).

```sh
.venv/bin/python -m bench.bench_batch [--jobs 500] [--rounds 2] [--single 30]
```

Its own durable PostgreSQL (under ``.state/batch``), one fresh ``bench_daemon`` database,
and two real daemons that differ in one key: ``daemon.group_completion`` false (one
commit per hand-off, the engine before issue 17) and true. The rounds alternate
off/on so machine noise hits both alike. Each round (``run.bench_config``, as the
2b rows of ``make bench``): warm-up jobs, ``--single`` sequential jobs, a warm-up burst,
then ``--jobs`` jobs submitted in one transaction (32 at once). ``--profile`` writes
``make bench``'s profile report (pg_stat_statements, py-spy when installed). Per
configuration: tasks/s, CPU per 1,000 tasks (daemon + whole
cluster), single-job p50, and the hand-offs per commit (completed attempts grouped by
the transaction that closed them: ``job_task_attempts.xmin``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from . import profile as prof_mod
from .common import loadavg
from .pg import create_daemon_db, start_cluster
from .run import FULL, MAX_CONCURRENT_JOBS, Sizes, bench_config, log

BENCH_DIR = Path(__file__).resolve().parent


def one_round(
    cluster: Any, state: Path, url: str, grouped: bool, sizes: Sizes, *, profile: bool, slots: int
) -> dict[str, Any]:
    cfg = {
        "max_concurrent_jobs": MAX_CONCURRENT_JOBS,
        "job_timeout_s": 120.0,
        "group_completion": grouped,
        **({"completer_slots": slots} if slots else {}),
    }
    name = "batch-on" if grouped else "batch-off"
    res = bench_config(cluster, state, url, name, cfg, sizes, profile=profile)
    return {**res["throughput"], "single_db_ms": res["single_db_ms"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--single", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="pg_stat_statements/py-spy report")
    ap.add_argument("--only", choices=("on", "off"), help="one configuration only")
    ap.add_argument("--slots", type=int, default=0, help="daemon.completer_slots (0: default)")
    # its own cluster: make bench's (.state) would be stopped and its database dropped
    ap.add_argument("--state-dir", type=Path, default=BENCH_DIR / ".state" / "batch")
    args = ap.parse_args(argv)
    state = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    log(f"load average {loadavg()}")
    cluster = start_cluster(state, prof_mod.PROFILE_SETTINGS if args.profile else None)
    sizes = dataclasses.replace(FULL, throughput=args.jobs, single=args.single)
    runs: list[dict[str, Any]] = []
    try:
        url = create_daemon_db(cluster)
        for r in range(args.rounds):
            for grouped in (False, True):
                if args.only and grouped != (args.only == "on"):
                    continue
                res = one_round(
                    cluster, state, url, grouped, sizes, profile=args.profile, slots=args.slots
                )
                res["group_completion"] = grouped
                runs.append(res)
                log(
                    f"round {r + 1} group_completion={grouped}: "
                    f"{res['tasks_per_s']:.0f} tasks/s, "
                    f"{res['cpu_s_per_1000_tasks']:.2f} CPU s/1000 tasks "
                    f"(daemon {res['cpu_s']['daemon'] / res['tasks'] * 1000:.2f}, "
                    f"postgres {res['cpu_s']['postgres'] / res['tasks'] * 1000:.2f} ms/task), "
                    f"items/commit p50 {res['batch_items']['p50']:.0f} "
                    f"p99 {res['batch_items']['p99']:.0f}, "
                    f"single p50 {res['single_db_ms']['p50']:.1f} ms"
                )
    finally:
        cluster.stop("fast")
    path = state / f"batch-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"load": loadavg(), "runs": runs}, indent=1, default=str))
    log(f"results in {path}; load average {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
