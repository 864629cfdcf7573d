"""Retention (issue 16, ``enginev2d prune``): finished runs lose their detail rows.

A run that finished (succeeded, failed or canceled, not draining) before the cutoff loses
its events, artifacts, attempts, dependency edges and tasks, in batches of ``batch`` runs
(:func:`prune`): each batch is one call of ``engine_v2.prune_runs``, one short
transaction that locks only its own runs' rows (``FOR UPDATE SKIP LOCKED``) and never
touches a running job. The ``job_runs`` rows stay, with ``pruned_at`` set, so the SLO
history (status, timings, error codes, fallbacks) survives. The host's fallback records
(``engine_v2.server_fallbacks``) and the registry rows of daemons silent since before
the cutoff go too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from .errors import EngineError
from .sql import load_queries

QUERIES = load_queries("retention")
FLEET = load_queries("fleet")
COUNTS = ("runs", "tasks", "attempts", "events", "artifacts", "dependencies")

Conn = psycopg.Connection[Any]


class RetentionError(EngineError):
    """A prune cannot run as asked (bad window or batch)."""


@dataclass
class PruneReport:
    cutoff: datetime
    dry_run: bool
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    server_fallbacks: int = 0
    daemons: int = 0
    batches: int = 0
    seconds: float = 0.0
    bytes: dict[str, int] = field(default_factory=dict)  # dry run: pg_column_size by table

    @property
    def rows(self) -> int:
        """Rows deleted (or, dry run, that would be): every table but the kept job_runs."""
        detail = sum(v for k, v in self.counts.items() if k != "runs")
        return detail + self.server_fallbacks + self.daemons

    def to_json(self) -> dict[str, Any]:
        rate = self.rows / self.seconds if self.seconds > 0 and not self.dry_run else None
        return {
            "cutoff": self.cutoff,
            "dry_run": self.dry_run,
            **self.counts,
            "server_fallbacks": self.server_fallbacks,
            "daemons": self.daemons,
            "rows": self.rows,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "rows_per_s": None if rate is None else round(rate),
            **({"bytes": self.bytes} if self.dry_run else {}),
        }


def cutoff(conn: Conn, older_than_s: float) -> datetime:
    if older_than_s <= 0:
        raise RetentionError(f"--older-than must be > 0, got {older_than_s:g} s")
    row = conn.execute(QUERIES["cutoff"], {"older_than_s": older_than_s}).fetchone()
    return row["cutoff"]  # type: ignore[index, no-any-return]


def prune(
    conn: Conn,
    older_than_s: float,
    *,
    batch: int = 200,
    dry_run: bool = False,
    pause_s: float = 0.0,
    on_batch: Callable[[PruneReport], None] | None = None,
) -> PruneReport:
    """Delete (or, ``dry_run``, count) what is older than ``older_than_s``, batch by
    batch on the autocommit connection ``conn``; ``on_batch`` sees the running totals."""
    if batch <= 0:
        raise RetentionError(f"--batch must be > 0, got {batch}")
    report = PruneReport(cutoff(conn, older_than_s), dry_run)
    started = time.monotonic()
    if dry_run:
        for row in conn.execute(QUERIES["preview"], {"cutoff": report.cutoff}).fetchall():
            if row["what"] == "server_fallbacks":
                report.server_fallbacks = int(row["n"])
            else:
                report.counts[row["what"]] = int(row["n"])
            if row["what"] != "runs":
                report.bytes[row["what"]] = int(row["bytes"])
        report.seconds = time.monotonic() - started
        return report
    params = {"cutoff": report.cutoff, "batch": batch}
    while True:
        done = conn.execute(QUERIES["prune_batch"], params).fetchone()["counts"]  # type: ignore[index]
        if not done["runs"]:
            break
        report.batches += 1
        for key in COUNTS:
            report.counts[key] += int(done[key])
        if on_batch is not None:
            on_batch(report)
        if pause_s > 0:
            time.sleep(pause_s)
    while True:
        n = conn.execute(QUERIES["prune_server_fallbacks"], params).rowcount
        report.server_fallbacks += max(0, n)
        if n < batch:
            break
    report.daemons = len(
        conn.execute(FLEET["forget_daemons"], {"before": report.cutoff}).fetchall()
    )
    report.seconds = time.monotonic() - started
    return report


def storage_per_job(conn: Conn, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Rows and stored bytes (``pg_column_size``) each table holds for these jobs."""
    rows = conn.execute(QUERIES["storage_per_job"], {"job_ids": list(job_ids)}).fetchall()
    return {r["what"]: {"rows": int(r["n"]), "bytes": int(r["bytes"])} for r in rows}
