"""A TCP relay in front of PostgreSQL that can lose a commit's acknowledgement.

Armed with a marker (bytes of a statement's text), the first connection that sends it
loses the reply that ends its transaction: replies are held until each ReadyForQuery,
passed on while the transaction is open, and at the first ReadyForQuery with status idle
(the statement committed in autocommit, or the COMMIT of its block did) dropped, both
sides closed. The client sees what it sees when the network or a proxy dies at that
moment: ``server closed the connection unexpectedly``, the commit made. Everything else
is relayed untouched.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from urllib.parse import urlsplit, urlunsplit

READY = ord("Z")
IDLE = ord("I")


class AckLosingProxy:
    """Lifecycle: construct (listens at once), :meth:`arm` before the write to lose,
    :meth:`close` last. ``lost`` counts the acknowledgements lost so far."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._server = socket.create_server(("127.0.0.1", 0))
        port = self._server.getsockname()[1]
        self.url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))
        self.lost = 0
        self._marker: bytes | None = None
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, name="pgproxy", daemon=True).start()

    def arm(self, marker: bytes) -> None:
        with self._lock:
            self._marker = marker

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            _shut(s)

    # ------------------------------------------------------------------ relay
    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self._socks += [client, upstream]
            armed = threading.Event()
            threading.Thread(
                target=self._client_to_server, args=(client, upstream, armed), daemon=True
            ).start()
            threading.Thread(
                target=self._server_to_client, args=(upstream, client, armed), daemon=True
            ).start()

    def _client_to_server(
        self, client: socket.socket, upstream: socket.socket, armed: threading.Event
    ) -> None:
        tail = b""
        while data := _recv(client):
            with self._lock:
                marker = self._marker
                if marker is not None and marker in tail + data:
                    self._marker = None
                    armed.set()  # before the server can answer it
            tail = (tail + data)[-256:]
            if not _send(upstream, data):
                break
        _shut(upstream)

    def _server_to_client(
        self, upstream: socket.socket, client: socket.socket, armed: threading.Event
    ) -> None:
        buf, held = b"", b""
        while data := _recv(upstream):
            buf += data
            while len(buf) >= 5:  # type byte + length (the startup reply is typed too)
                size = 1 + struct.unpack("!I", buf[1:5])[0]
                if len(buf) < size:
                    break
                msg, buf = buf[:size], buf[size:]
                if not armed.is_set():
                    out = msg
                elif msg[0] != READY:
                    held, out = held + msg, b""
                elif msg[5] == IDLE:  # the transaction committed: nobody hears it
                    with self._lock:
                        self.lost += 1
                    _shut(client)
                    _shut(upstream)
                    return
                else:  # still in its transaction: the reply goes through
                    held, out = b"", held + msg
                if out and not _send(client, out):
                    return
        _shut(client)


def _recv(s: socket.socket) -> bytes:
    try:
        return s.recv(65536)
    except OSError:
        return b""


def _send(s: socket.socket, data: bytes) -> bool:
    try:
        s.sendall(data)
        return True
    except OSError:
        return False


def _shut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
