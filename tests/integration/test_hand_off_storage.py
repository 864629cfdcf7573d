"""What the database does per hand-off, cut for issue 17: the engine's functions plan
their statements once (generic plans)."""

from __future__ import annotations

import re
import shutil
from typing import Any

import psycopg

from enginev2d import migrations
from enginev2d.sql import sql_root

PLAN_FILE = sql_root() / "functions" / "85_plan_cache.sql"


def _generic_functions() -> set[str]:
    """The functions 85_plan_cache.sql sets, by name."""
    return set(re.findall(r"ALTER FUNCTION engine_v2\.(\w+)\(", PLAN_FILE.read_text()))


def _plan_modes(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT p.proname, coalesce(p.proconfig, '{}') FROM pg_proc p"
            " WHERE p.pronamespace = 'engine_v2'::regnamespace"
        ).fetchall()
    return {name: [c for c in config if c.startswith("plan_cache_mode=")] for name, config in rows}


def test_hand_off_functions_plan_generically_even_after_their_file_changes(
    bare_db_url: str, tmp_path: Any
) -> None:
    """CREATE OR REPLACE drops a function's SET clauses: a changed function file must be
    followed by 85_plan_cache.sql again (the runner re-applies every later file)."""
    expected = _generic_functions()
    assert {"complete_batch", "task_succeeded", "start_job", "submit_job"} <= expected
    functions = tmp_path / "functions"
    shutil.copytree(sql_root() / "functions", functions)
    migrations.migrate(bare_db_url, functions=functions)
    generic = {"plan_cache_mode=force_generic_plan"}
    modes = _plan_modes(bare_db_url)
    assert {name for name, m in modes.items() if set(m) == generic} == expected

    completion = functions / "40_completion.sql"
    completion.write_text(completion.read_text(encoding="utf-8") + "\n-- edited\n")
    states = {s.name: s.state for s in migrations.status(bare_db_url, functions=functions)}
    assert states["40_completion"] == "pending"
    migrations.migrate(bare_db_url, functions=functions)
    with psycopg.connect(bare_db_url) as conn:  # re-applied: task_succeeded was re-created
        assert conn.execute(
            "SELECT applied_at > (SELECT applied_at FROM engine_v2.schema_repeatables"
            "                      WHERE name = '10_publish_guard')"
            " FROM engine_v2.schema_repeatables WHERE name = '40_completion'"
        ).fetchone()[0]
    modes = _plan_modes(bare_db_url)
    assert {name for name, m in modes.items() if set(m) == generic} == expected

