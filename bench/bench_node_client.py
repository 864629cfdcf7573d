"""Fallback-event latency seen from Node (``clients/node``): the bench's durable cluster
(``track_commit_timestamp = on``), the real daemon, and ``bench/fallback-latency.mjs``
connected as the host server's role. Every job fails at once (an out-of-schema codegen
output), so each one measures commit of the ``fallback`` event -> onEvent and -> run()
rejecting (when the server can start v1).

    .venv/bin/python -m bench.bench_node_client [--jobs 200] [--concurrency 1 10]

Prints one JSON line per concurrency; not part of ``make bench``'s table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess

import psycopg

from enginev2d.pgcluster import host_server_login

from .common import BenchError, Deadline
from .daemonproc import REPO, Daemon
from .pg import create_daemon_db, start_cluster

STATE = REPO / "bench" / ".state" / "node-client"
CLIENT = REPO / "clients" / "node"
LOGIN = "bench_node_server"


def main() -> None:
    ap = argparse.ArgumentParser(description="fallback-event latency from Node")
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    args = ap.parse_args()
    node = shutil.which("node")
    if node is None or not (CLIENT / "node_modules" / "pg").is_dir():
        raise SystemExit("needs node and clients/node/node_modules (make node-deps)")
    STATE.mkdir(parents=True, exist_ok=True)
    cluster = start_cluster(STATE)
    daemon = None
    try:
        url = create_daemon_db(cluster)
        daemon = Daemon(STATE, "daemon", url, {"poll_interval_s": 1.0, "max_concurrent_jobs": 16})
        daemon.start()
        with psycopg.connect(url, autocommit=True) as conn:
            if not daemon.wait_listening(conn, Deadline(30, "daemon listening")):
                raise BenchError("the daemon never listened")
        for concurrency in args.concurrency:
            env = {
                **os.environ,
                "SERVER_URL": host_server_login(url, LOGIN),
                "JOBS": str(args.jobs),
                "CONCURRENCY": str(concurrency),
            }
            out = subprocess.run(
                [node, "bench/fallback-latency.mjs"],
                cwd=CLIENT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if out.returncode != 0:
                raise BenchError(out.stderr[-3000:] or out.stdout[-3000:])
            print(json.dumps(json.loads(out.stdout.strip().splitlines()[-1])), flush=True)
    finally:
        if daemon is not None:
            daemon.stop()
        cluster.stop()


if __name__ == "__main__":
    main()
