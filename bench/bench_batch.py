"""Group completion on and off, side by side in one run (issue 17).

```sh
.venv/bin/python -m bench.bench_batch [--jobs 500] [--rounds 2] [--single 30]
```

Its own durable PostgreSQL (the bench's cluster), one fresh ``bench_daemon`` database,
and two real daemons that differ in one key: ``daemon.group_completion`` false (one
commit per hand-off, the engine before issue 17) and true. The rounds alternate
off/on so machine noise hits both alike. Each round: a warm-up burst, ``--jobs`` jobs
submitted in one transaction (32 at once, as in ``make bench``), then ``--single``
sequential jobs. Per configuration: tasks/s, CPU per 1,000 tasks (daemon + whole
cluster), single-job p50, and the hand-offs per commit (completed attempts grouped by
the transaction that closed them: ``job_task_attempts.xmin``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from . import profile as prof_mod
from .common import CpuMeter, Deadline, inject_options, loadavg, postmaster_pid, summarize
from .daemonproc import Daemon
from .pg import Client, create_daemon_db, start_cluster
from .run import (
    MAX_CONCURRENT_JOBS,
    RESULTS_DIR,
    batch_sizes,
    db_latencies,
    log,
    run_sequential,
    throughput_result,
    wait_all,
)

BENCH_DIR = Path(__file__).resolve().parent


def one_round(
    cluster: Any,
    state: Path,
    url: str,
    grouped: bool,
    jobs: int,
    single: int,
    profile: bool = False,
    slots: int = 0,
) -> dict[str, Any]:
    name = "batch-on" if grouped else "batch-off"
    cfg = {
        "max_concurrent_jobs": MAX_CONCURRENT_JOBS,
        "job_timeout_s": 120.0,
        "group_completion": grouped,
        **({"completer_slots": slots} if slots else {}),
    }
    daemon = Daemon(state, name, url, cfg)
    client = Client(url)
    opts = inject_options()
    try:
        daemon.start()
        if not daemon.wait_listening(client.conn, Deadline(30, "waiting for the listener")):
            log("warning: no LISTEN after 30 s")
        warm, _, _ = client.submit_batch(opts, 2 * MAX_CONCURRENT_JOBS)
        wait_all(client, daemon, warm, Deadline(120, "warm-up burst"))
        pm = postmaster_pid(cluster.data_dir)
        meter = CpuMeter({"daemon": daemon.pid, "postgres": pm}, client.backend_pids(), "postgres")
        if profile:
            prof_mod.reset_statements(url)
        a = meter.snapshot()
        t0 = time.perf_counter()
        ids, xid, _ = client.submit_batch(opts, jobs)
        wait_all(client, daemon, ids, Deadline(240, f"{jobs} jobs"))
        cpu = meter.delta(a, meter.snapshot())
        out = throughput_result(client.conn, ids, xid, cpu, time.perf_counter() - t0, "daemon")
        out["batch_items"] = batch_sizes(client, ids)
        if profile:
            report = prof_mod.top_statements(url, out["tasks"], top=60)
            (state / f"profile-{name}.txt").write_text(report + "\n")
            log(f"statements in {state / f'profile-{name}.txt'}")
        sids, _cms, xids = run_sequential(client, daemon, opts, single, "single job")
        out["single_db_ms"] = summarize(db_latencies(client, sids, xids)["db"])
        out["single_batch_items"] = batch_sizes(client, sids)
    finally:
        daemon.stop()
        client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--single", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="pg_stat_statements report")
    ap.add_argument("--only", choices=("on", "off"), help="one configuration only")
    ap.add_argument("--slots", type=int, default=0, help="daemon.completer_slots (0: default)")
    ap.add_argument("--state-dir", type=Path, default=BENCH_DIR / ".state")
    args = ap.parse_args(argv)
    state = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    log(f"load average {loadavg()}")
    cluster = start_cluster(state, prof_mod.PROFILE_SETTINGS if args.profile else None)
    runs: list[dict[str, Any]] = []
    try:
        url = create_daemon_db(cluster)
        for r in range(args.rounds):
            for grouped in (False, True):
                if args.only and grouped != (args.only == "on"):
                    continue
                res = one_round(
                    cluster, state, url, grouped, args.jobs, args.single, args.profile, args.slots
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
    RESULTS_DIR.mkdir(exist_ok=True)
    path = state / f"batch-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"load": loadavg(), "runs": runs}, indent=1, default=str))
    log(f"results in {path}; load average {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
