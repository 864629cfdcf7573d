"""The daemon's CPU affinity (``daemon.cpu_affinity``, issue 17).

The daemon is one Python process whose many threads (three workers per job, the
completer's leaders, the intake, the watch) take turns on the GIL. On several cores every
hand-off between them moves the interpreter's state from one core to another and wakes
threads that only find the GIL taken: in ``make bench``'s throughput run that was 10-23 %
of the daemon's CPU. Pinned to one core, the same threads hand over on that core. Python
code cannot use a second core anyway; what a pin costs is the parallelism of work done
without the GIL, which the daemon's own threads hardly have.

Its children are not the daemon: Chromium (the QA browser check), git and an embedded
PostgreSQL are started with the CPUs the process had before the pin (:func:`unpinned`).

Off by default: a pinned process cannot be moved off a core another program keeps busy,
so it is for hosts whose cores the operator plans (the same as systemd's
``CPUAffinity=``, which would pin Chromium too).

Linux only (``sched_setaffinity``); the setting is refused at start elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pinned: frozenset[int] | None = None  # the daemon's CPUs while pinned
_before: frozenset[int] | None = None  # the process's CPUs before the pin (children's)


def parse_cpu_list(spec: str) -> frozenset[int]:
    """A CPU list as taskset and systemd write it (``"1"``, ``"0,2"``, ``"4-7,9"``);
    ValueError with the reason when it is not one."""
    cpus: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"{part!r} is not a CPU number or range")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"{part!r} is an empty range")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def configured_cpus(spec: str) -> frozenset[int]:
    """``daemon.cpu_affinity`` as CPUs; ConfigError (one line) when it is no CPU list."""
    try:
        return parse_cpu_list(spec)
    except ValueError as exc:
        raise ConfigError(f"config: daemon.cpu_affinity: {exc}") from None


def format_cpu_list(cpus: frozenset[int] | set[int]) -> str:
    """``{0, 1, 2, 5}`` -> ``"0-2,5"``."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and runs[-1][1] == cpu - 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def available() -> frozenset[int]:
    """The CPUs this thread may run on now."""
    return frozenset(os.sched_getaffinity(0))


REFUSED = (
    "config: daemon.cpu_affinity: this process may not set its CPUs (a seccomp filter "
    "such as systemd's SystemCallFilter= must allow sched_setaffinity)"
)


def usable(spec: str) -> frozenset[int]:
    """The CPUs ``spec`` names, when this process may run on all of them; else
    ConfigError (one line). What :func:`pin` checks first, and ``enginev2d doctor``."""
    if not hasattr(os, "sched_setaffinity"):
        raise ConfigError("config: daemon.cpu_affinity needs Linux (sched_setaffinity)")
    cpus = configured_cpus(spec)
    allowed = available()
    if not cpus <= allowed:
        raise ConfigError(
            f"config: daemon.cpu_affinity names CPU {format_cpu_list(cpus - allowed)}, "
            f"which this process may not use (allowed: {format_cpu_list(allowed)})"
        )
    return cpus


def may_set() -> bool:
    """Whether this process may set its CPUs at all (a seccomp filter may refuse the
    call): the calling thread is given the CPUs it has."""
    try:
        os.sched_setaffinity(0, available())
    except PermissionError:
        return False
    return True


def pin(spec: str) -> frozenset[int] | None:
    """Pin every thread of this process (and so every thread it starts later) to the
    CPUs ``spec`` names; ``""`` pins nothing. ConfigError (one line) when ``spec`` names
    a CPU this process may not use, or the call is refused, or the platform has none."""
    global _pinned, _before
    if not spec.strip():
        return None
    cpus = usable(spec)
    allowed = available()
    with _lock:
        try:
            for tid in _threads():
                with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                    os.sched_setaffinity(tid, cpus)
        except PermissionError:  # seccomp (a systemd unit without sched_setaffinity)
            for tid in _threads():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(tid, allowed)
            raise ConfigError(REFUSED) from None
        if _before is None:
            _before = allowed
        _pinned = cpus
    logger.info(
        "pinned to CPU %s (children get %s)",
        format_cpu_list(cpus),
        format_cpu_list(_before),
        extra={"action": "cpu_affinity"},
    )
    return cpus


def unpin() -> None:
    """Give every thread the CPUs the process had before :func:`pin` (tests, tools)."""
    global _pinned, _before
    with _lock:
        if _before is not None:
            for tid in _threads():
                with contextlib.suppress(ProcessLookupError):
                    os.sched_setaffinity(tid, _before)
        _pinned = _before = None


@contextlib.contextmanager
def unpinned() -> Iterator[None]:
    """Around starting a child process: the calling thread gets the CPUs the process had
    before the pin, so the child inherits them (Linux affinity is per thread, and a child
    starts with its parent thread's); the thread is pinned again afterwards."""
    before, pinned = _before, _pinned
    if before is None or pinned is None:
        yield
        return
    os.sched_setaffinity(0, before)
    try:
        yield
    finally:
        os.sched_setaffinity(0, pinned)


def _threads() -> list[int]:
    """The ids of this process's threads (Linux: ``/proc/self/task``)."""
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]  # no /proc: the calling thread (threads it starts inherit its CPUs)


def thread_cpus(pid: int) -> dict[int, frozenset[int]]:
    """Every thread of ``pid`` and its CPUs (what the tests look at)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        status = Path(f"/proc/{pid}/task/{tid}/status")
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("Cpus_allowed_list:"):
                    out[int(tid)] = parse_cpu_list(line.split(":", 1)[1].strip())
    return out
