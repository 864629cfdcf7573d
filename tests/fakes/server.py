"""A scripted HTTP server on 127.0.0.1 for exercising the real SDKs offline.

Usage::

    with FakeServer() as srv:
        srv.enqueue("/v1/messages", Reply(429, anthropic_error(...), {"retry-after": "3"}),
                    Reply(200, anthropic_message("{}")))
        srv.default("/v1/messages", Reply(200, anthropic_message("{}")))   # when queue empty
        client = Anthropic(base_url=srv.url, ...)
        ...
        assert srv.count("/v1/messages") == 2
        srv.requests[0].json, srv.requests[0].headers, srv.requests[0].path

Routing: a request is matched to the *longest registered route that its path (without
the query string) ends with*, so ``":generateContent"`` matches both
``/v1beta/models/gemini-2.0-flash:generateContent`` and the Vertex
``/v1beta1/projects/p/locations/l/publishers/google/models/m:generateContent``. A scripted
queue is consumed first (FIFO), then the route's default; an unmatched request gets 404.

``Reply(hang=True)`` holds the connection open without answering until the server closes
(or :meth:`FakeServer.release` is called): the client's own timeout fires, with no
sleep in the test. ``Reply(raw=b"...")`` sends a body verbatim (malformed JSON).

Streaming: ``Reply(stream=[(delay_s, b"event: ...\n\n"), ...])`` answers
``text/event-stream`` with chunked transfer encoding, sleeping ``delay_s`` before each
chunk (the server-sent events of :mod:`tests.fakes.wire`); ``drop=True`` closes the
connection after the last chunk without the terminating zero-length chunk (a cut
stream). ``Reply(delay_s=...)`` waits before answering; :attr:`FakeServer.max_inflight`
is the largest number of requests the server was answering at once.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from requests.structures import CaseInsensitiveDict


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes -> verbatim
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    raw: bytes | None = None
    stream: list[tuple[float, bytes]] | None = None  # (delay before, SSE bytes)
    drop: bool = False  # end a stream without its terminating chunk
    delay_s: float = 0.0  # wait before answering

    def encode(self) -> tuple[bytes, str]:
        if self.raw is not None:
            return self.raw, "application/json"
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        return json.dumps(self.body if self.body is not None else {}).encode(), "application/json"


@dataclass
class Recorded:
    method: str
    path: str
    headers: CaseInsensitiveDict[str]  # case-insensitive lookups
    body: bytes
    route: str | None

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")


class FakeServer:
    def __init__(self) -> None:
        self._queues: dict[str, deque[Reply]] = {}
        self._defaults: dict[str, Reply] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._closing = threading.Event()
        self.requests: list[Recorded] = []
        self.inflight = 0
        self.max_inflight = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ API
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def enqueue(self, route: str, *replies: Reply) -> FakeServer:
        with self._lock:
            self._queues.setdefault(route, deque()).extend(replies)
        return self

    def default(self, route: str, reply: Reply) -> FakeServer:
        with self._lock:
            self._defaults[route] = reply
        return self

    def count(self, route: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if route is None or r.route == route)

    def for_route(self, route: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    def release(self) -> None:
        """Let every hanging reply finish (with an empty 200)."""
        self._release.set()

    def close(self) -> None:
        self._closing.set()
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _route(self, path: str) -> str | None:
        bare = path.split("?", 1)[0]
        with self._lock:
            routes = set(self._queues) | set(self._defaults)
        matching = [r for r in routes if bare.endswith(r)]
        return max(matching, key=len) if matching else None

    def _next(self, route: str | None) -> Reply | None:
        if route is None:
            return None
        with self._lock:
            queue = self._queues.get(route)
            if queue:
                return queue.popleft()
            return self._defaults.get(route)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                route = server._route(self.path)
                rec = Recorded(
                    self.command, self.path, CaseInsensitiveDict(self.headers.items()), body, route
                )
                with server._lock:
                    server.requests.append(rec)
                reply = server._next(route)
                if reply is None:
                    reply = Reply(404, {"error": {"message": f"no route for {self.path}"}})
                with server._lock:
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                try:
                    self._answer(reply)
                finally:
                    with server._lock:
                        server.inflight -= 1

            def _answer(self, reply: Reply) -> None:
                if reply.hang:
                    server._release.wait(60)
                    reply = Reply(200, {})
                if reply.delay_s:
                    server._closing.wait(reply.delay_s)
                if reply.stream is not None:
                    self._stream(reply)
                    return
                payload, ctype = reply.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _stream(self, reply: Reply) -> None:
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    for delay, data in reply.stream or []:
                        if delay and server._closing.wait(delay):
                            return  # server closing
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    if reply.drop:
                        self.close_connection = True
                        return
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_POST = _serve
            do_GET = _serve

        return Handler
