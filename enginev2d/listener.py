"""LISTEN engine_v2_jobs and engine_v2_control on a dedicated autocommit connection, in a
thread.

Notifications are hints: every one wakes the daemon's main loop, which claims whatever
is claimable (``reason="notify"``), or re-reads the fleet kill switch
(``reason="control"``, :mod:`enginev2d.fleet`). Notifications sent while disconnected
are lost, so every (re)connect also wakes the loop with ``reason="reconnect"`` (one poll
after every reconnect). A broken connection (server restart, ``pg_terminate_backend``,
network drop) is replaced with backoff until the stop event is set.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from . import metrics
from .backoff import Backoff
from .config import Config
from .db import connect_kwargs
from .fleet import CHANNEL as CONTROL_CHANNEL

logger = logging.getLogger(__name__)

CHANNEL = "engine_v2_jobs"
CHANNELS = (CONTROL_CHANNEL, CHANNEL)  # jobs last: pg_stat_activity shows it (bench)
APPLICATION_NAME = "enginev2d-listener"

WakeCallback = Callable[[str, "str | None"], None]


class Listener:
    NOTIFY_TIMEOUT_S: float = 0.5  # longest stretch inside notifies(): bounds stop latency
    PING_S: float = 5.0  # idle liveness check of the connection
    # TCP keepalive: a silently dropped network is noticed within about this long.
    TCP_USER_TIMEOUT_MS: int = 10000

    def __init__(
        self,
        cfg: Config,
        stop: threading.Event,
        on_wake: WakeCallback,
        *,
        application_name: str = APPLICATION_NAME,
    ) -> None:
        self.cfg = cfg
        self.stop = stop
        self.on_wake = on_wake
        self.application_name = application_name
        self.backend_pid: int | None = None
        self.connects = 0
        self.last_tick = time.monotonic()
        self.connected = threading.Event()

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        # Tighter keepalives than the pool's: a dead listener means missed wake-ups.
        kwargs = {
            **connect_kwargs(self.cfg, application_name=self.application_name),
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "tcp_user_timeout": self.TCP_USER_TIMEOUT_MS,
        }
        return psycopg.connect(
            self.cfg.database.url, autocommit=True, row_factory=dict_row, **kwargs
        )

    def run(self) -> None:
        """Thread body: returns only when the stop event is set."""
        backoff = Backoff()
        while not self.stop.is_set():
            self.last_tick = time.monotonic()
            try:
                conn = self._connect()
            except psycopg.Error as exc:
                delay = backoff.next_delay()
                logger.warning(
                    "listener cannot connect (retry in %.1fs): %s",
                    delay,
                    _first_line(exc),
                    extra={"action": "listener_connect_failed", "retry_in_s": round(delay, 3)},
                )
                self.stop.wait(delay)
                continue
            try:
                with conn:
                    for channel in CHANNELS:
                        conn.execute(f"LISTEN {channel}")
                    self._on_connected(conn)
                    backoff.reset()
                    self._listen(conn)
            except psycopg.Error as exc:
                self.connected.clear()
                if self.stop.is_set():
                    break
                delay = backoff.next_delay()
                logger.warning(
                    "listener connection lost (reconnect in %.1fs): %s",
                    delay,
                    _first_line(exc),
                    extra={"action": "listener_lost", "retry_in_s": round(delay, 3)},
                )
                self.stop.wait(delay)
            finally:
                self.connected.clear()
                self.backend_pid = None

    def _on_connected(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self.backend_pid = conn.info.backend_pid
        self.connects += 1
        if self.connects == 1:
            logger.info(
                "listening on %s",
                ", ".join(CHANNELS),
                extra={"action": "listener_connected", "backend_pid": self.backend_pid},
            )
        else:
            metrics.listener_reconnected()
            logger.info(
                "listener reconnected on %s",
                ", ".join(CHANNELS),
                extra={"action": "listener_reconnected", "backend_pid": self.backend_pid},
            )
        self.connected.set()
        self.on_wake("reconnect", None)  # notifications sent while away are lost: poll

    def _listen(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        last_ping = time.monotonic()
        while not self.stop.is_set():
            self.last_tick = time.monotonic()
            for note in conn.notifies(timeout=self.NOTIFY_TIMEOUT_S):
                if note.channel == CONTROL_CHANNEL:
                    self.on_wake("control", None)
                else:
                    self.on_wake("notify", _job_id(note.payload))
                if self.stop.is_set():
                    return
            if time.monotonic() - last_ping >= self.PING_S:
                conn.execute("SELECT 1")
                last_ping = time.monotonic()


def _job_id(payload: str) -> str | None:
    try:
        value = json.loads(payload).get("job_id")
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
