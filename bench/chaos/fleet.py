"""The chaos run's daemons: seats that are restarted as a new process (a new
incarnation, a new ``daemon_id``, a new log) after every death. They share one database,
one projects_root and one staging_root, as daemons that take over each other's jobs must.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common import Deadline
from ..daemonproc import Daemon

DAEMON_KEYS: dict[str, Any] = {
    "max_concurrent_jobs": 8,
    "workers_per_job": 3,
    "poll_interval_s": 0.3,
    "lease_s": 2.0,
    "shutdown_grace_s": 5.0,
    "job_timeout_s": 300.0,  # longer than the run: a stuck job shows up as lost
}
CRASHER_MAX_JOBS = 2


@dataclass
class Slot:
    """One daemon seat: restarted as a new process (a new incarnation) after each kill."""

    name: str
    crash_after_swap: bool = False
    incarnation: int = 0
    daemon: Daemon | None = None
    daemon_id: str = ""
    restart_at: float | None = None
    exits: list[int] = field(default_factory=list)

    def alive(self) -> bool:
        return self.daemon is not None and self.daemon.exited() is None


class Fleet:
    def __init__(self, state: Path, url: str, normal: int, crashers: int) -> None:
        self.dir = state / "daemons"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.shared = {
            "projects_root": str(state / "projects"),
            "staging_root": str(state / "staging"),
        }
        self.slots = [Slot(f"d{i}") for i in range(normal)]
        self.slots += [Slot(f"crash{i}", crash_after_swap=True) for i in range(crashers)]
        self.starts = 0

    def start(self, slot: Slot) -> None:
        slot.incarnation += 1
        slot.daemon_id = f"chaos-{slot.name}-{slot.incarnation}"
        extra = {
            "paths": self.shared,
            "logging": {"level": "INFO", "format": "json"},
            "testing": {"allow_inject": True, "crash_after_swap": slot.crash_after_swap},
        }
        keys = {**DAEMON_KEYS, "daemon_id": slot.daemon_id}
        if slot.crash_after_swap:  # it dies at every publish: keep its collateral small
            keys["max_concurrent_jobs"] = CRASHER_MAX_JOBS
        slot.daemon = Daemon(self.dir, f"{slot.name}.{slot.incarnation}", self.url, keys, extra)
        slot.daemon.start()
        slot.restart_at = None
        self.starts += 1

    def normal(self) -> list[Slot]:
        return [s for s in self.slots if not s.crash_after_swap]

    def logs(self) -> list[Path]:
        return sorted(self.dir.glob("*.log"))

    def stop_all(self) -> dict[str, int | None]:
        out = {}
        for s in self.slots:
            if s.alive():
                assert s.daemon is not None
                out[f"{s.name}.{s.incarnation}"] = s.daemon.stop(grace_s=20.0)
        return out


def wait_ready(fleet: Fleet, deadline: Deadline) -> None:
    """Every daemon logged daemon_ready (its first poll ran)."""
    for s in fleet.slots:
        assert s.daemon is not None
        while '"daemon_ready"' not in s.daemon.log_path.read_text(errors="replace"):
            deadline.check()
            s.daemon.alive()
            time.sleep(0.05)
