"""What PostgreSQL itself allows on this machine, for reading the other figures.

pgbench (a C client, so the client's own cost stays small) runs one-statement durable
transactions for a couple of seconds each:

* ``commit``: update one row (a durable commit);
* ``notify``: update one row and send a NOTIFY in the same statement (what every engine
  step costs at the very least: one notifying commit);

with 1 client (latency per commit: the floor under every serial step of a job) and with
32 clients (commits/s: group commit helps, the NOTIFY queue lock serialises commits).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from enginev2d.pgcluster import PgCluster

from .pg import CLIENT_OPTIONS

SCRIPTS = {
    "commit": "\\set id random(0, 63)\nUPDATE bench_floor SET n = n + 1 WHERE id = :id;\n",
    "notify": (
        "\\set id random(0, 63)\n"
        "WITH u AS (UPDATE bench_floor SET n = n + 1 WHERE id = :id RETURNING n)"
        " SELECT pg_notify('bench_floor', n::text) FROM u;\n"
    ),
}


def _pgbench(cluster: PgCluster, dbname: str, script: Path, clients: int, seconds: int) -> dict:
    argv = [
        str(cluster.bin_dir / "pgbench"),
        "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
        "-n", "-M", "prepared", "-f", str(script),
        "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), dbname,
    ]  # fmt: skip
    res = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if res.returncode != 0:
        return {"error": (res.stderr or res.stdout).strip()[-300:]}
    tps = re.search(r"tps = ([\d.]+)", res.stdout)
    lat = re.search(r"latency average = ([\d.]+) ms", res.stdout)
    return {
        "tps": float(tps.group(1)) if tps else None,
        "latency_ms": float(lat.group(1)) if lat else None,
    }


def measure(cluster: PgCluster, state: Path, dbname: str, seconds: int = 2) -> dict[str, Any]:
    url = cluster.dsn(dbname)
    with psycopg.connect(url, autocommit=True, options=CLIENT_OPTIONS) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        conn.execute("CREATE TABLE bench_floor (id int PRIMARY KEY, n bigint NOT NULL)")
        conn.execute("INSERT INTO bench_floor SELECT g, 0 FROM generate_series(0, 63) g")
    out: dict[str, Any] = {}
    for name, text in SCRIPTS.items():
        script = state / f"floor-{name}.sql"
        script.write_text(text)
        out[f"{name}_1_client"] = _pgbench(cluster, dbname, script, 1, seconds)
        out[f"{name}_32_clients"] = _pgbench(cluster, dbname, script, 32, seconds)
    with psycopg.connect(url, autocommit=True, options=CLIENT_OPTIONS) as conn:
        conn.execute("DROP TABLE bench_floor")
    return out
