"""Database access: connection parameters, the pool, dedicated connections.

All engine_v2 names are schema-qualified in SQL, so no search_path is set. Each
connection carries the design's statement timeout (section 12) and an
idle-in-transaction timeout so a stuck client can never hold row locks for long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from .backoff import Backoff, retry, sleep
from .config import Config

T = TypeVar("T")

logger = logging.getLogger(__name__)

DB_TRIES = 3  # a call on a broken connection: repeated 0.05 s, then 0.2 s later
DB_FIRST_RETRY_S = 0.05


def column(row: Any, name: str) -> Any:
    """A one-column row's value, whatever the connection's row factory."""
    return row[name] if isinstance(row, Mapping) else row[0]


def connect_kwargs(cfg: Config, *, application_name: str = "enginev2d") -> dict[str, Any]:
    db = cfg.database
    options = (
        f"-c statement_timeout={db.statement_timeout_ms} "
        f"-c idle_in_transaction_session_timeout={db.idle_in_transaction_timeout_ms}"
    )
    kwargs: dict[str, Any] = {
        "options": options,
        "application_name": application_name,
        "connect_timeout": max(1, round(db.connect_timeout_s)),
        # A silent network drop must not hang a pooled query until the kernel gives up:
        # probe idle sockets and bound unacknowledged writes (the listener sets the same).
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30000,
    }
    if not db.ssl:
        kwargs["sslmode"] = "disable"
    elif "sslmode" not in db.url:
        kwargs["sslmode"] = "require"  # design 12: ssl without certificate verification
    return kwargs


def connect(
    cfg: Config, *, autocommit: bool = True, application_name: str = "enginev2d"
) -> psycopg.Connection[dict[str, Any]]:
    """A dedicated connection (LISTEN, migrations, session advisory locks)."""
    return psycopg.connect(
        cfg.database.url,
        autocommit=autocommit,
        row_factory=dict_row,
        **connect_kwargs(cfg, application_name=application_name),
    )


def make_pool(
    cfg: Config,
    *,
    min_size: int = 1,
    max_size: int | None = None,
    name: str = "enginev2d",
) -> ConnectionPool:
    """An opened pool of autocommit dict-row connections, checked before hand-out."""
    pool = ConnectionPool(
        cfg.database.url,
        min_size=min_size,
        max_size=max_size or cfg.pool_max,
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            **connect_kwargs(cfg, application_name=name),
        },
        check=ConnectionPool.check_connection,
        name=name,
        open=False,
        timeout=cfg.database.connect_timeout_s * 2,
    )
    pool.open(wait=True, timeout=cfg.database.connect_timeout_s * 2)
    return pool


# SQLSTATEs of a statement that names an engine_v2 object which does not exist: undefined
# table, undefined schema, undefined function. After `enginev2d uninstall` every query
# of the daemon fails with one of these.
_SCHEMA_MISSING = frozenset({"42P01", "3F000", "42883"})


def give_back(pool: ConnectionPool, conn: psycopg.Connection[Any] | None) -> None:
    """Return a connection held beyond one call to its pool (which discards or resets
    a broken one); closed instead when the pool itself is closed already."""
    if conn is None:
        return
    try:
        pool.putconn(conn)
    except Exception:  # a closed pool
        conn.close()


def schema_missing(exc: BaseException) -> bool:
    """True for an error that says an engine_v2 relation, schema or function is gone."""
    return isinstance(exc, psycopg.Error) and exc.sqlstate in _SCHEMA_MISSING


def schema_present(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('engine_v2.job_runs') IS NOT NULL AS present").fetchone()
    if isinstance(row, dict):
        return bool(row["present"])
    return bool(row and row[0])


class Repeats(Generic[T]):
    """A write handed to a retry loop, counting its calls: :attr:`repeated` once it ran
    again after a broken connection, when its first commit may have landed with the
    acknowledgement lost (see :func:`enginev2d.scheduler.landed`)."""

    def __init__(self, write: Callable[[psycopg.Connection[Any]], T]) -> None:
        self.write = write
        self.calls = 0

    def __call__(self, conn: psycopg.Connection[Any]) -> T:
        self.calls += 1
        return self.write(conn)

    @property
    def repeated(self) -> bool:
        return self.calls > 1


def retry_broken(call: Callable[[], T], *, who: str, wait: Callable[[float], bool] = sleep) -> T:
    """``call()``, repeated when the connection broke (``psycopg.OperationalError``):
    DB_TRIES calls in all, 0.05 s then 0.2 s apart (``wait(seconds)``). Every engine
    write is fenced, so a repeat records nothing twice; a first try that committed with
    its acknowledgement lost is what :class:`Repeats` tells. The one policy of the job
    runners and the completer."""
    try:
        return call()  # the hot path: no retry machinery unless it fails
    except psycopg.OperationalError as exc:
        logger.warning(
            "%s: database call failed (%s), retrying", who, exc, extra={"action": "db_retry"}
        )
    wait(DB_FIRST_RETRY_S)
    return retry(
        call,
        retries=DB_TRIES - 2,
        backoff=Backoff(initial_s=DB_FIRST_RETRY_S * 4, factor=4.0, jitter=0.0),
        should_retry=lambda exc: isinstance(exc, psycopg.OperationalError),
        wait=wait,
        on_retry=lambda exc, n, delay: logger.warning(
            "%s: database call failed (%s), retrying", who, exc, extra={"action": "db_retry"}
        ),
    )
