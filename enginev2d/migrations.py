"""Schema migrations: numbered ``sql/migrations/NNNN_name.sql`` files applied in order,
then the repeatable ``sql/functions/*.sql`` files.

Each pending file runs in its own transaction together with its row in
``engine_v2.schema_migrations``; a session advisory lock on a dedicated connection makes
two daemons starting at once apply each file exactly once (the second waits, then finds
nothing pending). Only additive migrations are ever written (design 1).

Numbered migrations hold tables, columns, indexes and data, and are frozen once applied.
Functions and their grants live in repeatable files (the idea of Flyway's repeatable
migrations): each file is ``CREATE OR REPLACE`` text, applied after the numbered ones, in
name order, whenever its checksum differs from the one recorded in
``engine_v2.schema_repeatables``, and so is every file after a re-applied one (files must
be idempotent). Changing a function is an edit of its one file, never a copy in a new
migration.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from .sql import sql_root

logger = logging.getLogger(__name__)

# Arbitrary constant: pg_advisory_lock key reserved for enginev2d migrations.
MIGRATION_LOCK_KEY = 0x656E6776_32000001
_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS engine_v2.schema_migrations (
  version int PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)
"""


_CREATE_REPEATABLES = """
CREATE TABLE IF NOT EXISTS engine_v2.schema_repeatables (
  name text PRIMARY KEY,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class _SqlFile:
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Migration(_SqlFile):
    version: int
    name: str
    path: Path


@dataclass(frozen=True)
class Repeatable(_SqlFile):
    """A ``sql/functions/*.sql`` file, re-applied whenever its text changes."""

    name: str
    path: Path


@dataclass(frozen=True)
class MigrationStatus:
    version: int | None  # None for a repeatable file
    name: str
    applied_at: Any | None
    state: str  # applied | pending | modified | unknown


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_root() / "migrations"
    found: list[Migration] = []
    for path in sorted(directory.iterdir()):
        match = _FILENAME.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), path))
        elif path.suffix == ".sql":
            raise ValueError(f"migration file name not NNNN_name.sql: {path.name}")
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise ValueError("two migration files share a version number")
    return found


def discover_repeatables(directory: Path | None = None) -> list[Repeatable]:
    directory = directory or sql_root() / "functions"
    if not directory.is_dir():
        return []
    return [Repeatable(p.stem, p) for p in sorted(directory.glob("*.sql"))]


def _repeatables_applied(conn: psycopg.Connection[Any]) -> dict[str, str]:
    exists = conn.execute(
        "SELECT to_regclass('engine_v2.schema_repeatables') IS NOT NULL AS e"
    ).fetchone()
    if not _value(exists, "e"):
        return {}
    rows = conn.execute("SELECT name, checksum FROM engine_v2.schema_repeatables").fetchall()
    return {
        (r["name"] if isinstance(r, dict) else r[0]): (
            r["checksum"] if isinstance(r, dict) else r[1]
        )
        for r in rows
    }


def _apply_repeatables(conn: psycopg.Connection[Any], directory: Path | None) -> list[str]:
    """(under the migration lock) Apply every repeatable file whose checksum changed, and
    every file after it in name order: a later file may build on an earlier one (the
    grants and SECURITY DEFINER of ``90_grants.sql`` are lost when a function it names is
    dropped and re-created)."""
    done = _repeatables_applied(conn)
    applied: list[str] = []
    for r in discover_repeatables(directory):
        if not applied and done.get(r.name) == r.checksum:
            continue
        logger.info(
            "applying functions %s", r.name, extra={"action": "repeatable_apply", "file": r.name}
        )
        with conn.transaction():
            conn.execute(r.sql)  # type: ignore[arg-type]  # trusted file, no params
            conn.execute(_CREATE_REPEATABLES)
            conn.execute(
                "INSERT INTO engine_v2.schema_repeatables (name, checksum) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum,"
                " applied_at = now()",
                (r.name, r.checksum),
            )
        applied.append(r.name)
    return applied


def _applied(conn: psycopg.Connection[Any]) -> dict[int, dict[str, Any]]:
    exists = conn.execute(
        "SELECT to_regclass('engine_v2.schema_migrations') IS NOT NULL AS e"
    ).fetchone()
    if not _value(exists, "e"):
        return {}
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at FROM engine_v2.schema_migrations"
    ).fetchall()
    return {_value(r, "version"): _as_dict(r) for r in rows}


def _value(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, dict) else row[0]


def _as_dict(row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        return row
    return dict(zip(("version", "name", "checksum", "applied_at"), row, strict=True))


def migrate(
    conninfo: str,
    *,
    directory: Path | None = None,
    functions: Path | None = None,
    **connect_kw: Any,
) -> list[Migration]:
    """Apply every pending migration, then every changed repeatable file; return the
    numbered migrations applied (empty when current)."""
    migrations = discover(directory)
    applied_now: list[Migration] = []
    with psycopg.connect(conninfo, autocommit=True, **connect_kw) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            done = _applied(conn)
            for m in migrations:
                if m.version in done:
                    if done[m.version]["checksum"] != m.checksum:
                        # Applied files are frozen; an edit is never re-applied.
                        logger.warning(
                            "migration %04d_%s changed after it was applied; not re-applied"
                            " (write a new migration instead)",
                            m.version,
                            m.name,
                            extra={"action": "migration_modified", "version": m.version},
                        )
                    continue
                logger.info(
                    "applying migration %04d_%s",
                    m.version,
                    m.name,
                    extra={"action": "migration_apply", "version": m.version},
                )
                with conn.transaction():
                    conn.execute(m.sql)  # type: ignore[arg-type]  # trusted file, no params
                    conn.execute(_CREATE_TABLE)
                    conn.execute(
                        "INSERT INTO engine_v2.schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                applied_now.append(m)
            if directory is None or functions is not None:
                _apply_repeatables(conn, functions)
        finally:
            if not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now


def status(
    conninfo: str,
    *,
    directory: Path | None = None,
    functions: Path | None = None,
    **connect_kw: Any,
) -> list[MigrationStatus]:
    migrations = discover(directory)
    repeatables = discover_repeatables(functions) if directory is None or functions else []
    with psycopg.connect(conninfo, autocommit=True, **connect_kw) as conn:
        done = _applied(conn)
        fns = _repeatables_applied(conn) if repeatables else {}
    out: list[MigrationStatus] = []
    for m in migrations:
        row = done.pop(m.version, None)
        if row is None:
            out.append(MigrationStatus(m.version, m.name, None, "pending"))
        else:
            state = "applied" if row["checksum"] == m.checksum else "modified"
            out.append(MigrationStatus(m.version, m.name, row["applied_at"], state))
    for version, row in sorted(done.items()):
        out.append(MigrationStatus(version, row["name"], row["applied_at"], "unknown"))
    pending = False  # a re-applied file re-applies every later one
    for r in repeatables:
        pending = pending or fns.get(r.name) != r.checksum
        out.append(MigrationStatus(None, r.name, None, "pending" if pending else "applied"))
    return out


def is_current(conninfo: str, **connect_kw: Any) -> bool:
    return all(s.state == "applied" for s in status(conninfo, **connect_kw))
