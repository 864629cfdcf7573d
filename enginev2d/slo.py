"""The design's SLO table (section 18), computed from the database.

One plain function, :func:`compute`, serves both the Prometheus gauges (refreshed in the
background by :mod:`enginev2d.metrics`) and the ``enginev2d slo`` command.

v2 figures come from ``engine_v2.job_runs`` / ``job_tasks`` / ``job_task_attempts`` /
``job_task_events`` over the jobs that *finished* (succeeded or failed) in the window:

============================ ==========================================================
``success_rate``             succeeded / finished
``latency_p50_seconds``      median of ``finished_at - created_at`` over succeeded jobs
``latency_p95_seconds``      95th percentile of the same
``cost_per_job_usd``         sum of the attempts' ``cost_usd`` / finished jobs
``retry_rate``               attempts beyond each task's first / tasks that ran
``fallback_rate``            jobs with ``fallback_triggered`` (or a ``fallback`` event)
                             / finished jobs
============================ ==========================================================

The v1 baseline comes from ``metrics.v1_baseline_query`` when it is set: a read-only
query over ``public.jobs`` (it runs in a ``READ ONLY`` transaction) that returns one row
with any of the six column names above (a missing column or NULL means "not measured").
It may use the placeholders ``%(window_s)s`` (the window in seconds, a float) and
``%(since)s`` (a timestamptz, ``now() - window``); a literal ``%`` must be written ``%%``.
Example::

    SELECT avg((status = 'completed')::int)::float8 AS success_rate,
           percentile_cont(0.5) WITHIN GROUP (
             ORDER BY extract(epoch FROM updated_at - created_at)) AS latency_p50_seconds
      FROM public.jobs WHERE created_at >= %(since)s
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import psycopg

from .errors import EngineError
from .sql import load_queries

QUERIES = load_queries("metrics")

# The six figures, in the order of the design's table, named as the gauges are.
SLO_KEYS = (
    "success_rate",
    "latency_p50_seconds",
    "latency_p95_seconds",
    "cost_per_job_usd",
    "retry_rate",
    "fallback_rate",
)

# Targets of section 18: (comparison, factor). "v1" targets compare with the baseline.
FALLBACK_RATE_MAX = 0.05
TARGETS: dict[str, tuple[str, float | None]] = {
    "success_rate": (">=", 1.0),  # >= v1
    "latency_p50_seconds": ("<=", 1.0),  # <= v1
    "latency_p95_seconds": ("<=", 1.2),  # <= v1 x 1.2
    "cost_per_job_usd": ("<=", 1.5),  # <= v1 x 1.5
    "retry_rate": ("<", 1.0),  # < v1 (QA effect)
    "fallback_rate": ("<", None),  # < 5 %, absolute
}

COUNT_KEYS = ("jobs_finished", "jobs_succeeded", "jobs_fallback", "tasks_run", "attempts_total")


class SloError(EngineError):
    """The SLO figures could not be computed (bad window, failing baseline query)."""


@dataclass(frozen=True)
class SloReport:
    window_s: float
    v2: dict[str, float | None]
    counts: dict[str, int]
    v1: dict[str, float | None] | None = None  # None: no baseline query configured
    v1_error: str | None = None  # the baseline query failed (v2 figures still valid)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """One object per figure (keys as the gauges), plus the window and the counts."""
        out: dict[str, Any] = {"window_s": self.window_s, "counts": self.counts}
        for row in self.rows:
            out[row["key"]] = {k: row[k] for k in ("v1", "v2", "target", "pass")}
        if self.v1_error:
            out["v1_error"] = self.v1_error
        return out


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``24h``, ``7d``, ``1w`` or plain seconds; > 0."""
    match = _DURATION.match(text or "")
    if not match:
        raise SloError(f"bad duration {text!r} (use e.g. 30m, 24h, 7d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise SloError(f"bad duration {text!r}: must be > 0")
    return seconds


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _row(cur: psycopg.Cursor[Any]) -> dict[str, Any] | None:
    """The next row as a dict, whatever the connection's row factory."""
    row = cur.fetchone()
    if row is None or isinstance(row, dict):
        return row
    names = [c.name for c in cur.description or []]
    return dict(zip(names, row, strict=True))


def v2_figures(
    conn: psycopg.Connection[Any], window_s: float
) -> tuple[dict[str, float | None], dict[str, int]]:
    row = _row(conn.execute(QUERIES["slo_v2"], {"window_s": window_s})) or {}
    figures = {k: _num(row.get(k)) for k in SLO_KEYS}
    counts = {k: int(row.get(k) or 0) for k in COUNT_KEYS}
    return figures, counts


def v1_figures(
    conn: psycopg.Connection[Any], query: str, window_s: float
) -> dict[str, float | None]:
    """Run the configured baseline query read-only; return the six figures (None = absent)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        since = (_row(conn.execute(QUERIES["window_since"], {"window_s": window_s})) or {})["since"]
        row = _row(conn.execute(query, {"window_s": window_s, "since": since}))  # type: ignore[arg-type]
    if row is None:
        return dict.fromkeys(SLO_KEYS)
    return {k: _num(row.get(k)) for k in SLO_KEYS}


def read_only_rows(
    conn: psycopg.Connection[Any], query: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run an operator-configured query over the host's tables in a ``READ ONLY``
    transaction (it can read, never write); rows as dicts whatever the row factory."""
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        cur = conn.execute(query, params)  # type: ignore[arg-type]
        names = [c.name for c in cur.description or []]
        return [r if isinstance(r, dict) else dict(zip(names, r, strict=True)) for r in cur]


def judge(key: str, v2: float | None, v1: float | None) -> tuple[str, bool | None]:
    """The target as text and whether v2 meets it (None when a figure is missing)."""
    op, factor = TARGETS[key]
    if factor is None:
        target = f"{op} {FALLBACK_RATE_MAX:g}"
        bound: float | None = FALLBACK_RATE_MAX
    else:
        target = f"{op} v1" if factor == 1.0 else f"{op} v1 x {factor:g}"
        bound = None if v1 is None else v1 * factor
    if v2 is None or bound is None:
        return target, None
    ok = {">=": v2 >= bound, "<=": v2 <= bound, "<": v2 < bound}[op]
    return target, ok


def compute(conn: psycopg.Connection[Any], window_s: float, *, v1_query: str = "") -> SloReport:
    """The SLO table over ``window_s``. A failing baseline query is reported, not raised."""
    if window_s <= 0:
        raise SloError(f"SLO window must be > 0 seconds, got {window_s}")
    v2, counts = v2_figures(conn, window_s)
    v1: dict[str, float | None] | None = None
    v1_error: str | None = None
    if v1_query.strip():
        try:
            v1 = v1_figures(conn, v1_query, window_s)
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise  # the connection is gone: the whole refresh failed
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            v1_error = f"v1 baseline query failed: {first}"
    rows = []
    for key in SLO_KEYS:
        base = None if v1 is None else v1.get(key)
        target, ok = judge(key, v2[key], base)
        rows.append({"key": key, "v1": base, "v2": v2[key], "target": target, "pass": ok})
    return SloReport(window_s, v2, counts, v1, v1_error, rows)
