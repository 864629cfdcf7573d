"""Supervision of the daemon: its side threads (restarted when they die), health for the
systemd watchdog (pinged only while the loops really advance), and signals."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from .backoff import Backoff
from .listener import Listener
from .logsetup import context_logger

if TYPE_CHECKING:
    from .daemon import Daemon

logger = context_logger(__name__)


class SideThread:
    """A supervised background thread: the main loop restarts it when it dies."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self.name = name
        self.target = target
        self.thread: threading.Thread | None = None
        self.restarts: list[float] = []

    def start(self) -> None:
        self.thread = threading.Thread(target=self._body, name=self.name, daemon=True)
        self.thread.start()

    def _body(self) -> None:
        try:
            self.target()
        except Exception:
            logger.exception(
                "%s thread crashed",
                self.name,
                extra={"action": "thread_crashed", "thread_name": self.name},
            )
            # The thread ends here; the main loop sees it dead and restarts it.

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def join(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout)


class Supervisor:
    # A side thread may die this often per window before the daemon gives up.
    MAX_RESTARTS = 5
    RESTART_WINDOW_S = 60.0

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self.sides: list[SideThread] = []
        self._last_watchdog = 0.0

    def start(self, name: str, target: Callable[[], None]) -> None:
        side = SideThread(name, target)
        self.sides.append(side)
        side.start()

    def join(self, timeout: float) -> None:
        for side in self.sides:
            side.join(timeout)

    def supervise(self) -> None:
        """(main loop) Restart a dead side thread; give up when one keeps dying."""
        for side in self.sides:
            if side.alive() or self.d.stop_event.is_set():
                continue
            now = time.monotonic()
            side.restarts = [t for t in side.restarts if now - t < self.RESTART_WINDOW_S]
            if len(side.restarts) >= self.MAX_RESTARTS:
                logger.critical(
                    "%s thread keeps dying: stopping the daemon",
                    side.name,
                    extra={"action": "daemon_giving_up", "thread_name": side.name},
                )
                self.d.exit_code = 1
                self.d.request_stop(f"{side.name} thread died")
                return
            side.restarts.append(now)
            logger.error(
                "%s thread died: restarting",
                side.name,
                extra={"action": "thread_restarted", "thread_name": side.name},
            )
            side.start()

    def healthy(self, now: float | None = None) -> bool:
        """True while the main loop, the heartbeat and the listener really advance."""
        d = self.d
        now = time.monotonic() if now is None else now
        slack = Backoff.MAX_S + d.CONN_TIMEOUT_S + 5.0
        if now - d.loop_tick > d.cfg.daemon.poll_interval_s + slack:
            return False
        if now - d.leases.tick > d.cfg.heartbeat_s + slack:
            return False
        if d.listener is not None:
            limit = d.cfg.database.connect_timeout_s + Listener.PING_S + slack
            if now - d.listener.last_tick > limit:
                return False
        return all(side.alive() for side in self.sides)

    def watchdog(self) -> None:
        """(main loop) WATCHDOG=1 to systemd, only while :meth:`healthy`."""
        interval = self.d.notifier.watchdog_s
        if not interval:
            return
        now = time.monotonic()
        if now - self._last_watchdog < interval / 3:
            return
        if self.healthy(now):
            self._last_watchdog = now
            self.d.notifier.watchdog()
        else:
            logger.error(
                "loops stalled: not pinging the watchdog", extra={"action": "watchdog_withheld"}
            )


class SignalHandler:
    """First signal: graceful stop. Second: forced stop. Third: exit at once."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.daemon.request_stop(name)
        elif self.count == 2:
            self.daemon.request_force_stop(name)
        else:
            os._exit(130)

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self)
