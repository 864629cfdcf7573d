"""SQL kept as data: migrations and named queries live in ``.sql`` files under ``sql/``.

A queries file is a sequence of blocks, each introduced by a comment line
``-- name: description``; the block's text up to the next header is the query, with
psycopg named placeholders (``%(job_id)s``). Modules load their own file once::

    QUERIES = load_queries("scheduler")
    conn.execute(QUERIES["claim_task"], {"job_id": job_id})
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

_HEADER = re.compile(r"^--\s*([a-z_][a-z0-9_]*)\s*:(.*)$")


def sql_root() -> Path:
    """The ``sql/`` directory: in the source tree, or packaged as ``enginev2d/_sql``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_sql", here.parent / "sql"):
        if (candidate / "migrations").is_dir():
            return candidate
    raise FileNotFoundError("enginev2d: sql/ directory not found next to the package")


def parse_queries(text: str) -> dict[str, str]:
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if name is not None:
            body = "\n".join(lines).strip()
            if not body:
                raise ValueError(f"query {name!r} is empty")
            queries[name] = body

    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            flush()
            name = match.group(1)
            if name in queries:
                raise ValueError(f"query {name!r} defined twice")
            lines = []
        elif name is not None:
            lines.append(line)
    flush()
    return queries


@functools.cache
def load_queries(name: str) -> dict[str, str]:
    """Named queries from ``sql/queries/<name>.sql``."""
    path = sql_root() / "queries" / f"{name}.sql"
    return parse_queries(path.read_text(encoding="utf-8"))
