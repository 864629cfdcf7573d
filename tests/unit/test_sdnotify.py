import os
import socket
from pathlib import Path

from enginev2d.sdnotify import Notifier, socket_address, watchdog_interval_s


def _receiver(path: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    return sock


def test_no_socket_is_a_noop() -> None:
    n = Notifier(env={})
    assert not n.enabled
    assert n.ready() is False
    assert n.watchdog() is False


def test_path_socket_receives_states(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with _receiver(path) as rx:
        n = Notifier(env={"NOTIFY_SOCKET": path})
        assert n.ready("up")
        assert rx.recv(4096) == b"READY=1\nSTATUS=up"
        assert n.watchdog()
        assert rx.recv(4096) == b"WATCHDOG=1"
        assert n.stopping()
        assert rx.recv(4096) == b"STOPPING=1"


def test_abstract_namespace_socket() -> None:
    name = f"enginev2d-test-{os.getpid()}"
    assert socket_address({"NOTIFY_SOCKET": "@" + name}) == b"\0" + name.encode()
    with _receiver(b"\0" + name.encode()) as rx:
        assert Notifier(env={"NOTIFY_SOCKET": "@" + name}).notify("READY=1")
        assert rx.recv(4096) == b"READY=1"


def test_broken_socket_never_raises(tmp_path: Path) -> None:
    n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "missing.sock")})
    assert n.ready() is False
    assert n.ready() is False


def test_watchdog_interval() -> None:
    pid = str(os.getpid())
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "junk"}) is None
