"""The M3 comparison (design 17): ``enginev2d shadow-report``.

In shadow mode the server runs v1 as usual and v2 on the same request (same job id),
discarding v2's result. This compares the two per job and in aggregate: success,
latency, cost, files and size, and (when Chromium is present) whether each v2 game
loads in headless Chromium without a console error. v2 comes from the shadow runs; v1
from ``shadow.v1_jobs_query``, a read-only query over the host's ``public.jobs`` run
like the SLO baseline (:func:`enginev2d.slo.read_only_rows`); v1's retry rate, which no
job row holds, from ``metrics.v1_baseline_query``. It ends with design 18's verdict for
moving to M4: **GO** when every target is met on at least ``shadow.min_jobs`` paired
jobs, **NO-GO** naming the targets missed, **INSUFFICIENT** when data is missing.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg

from . import slo
from .config import Config
from .errors import EngineError
from .sql import load_queries

QUERIES = load_queries("shadow")
V1_COLUMNS = ("succeeded", "latency_s", "cost_usd", "files", "bytes")

Conn = psycopg.Connection[Any]


class ShadowError(EngineError):
    """The report cannot be made (bad window, failing v1 query)."""


@dataclass
class JobPair:
    job_id: str
    v2_status: str
    v2_error_code: str | None
    v2_latency_s: float | None
    v2_cost_usd: float
    v2_attempts: int
    v2_tasks_run: int
    v2_files: int | None
    v2_bytes: int | None
    v1: dict[str, Any] | None = None  # the v1 query's row (None: no v1 row)
    loads: bool | None = None  # None: not checked
    load_errors: list[str] = field(default_factory=list)

    @property
    def v2_ok(self) -> bool:
        return self.v2_status == "succeeded"


@dataclass
class ShadowReport:
    window_s: float
    jobs: list[JobPair]
    rows: list[dict[str, Any]]  # design 18's table over the paired jobs
    verdict: str  # GO | NO-GO | INSUFFICIENT
    reasons: list[str]
    chromium: str | None = None
    v1_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        checked = [j for j in self.jobs if j.loads is not None]
        return {
            "window_s": self.window_s,
            "jobs": [asdict(j) for j in self.jobs],
            "paired": sum(j.v1 is not None for j in self.jobs),
            "aggregate": {
                r["key"]: {k: r[k] for k in ("v1", "v2", "target", "pass")} for r in self.rows
            },
            "browser": {
                "chromium": self.chromium,
                "checked": len(checked),
                "loaded": sum(bool(j.loads) for j in checked),
            },
            "verdict": {"decision": self.verdict, "reasons": self.reasons},
            **({"v1_error": self.v1_error} if self.v1_error else {}),
        }


def _files(result: Any) -> tuple[int | None, int | None]:
    files = (result or {}).get("files") if isinstance(result, dict) else None
    if not isinstance(files, list):
        return None, None
    size = sum(len(str(f.get("content", "")).encode()) for f in files if isinstance(f, dict))
    return len(files), size


def v2_jobs(conn: Conn, since_s: float) -> tuple[list[JobPair], dict[str, Any]]:
    """The shadow runs of the window, and their results (files) by job id."""
    pairs, results = [], {}
    for r in conn.execute(QUERIES["shadow_runs"], {"since_s": since_s}).fetchall():
        n, size = _files(r["result"])
        pairs.append(
            JobPair(
                r["job_id"],
                r["status"],
                r["error_code"],
                r["latency_s"],
                r["cost_usd"],
                int(r["attempts"]),
                int(r["tasks_run"]),
                n,
                size,
            )
        )
        results[r["job_id"]] = r["result"]
    return pairs, results


def attach_v1(conn: Conn, cfg: Config, pairs: list[JobPair]) -> str | None:
    """Fill each pair's v1 row from shadow.v1_jobs_query; returns an error, not raised."""
    if not pairs:
        return None
    try:
        rows = slo.read_only_rows(
            conn, cfg.shadow.v1_jobs_query, {"job_ids": [p.job_id for p in pairs]}
        )
    except psycopg.Error as exc:
        if conn.closed or conn.broken:
            raise
        return f"v1 jobs query failed: {(str(exc).strip().splitlines() or ['?'])[0]}"
    by_id = {str(r.get("job_id")): r for r in rows}
    for p in pairs:
        row = by_id.get(p.job_id)
        p.v1 = None if row is None else {k: row.get(k) for k in V1_COLUMNS}
    return None


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def figures_v2(pairs: Sequence[JobPair]) -> dict[str, float | None]:
    n = len(pairs)
    ok = [p.v2_latency_s for p in pairs if p.v2_ok and p.v2_latency_s is not None]
    tasks = sum(p.v2_tasks_run for p in pairs)
    return {
        "success_rate": sum(p.v2_ok for p in pairs) / n if n else None,
        "latency_p50_seconds": _pct(ok, 0.5),
        "latency_p95_seconds": _pct(ok, 0.95),
        "cost_per_job_usd": sum(p.v2_cost_usd for p in pairs) / n if n else None,
        "retry_rate": (sum(p.v2_attempts for p in pairs) - tasks) / tasks if tasks else None,
        # a failed shadow run is a fallback v1 would have had to take
        "fallback_rate": sum(not p.v2_ok for p in pairs) / n if n else None,
    }


def figures_v1(
    pairs: Sequence[JobPair], baseline: dict[str, float | None] | None
) -> dict[str, float | None]:
    rows = [p.v1 for p in pairs if p.v1 is not None]
    ok = [float(r["latency_s"]) for r in rows if r["succeeded"] and r["latency_s"] is not None]
    costs = [r["cost_usd"] for r in rows]
    return {
        "success_rate": _mean(bool(r["succeeded"]) for r in rows),
        "latency_p50_seconds": _pct(ok, 0.5),
        "latency_p95_seconds": _pct(ok, 0.95),
        "cost_per_job_usd": _mean(costs) if rows and None not in costs else None,
        "retry_rate": (baseline or {}).get("retry_rate"),
        "fallback_rate": None,  # v1 has no fallback (design 18: "-")
    }


def verdict(rows: list[dict[str, Any]], paired: int, min_jobs: int) -> tuple[str, list[str]]:
    failed = [f"{r['key']} {r['v2']:.4g} misses {r['target']}" for r in rows if r["pass"] is False]
    if failed:
        return "NO-GO", failed
    missing = [
        f"{r['key']}: no {'v1 ' if r['v2'] is not None else ''}data"
        for r in rows
        if r["pass"] is None
    ]
    if paired < min_jobs:
        missing.insert(0, f"{paired} paired job(s), shadow.min_jobs is {min_jobs}")
    if missing:
        return "INSUFFICIENT", missing
    return "GO", [f"every design 18 target met on {paired} paired jobs"]


def check_games(
    conn: Conn, pairs: list[JobPair], results: dict[str, Any], exe: str, timeout_s: float
) -> None:
    """Load each succeeded shadow game (files + images) in one Chromium session."""
    from .browser import Chromium, serve_directory

    playable = [p for p in pairs if p.v2_ok and _has_index(results.get(p.job_id))]
    if not playable:
        return
    with tempfile.TemporaryDirectory(prefix="ev2-shadow-") as tmp:
        root = Path(tmp)
        for p in playable:
            _write_game(conn, root / p.job_id, p.job_id, results[p.job_id])
        with serve_directory(root) as url, Chromium(exe) as browser:
            for p in playable:
                p.loads, p.load_errors = _load(browser, f"{url}{p.job_id}/index.html", timeout_s)


def _has_index(result: Any) -> bool:
    files = result.get("files") if isinstance(result, dict) else None
    return isinstance(files, list) and any(
        isinstance(f, dict) and f.get("path") == "index.html" for f in files
    )


def _safe(root: Path, rel: str) -> Path | None:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts:
        return None
    return root.joinpath(*path.parts)


def _write_game(conn: Conn, root: Path, job_id: str, result: dict[str, Any]) -> None:
    for f in result["files"]:
        target = _safe(root, str(f.get("path", "")))
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(str(f.get("content", "")), encoding="utf-8")
    for img in conn.execute(QUERIES["images"], {"job_id": job_id}).fetchall():
        target = _safe(root, str(img["uri"] or ""))
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(img["data_base64"]))


def _load(browser: Any, url: str, timeout_s: float) -> tuple[bool, list[str]]:
    from .browser import DevToolsError

    try:
        with browser.page(url, load_timeout=timeout_s) as page:
            page.settle(2, timeout=min(2.0, timeout_s))  # errors of the first frames count
            # The browser's own favicon request is not the game's.
            errors = [e for e in page.errors() if "/favicon.ico" not in e]
    except DevToolsError as exc:
        return False, [f"load: {exc}"]
    return not errors, errors


def report(conn: Conn, cfg: Config, since_s: float, *, browser: str | None = None) -> ShadowReport:
    """The comparison over shadow runs submitted in the last ``since_s`` seconds."""
    if since_s <= 0:
        raise ShadowError(f"--since must be > 0, got {since_s:g} s")
    pairs, results = v2_jobs(conn, since_s)
    v1_error = attach_v1(conn, cfg, pairs)
    baseline = None
    if cfg.metrics.v1_baseline_query.strip():
        try:
            baseline = slo.v1_figures(conn, cfg.metrics.v1_baseline_query, since_s)
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise
            v1_error = v1_error or f"v1 baseline query failed: {str(exc).strip().splitlines()[0]}"
    if browser and cfg.shadow.browser_check:
        check_games(conn, pairs, results, browser, cfg.shadow.browser_timeout_s)
    paired = [p for p in pairs if p.v1 is not None]
    v2, v1 = figures_v2(paired), figures_v1(paired, baseline)
    rows = []
    for key in slo.SLO_KEYS:
        target, ok = slo.judge(key, v2[key], v1[key])
        rows.append({"key": key, "v1": v1[key], "v2": v2[key], "target": target, "pass": ok})
    decision, reasons = verdict(rows, len(paired), cfg.shadow.min_jobs)
    unloaded = [p.job_id for p in paired if p.loads is False]
    if unloaded:
        reasons.append(f"{len(unloaded)} shadow game(s) did not load cleanly in Chromium")
        if decision == "GO":
            decision, reasons = "NO-GO", reasons[1:]
    return ShadowReport(since_s, pairs, rows, decision, reasons, browser, v1_error)
