"""The chaos run's report: the table, the details line, and for a job that broke the bar
(or was killed and did not finish in v2) what the daemons logged about it."""

from __future__ import annotations

import json
from typing import Any

from .tally import Tally


def brief_log_line(daemon: str, line: str) -> str:
    """``HH:MM:SS,mmm daemon action message`` from one JSON log line."""
    try:
        rec = json.loads(line)
    except ValueError:
        return f"?? {daemon} {line[:300]}"
    when = str(rec.get("time", ""))[11:]
    message = (str(rec.get("message", "")).splitlines() or [""])[0]
    return f"{when} {daemon} {rec.get('action', '-')} {message[:240]}"


# --------------------------------------------------------------------------- report


def violators(t: Tally) -> list[str]:
    ids = t.lost + t.published_twice + t.published_then_failed_over + t.completed_twice
    for jobs in t.anomalies.values():
        ids += jobs
    return sorted(set(ids))


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def render(res: dict[str, Any]) -> str:
    t = res["tally"]
    races = str(t["killed_races"])
    failed = t["failed_unexpectedly"]
    unexpected = str(sum(len(v) for v in failed.values()))
    if failed:
        unexpected += " (" + ", ".join(f"{k} {len(v)}" for k, v in sorted(failed.items())) + ")"
    rows = [
        ("jobs (designed to fail)", f"{t['jobs']} ({res['designed_to_fail']})", ""),
        ("daemons (+ crash_after_swap)", f"{res['daemons']} (+{res['crash_daemons']})", ""),
        ("random SIGKILLs", str(res["kills"]), ">= 50"),
        ("crash_after_swap self-kills", str(res["self_kills"]), ""),
        ("PostgreSQL restarts", ", ".join(res["pg_modes"]) or "0", "2"),
        ("jobs lost", str(len(t["lost"])), "0"),
        ("jobs published twice", str(len(t["published_twice"])), "0"),
        ("published then failed over", str(len(t["published_then_failed_over"])), "0"),
        ("public.jobs completed more than once", str(len(t["completed_twice"])), "0"),
        ("killed jobs (not designed to fail)", str(t["killed"]), ""),
        ("  of which lost a publish race (legitimate v2_concurrent_apply)", races, ""),
        ("  finished in v2 (succeeded)", str(t["killed_succeeded"]), ""),
        ("killed jobs finishing in v2, races left out", pct(t["killed_share"]), ">= 95 %"),
        ("killed jobs finishing in v2, races counted", pct(t["killed_share_strict"]), ""),
        ("jobs failed over unexpectedly (not designed, no race lost)", unexpected, ""),
        ("other broken invariants", str(sum(len(v) for v in t["anomalies"].values())), "0"),
        ("run time", f"{res['elapsed_s']:.0f} s", ""),
    ]
    out = ["| measure | value | bar |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def render_details(res: dict[str, Any]) -> str:
    t = res["tally"]
    return "\n".join(
        [
            f"seed {res['seed']}; code {res['code']}; runs by status {t['by_status']}; "
            f"fallback codes {t['fallback_codes']}; killed jobs' failures {t['killed_failures']}",
            f"kill points (running tasks of the killed daemons' jobs): {res['kill_points']}",
            f"killed jobs by how often their daemon died, [jobs, succeeded]: {t['by_losses']}",
            f"engine: {res['engine']}; daemon processes started {res['daemon_starts']}; "
            f"unexpected exits {res['unexpected_exits']}",
            f"load average before {res['loadavg_before']}, after {res['loadavg_after']}; "
            f"bar {'MET' if t['bar_met'] else 'NOT met'} (counting lost publish races as "
            f"failures to finish: {'met' if t['bar_met_strict'] else 'not met'})",
        ]
    )
