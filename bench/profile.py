"""--profile: where the time goes during the throughput run.

* py-spy (``pip install py-spy`` into .venv; not a project dependency) samples the
  daemon and writes collapsed stacks; :func:`summarize_collapsed` ranks functions by
  inclusive and self samples.
* pg_stat_statements (loaded into the bench cluster only with --profile) gives the
  statements the daemon sent: calls per task (round trips) and server time per call.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

PROFILE_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",  # statements inside PL/pgSQL functions too
}


class PySpy:
    """py-spy record on a pid until stop()."""

    def __init__(self, pid: int, out_prefix: Path, log: Any) -> None:
        exe = Path(sys.executable).with_name("py-spy")
        self.proc: subprocess.Popen[bytes] | None = None
        self.raw = out_prefix.with_suffix(".txt")
        self.log = log
        if not exe.exists():
            log("py-spy not installed in the venv (pip install py-spy): no Python profile")
            return
        self.proc = subprocess.Popen(
            [
                str(exe), "record", "--pid", str(pid), "--rate", "1000", "--threads", "--gil",
                "--format", "raw", "--output", str(self.raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1.0)

    def stop(self) -> Path | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        return self.raw if self.raw.exists() else None


def summarize_collapsed(text: str, top: int = 25, active_only: bool = True) -> str:
    """Rank frames of py-spy's collapsed stacks ("f1;f2;f3 N" lines) by inclusive and
    self samples. With active_only, stacks whose leaf is a wait (idle) are dropped."""
    incl: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    total = 0
    idle_words = ("wait (threading", "select (selectors", "_wait_conn", "poll (selectors",
                  "sleep", "acquire", "wait_c", "notifies")  # fmt: skip
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        if frames and frames[0].startswith("thread ("):
            frames = frames[1:]
        if active_only and frames and any(w in frames[-1] for w in idle_words):
            continue
        count = int(n)
        total += count
        for f in set(frames):
            incl[f] += count
        if frames:
            self_[frames[-1]] += count
    lines = [f"{total} active samples"]
    lines.append("inclusive:")
    lines += [f"  {c / total * 100:5.1f}%  {f}" for f, c in incl.most_common(top)] if total else []
    lines.append("self:")
    lines += [f"  {c / total * 100:5.1f}%  {f}" for f, c in self_.most_common(top)] if total else []
    return "\n".join(lines)


def reset_statements(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")


def top_statements(url: str, tasks: int, top: int = 20) -> str:
    """Top-level statements (round trips) and nested ones (inside PL/pgSQL), by total
    time (which includes lock waits)."""
    query = (
        "SELECT s.calls, s.total_exec_time, s.mean_exec_time, s.shared_blks_hit,"
        " s.wal_bytes, regexp_replace(left(s.query, 120), '\\s+', ' ', 'g')"
        " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
        " WHERE d.datname = current_database() AND s.toplevel = %s"
        " ORDER BY s.total_exec_time DESC LIMIT %s"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        top_rows = conn.execute(query, (True, top)).fetchall()
        nested = conn.execute(query, (False, top)).fetchall()
        row = conn.execute(
            "SELECT sum(calls), sum(wal_bytes) FROM pg_stat_statements s"
            " JOIN pg_database d ON d.oid = s.dbid"
            " WHERE d.datname = current_database() AND s.toplevel"
        ).fetchone()
    calls = int(row[0] or 0) if row else 0
    wal = int(row[1] or 0) if row else 0
    per = max(tasks, 1)
    out = [
        f"top-level statements: {calls} calls for {tasks} tasks = {calls / per:.2f} round trips"
        f" per task (includes the bench client's); WAL {wal / per / 1024:.1f} KiB per task"
    ]
    for title, rows in (("top-level", top_rows), ("nested (inside functions)", nested)):
        out.append(f"{title}:  calls/task  total_ms  mean_ms  blks_hit/call  wal_B/call  query")
        for n, total_ms, mean_ms, hit, walb, q in rows:
            out.append(
                f"  {n / per:9.2f}  {total_ms:8.0f}  {mean_ms:7.3f}  {hit / max(n, 1):8.1f}"
                f"  {float(walb) / max(n, 1):9.0f}  {q}"
            )
    return "\n".join(out)
