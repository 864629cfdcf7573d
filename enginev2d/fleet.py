"""The fleet-wide kill switch and the daemon registry (issue 16; design 4 and 16).

v2 runs on a daemon only while **both** switches are on: its own environment flag
(``ENGINE_V2_ENABLED`` / ``engine.enabled``, per process, design 4) and the fleet switch,
one row in ``engine_v2.engine_switch`` that ``enginev2d disable`` / ``enable`` set for
every daemon at once. Setting it sends ``NOTIFY engine_v2_control``; each daemon's
listener wakes its main loop, which reads the row (its safety poll reads it too).

Every daemon keeps a row in ``engine_v2.daemons`` (start, every heartbeat, stop), so
``enginev2d status`` without a job shows the fleet: who runs, with which flags, holding
which leases.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from . import __version__
from .sql import load_queries

CHANNEL = "engine_v2_control"
QUERIES = load_queries("fleet")

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Switch:
    enabled: bool
    reason: str | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | None) -> Switch:
        if row is None:  # never set: on (the environment flag still gates)
            return cls(True)
        return cls(bool(row["enabled"]), row["reason"], row["changed_by"], row["changed_at"])

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "reason": self.reason,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at,
        }


def default_actor() -> str:
    """Who flipped the switch, for the record: ``user@host``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def read_switch(conn: Conn) -> Switch:
    return Switch.from_row(conn.execute(QUERIES["read_switch"]).fetchone())


def set_switch(
    conn: Conn, enabled: bool, *, reason: str | None = None, actor: str | None = None
) -> Switch:
    """Flip the fleet switch; every daemon hears it at commit (``engine_v2_control``)."""
    params = {"enabled": enabled, "reason": reason, "actor": actor or default_actor()}
    return Switch.from_row(conn.execute(QUERIES["set_switch"], params).fetchone())


def fleet_status(conn: Conn) -> dict[str, Any]:
    """The switch, the registered daemons (alive or stopped within the hour) with their
    flags and leases, and the running runs by lease holder."""
    daemons = [dict(r) for r in conn.execute(QUERIES["fleet_daemons"]).fetchall()]
    leases = [dict(r) for r in conn.execute(QUERIES["lease_owners"]).fetchall()]
    return {"switch": read_switch(conn).to_json(), "daemons": daemons, "leases": leases}


class Registry:
    """This daemon's row in ``engine_v2.daemons`` (written through the caller's pool)."""

    def __init__(self, daemon_id: str, *, env_enabled: bool, max_jobs: int, beat_s: float):
        self.daemon_id = daemon_id
        self.env_enabled = env_enabled
        self.max_jobs = max_jobs
        self.beat_s = beat_s

    def register(self, conn: Conn, *, claiming: bool) -> None:
        conn.execute(
            QUERIES["register_daemon"],
            {
                "daemon_id": self.daemon_id,
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "version": __version__,
                "env_enabled": self.env_enabled,
                "claiming": claiming,
                "max_jobs": self.max_jobs,
                "beat_s": self.beat_s,
            },
        )

    def beat(self, conn: Conn, *, claiming: bool, running_jobs: int) -> None:
        conn.execute(
            QUERIES["beat_daemon"],
            {"daemon_id": self.daemon_id, "claiming": claiming, "running_jobs": running_jobs},
        )

    def stopped(self, conn: Conn) -> None:
        conn.execute(QUERIES["stop_daemon"], {"daemon_id": self.daemon_id})
