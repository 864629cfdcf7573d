"""systemd notification protocol without extra packages (sd_notify(3)).

A state string (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``, ``STATUS=...``) is sent as
one datagram to the AF_UNIX socket named by ``$NOTIFY_SOCKET``; a leading ``@`` means
the Linux abstract namespace. Outside systemd (no variable) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)


def socket_address(env: Mapping[str, str] | None = None) -> str | bytes | None:
    env = os.environ if env is None else env
    addr = env.get("NOTIFY_SOCKET", "")
    if not addr:
        return None
    if addr.startswith("@"):
        return b"\0" + addr[1:].encode()
    return addr


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """systemd's WatchdogSec for this process, or None when no watchdog is asked."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


class Notifier:
    """Sends notifications; never raises (a broken socket is logged once)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.address = socket_address(env)
        self.watchdog_s = watchdog_interval_s(env)
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, state: str) -> bool:
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(state.encode())
            return True
        except OSError as exc:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "sd_notify failed: %s",
                    exc,
                    extra={"action": "sdnotify_failed"},
                )
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")
