"""Pure helpers shared by the benchmarks: statistics, CPU accounting from /proc, the
injected job options, deadlines, machine facts."""

from __future__ import annotations

import copy
import os
import platform
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")

# The design's DAG7 with every task completed by an injected output (no model, no git).
INDEX_HTML = (
    "<!doctype html><title>b</title><canvas></canvas><script>requestAnimationFrame(()=>0)</script>"
)
INJECT_OUTPUTS: dict[str, dict[str, Any]] = {
    "intent": {"intent": "edit"},
    "plan": {
        "dimension": "2d",
        "skills": [],
        "template_id": "snake",
        "image_count": 0,
        "codegen_strategy": "template",
        "image_specs": [],
    },
    "codegen": {"files": [{"path": "index.html", "content": INDEX_HTML}], "summary": "bench"},
    "asset": {"images": []},
    # issues=1 so fix runs and all seven tasks execute.
    "qa_review": {
        "issues": 1,
        "findings": [{"severity": "warning", "description": "d", "fix_hint": "h"}],
    },
    "fix": {"files": [{"path": "index.html", "content": INDEX_HTML}]},
    "publish_prep": {"commit_hash": "0000000"},
}
TASK_KEYS = tuple(INJECT_OUTPUTS)

# The design's model latencies (section 7.2) scaled from seconds to milliseconds.
SCALED_LATENCY_MS = {
    "intent": 10,
    "plan": 30,
    "codegen": 150,
    "asset": 200,
    "qa_review": 30,
    "fix": 50,
    "publish_prep": 10,
}
DAG_EDGES = (
    ("intent", "plan"),
    ("plan", "codegen"),
    ("plan", "asset"),
    ("codegen", "qa_review"),
    ("qa_review", "fix"),
    ("fix", "publish_prep"),
    ("asset", "publish_prep"),
)


def inject_options(latency_ms: Mapping[str, int] | None = None) -> dict[str, Any]:
    """``submit_job`` options completing every task with an injected output."""
    inject: dict[str, Any] = {}
    for key, output in INJECT_OUTPUTS.items():
        spec: dict[str, Any] = {"output": copy.deepcopy(output)}
        if latency_ms and latency_ms.get(key):
            spec["latency_ms"] = int(latency_ms[key])
        inject[key] = spec
    return {"inject": inject}


def critical_path_ms(
    latency_ms: Mapping[str, int], edges: Iterable[tuple[str, str]] = DAG_EDGES
) -> int:
    """Longest path through the DAG weighted by task latency."""
    preds: dict[str, list[str]] = {k: [] for k in latency_ms}
    for a, b in edges:
        preds[b].append(a)
    memo: dict[str, int] = {}

    def finish(key: str) -> int:
        if key not in memo:
            memo[key] = latency_ms[key] + max((finish(p) for p in preds[key]), default=0)
        return memo[key]

    return max(finish(k) for k in latency_ms)


@dataclass(frozen=True)
class DagShape:
    """What a task must do when it finishes, for a peer that chains the DAG itself
    (bench/pgqueuer_worker.py): its successors, and which of them are joins (more than
    one predecessor: started by whichever predecessor finishes last)."""

    roots: tuple[str, ...]
    successors: dict[str, tuple[str, ...]]
    joins: dict[str, int]  # task -> number of predecessors, only where > 1
    sinks: tuple[str, ...]


def dag_shape(
    keys: Sequence[str] = TASK_KEYS, edges: Iterable[tuple[str, str]] = DAG_EDGES
) -> DagShape:
    succ: dict[str, list[str]] = {k: [] for k in keys}
    preds: dict[str, int] = dict.fromkeys(keys, 0)
    for a, b in edges:
        if a not in succ or b not in succ:
            raise ValueError(f"edge {a} -> {b} names a task outside {list(keys)}")
        succ[a].append(b)
        preds[b] += 1
    return DagShape(
        roots=tuple(k for k in keys if preds[k] == 0),
        successors={k: tuple(v) for k, v in succ.items()},
        joins={k: n for k, n in preds.items() if n > 1},
        sinks=tuple(k for k in keys if not succ[k]),
    )


def ready_successors(shape: DagShape, done: str, joins_left: Mapping[str, int]) -> list[str]:
    """The successors of ``done`` that become ready now. ``joins_left`` gives, for each
    join among them, its predecessors still outstanding once ``done`` is counted (the
    value the counter's decrement returned): a join is ready when that reaches 0."""
    return [s for s in shape.successors[done] if s not in shape.joins or joins_left[s] == 0]


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default), p in [0, 100]."""
    if not values:
        return float("nan")
    if not 0 <= p <= 100:
        raise ValueError("p must be within [0, 100]")
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    rank = (len(data) - 1) * p / 100.0
    lo = int(rank)
    hi = min(lo + 1, len(data) - 1)
    frac = rank - lo
    return float(data[lo] + (data[hi] - data[lo]) * frac)


def summarize(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": float(min(values)),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": float(max(values)),
        "mean": float(sum(values) / len(values)),
    }


# --------------------------------------------------------------------------- deadlines


class BenchError(RuntimeError):
    """A benchmark could not complete (daemon died, deadline passed, job failed)."""


@dataclass
class Deadline:
    seconds: float
    what: str
    start: float = field(default_factory=time.monotonic)

    @property
    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def check(self) -> None:
        if self.remaining <= 0:
            raise BenchError(f"deadline of {self.seconds:.0f}s passed while {self.what}")


# --------------------------------------------------------------------------- CPU from /proc


@dataclass(frozen=True)
class ProcTimes:
    pid: int
    ppid: int
    utime: int  # clock ticks
    stime: int
    cutime: int
    cstime: int


def parse_stat(text: str) -> ProcTimes:
    """Parse one /proc/PID/stat line (the comm field may contain spaces and parens)."""
    pid = int(text.split(" ", 1)[0])
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime is field 14, i.e. rest[11].
    return ProcTimes(
        pid=pid,
        ppid=int(rest[1]),
        utime=int(rest[11]),
        stime=int(rest[12]),
        cutime=int(rest[13]),
        cstime=int(rest[14]),
    )


def read_proc(pid: int, proc: Path = Path("/proc")) -> ProcTimes | None:
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None


def all_procs(proc: Path = Path("/proc")) -> list[ProcTimes]:
    out = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            pt = read_proc(int(entry.name), proc)
            if pt is not None:
                out.append(pt)
    return out


def tree_ticks(root: int, procs: Sequence[ProcTimes]) -> int:
    """CPU ticks of a process: its own user+system time, the reaped children it waited
    for (cutime+cstime) and every live descendant's user+system time."""
    user, system = tree_ticks_split(root, procs)
    return user + system


def tree_ticks_split(root: int, procs: Sequence[ProcTimes]) -> tuple[int, int]:
    """(user, system) ticks of a process tree, counted as in :func:`tree_ticks`."""
    by_parent: dict[int, list[ProcTimes]] = {}
    by_pid = {p.pid: p for p in procs}
    for p in procs:
        by_parent.setdefault(p.ppid, []).append(p)
    me = by_pid.get(root)
    if me is None:
        return 0, 0
    user, system = me.utime + me.cutime, me.stime + me.cstime
    stack = list(by_parent.get(root, []))
    while stack:
        child = stack.pop()
        # A live child's reaped grandchildren count too (cutime/cstime).
        user += child.utime + child.cutime
        system += child.stime + child.cstime
        stack.extend(by_parent.get(child.pid, []))
    return user, system


def own_ticks(pids: Iterable[int], procs: Sequence[ProcTimes]) -> int:
    by_pid = {p.pid: p for p in procs}
    return sum(by_pid[p].utime + by_pid[p].stime for p in pids if p in by_pid)


@dataclass
class CpuSnapshot:
    ticks: dict[str, int]
    at: float


class CpuMeter:
    """CPU seconds of named process trees between two snapshots.

    ``trees`` maps a name to a root pid (whole tree counted); ``exclude`` maps a name to
    pids (own time only) subtracted from ``subtract_from`` (e.g. the bench client's own
    PostgreSQL backends, which do the submitting and are not engine work).
    """

    def __init__(
        self,
        trees: Mapping[str, int],
        exclude: Iterable[int] = (),
        subtract_from: str | None = None,
    ) -> None:
        self.trees = dict(trees)
        self.exclude = list(exclude)
        self.subtract_from = subtract_from

    def snapshot(self) -> CpuSnapshot:
        procs = all_procs()
        ticks = {}
        for name, pid in self.trees.items():
            user, system = tree_ticks_split(pid, procs)
            ticks[name] = user + system
            ticks[f"{name}.sys"] = system
        ticks["excluded"] = own_ticks(self.exclude, procs)
        return CpuSnapshot(ticks, time.monotonic())

    def delta(self, a: CpuSnapshot, b: CpuSnapshot) -> dict[str, float]:
        out = {name: (b.ticks[name] - a.ticks[name]) / CLK_TCK for name in b.ticks}
        if self.subtract_from:
            out[self.subtract_from] -= out["excluded"]
        return out


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


# --------------------------------------------------------------------------- machine


def machine_info(pg_version: str) -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        nproc = str(os.cpu_count())
    return {
        "nproc": nproc,
        "cpu": model,
        "ram": mem_gb,
        "postgresql": pg_version,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
