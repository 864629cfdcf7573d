"""Logging: JSON (python-json-logger) or text lines, job context, secrets redacted.

* ``bind(job_id=..., task_key=...)`` puts context on every record logged by the
  current thread inside the block (a contextvar). A plain new thread starts empty;
  :func:`context_thread` starts one in a copy of the caller's context instead.
* Every handler output goes through :class:`Redactor`: passwords in connection URLs and
  DSNs, well-known API key shapes, and the literal values of secret-looking environment
  variables and of the configured database password never reach a log line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pythonjsonlogger.json import JsonFormatter

from .config import Config

CONTEXT_FIELDS = ("job_id", "task_key")
_EMPTY: Mapping[str, str] = types.MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "enginev2d_log_context", default=_EMPTY
)

# Attributes of every LogRecord: anything else on a record came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

REDACTED = "***"
_SECRET_ENV = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|DATABASE_URL)", re.I)
_PATTERNS = (
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
    # libpq key/value DSN and query strings: password=... / api_key=...
    (
        re.compile(r"((?:password|passwd|api[_-]?key|secret|token)\s*[=:]\s*)[^\s&,;\"']+", re.I),
        r"\1" + REDACTED,
    ),
    (re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"), REDACTED),  # Anthropic
    (re.compile(r"AIza[0-9A-Za-z_\-]{20,}"), REDACTED),  # Google API keys
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]{8,}", re.I), r"\1" + REDACTED),
)


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (e.g. job_id, task_key) to every record logged inside the block."""
    current = dict(_context.get())
    current.update({k: str(v) for k, v in fields.items() if v is not None})
    token = _context.set(current)
    try:
        yield
    finally:
        _context.reset(token)


def context_thread(
    target: Callable[..., Any],
    *,
    name: str,
    args: tuple[Any, ...] = (),
    daemon: bool = True,
    **fields: Any,
) -> threading.Thread:
    """A (not yet started) thread running ``target`` in a copy of the caller's logging
    context (``contextvars.copy_context()``) plus ``fields``: a job's or a worker's
    thread logs ``job_id`` / ``task_key`` on every line without passing them by hand."""
    ctx = contextvars.copy_context()

    def body() -> None:
        with bind(**fields):
            target(*args)

    return threading.Thread(target=ctx.run, args=(body,), name=name, daemon=daemon)


class ContextFilter(logging.Filter):
    """Copies the bound context onto the record (explicit ``extra=`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def context_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` whose records carry the bound context (job_id,
    task_key) before any handler sees them, pytest's caplog and any other included."""
    log = logging.getLogger(name)
    if not any(isinstance(f, ContextFilter) for f in log.filters):
        log.addFilter(ContextFilter())
    return log


class Redactor:
    def __init__(self, secrets: set[str] | None = None) -> None:
        literal = {s for s in (secrets or set()) if s and len(s) >= 4}
        # JSON output escapes some characters: redact the escaped spelling too.
        literal |= {json.dumps(s)[1:-1] for s in literal}
        self.secrets = sorted(literal, key=len, reverse=True)

    @classmethod
    def from_environment(
        cls, cfg: Config | None = None, env: Mapping[str, str] | None = None
    ) -> Redactor:
        env = os.environ if env is None else env
        secrets: set[str] = set()
        for name, value in env.items():
            if _SECRET_ENV.search(name) and len(value) >= 8:
                secrets.add(value)
                password = _url_password(value)
                if password:
                    secrets.add(password)
        if cfg is not None:
            password = _url_password(cfg.database.url)
            if password:
                secrets.add(password)
        return cls(secrets)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text


def _url_password(url: str) -> str | None:
    if "://" not in url:
        match = re.search(r"password\s*=\s*(\S+)", url)
        return match.group(1) if match else None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    if not password:
        return None
    return unquote(password) if unquote(password) != password else password


class RedactingJsonFormatter(JsonFormatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "asctime": "time"},
        )
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(super().format(record))


class RedactingTextFormatter(logging.Formatter):
    """``time level logger message [key=value ...]`` with the extras appended."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if extras:
            tail = " ".join(f"{k}={v}" for k, v in sorted(extras.items()))
            first, nl, rest = line.partition("\n")
            line = f"{first} {tail}{nl}{rest}"
        return self.redactor(line)


_HANDLER_MARK = "_enginev2d_handler"


def setup_logging(
    cfg: Config,
    *,
    level: str | None = None,
    stream: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Install one handler on the root logger (replacing a previous one of ours)."""
    redactor = Redactor.from_environment(cfg, env)
    handler = logging.StreamHandler(stream or sys.stderr)
    if cfg.logging.format == "json":
        handler.setFormatter(RedactingJsonFormatter(redactor))
    else:
        handler.setFormatter(RedactingTextFormatter(redactor))
    handler.addFilter(ContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or cfg.logging.level).upper())
    # Library chatter that would otherwise echo connection strings or flood the log.
    # psycopg.pool warns on every failed connect during an outage: the daemon's own
    # poll_failed / heartbeat_failed / listener_* lines already say it, with backoff.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
