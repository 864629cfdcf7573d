"""What the database does per hand-off, cut for issue 17: the engine's functions plan
their statements once (generic plans) and large jsonb values are compressed with lz4."""

from __future__ import annotations

import re
import shutil
import uuid
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


def test_large_jsonb_values_are_stored_with_lz4(conn: psycopg.Connection[Any]) -> None:
    job_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO public.jobs (id, user_id, project_id) VALUES (%s, %s, 'p')",
        (job_id, str(uuid.uuid4())),
    )
    game = "function step() { draw(); }\n" * 800  # a 22 KB file, as codegen writes
    conn.execute(
        "INSERT INTO engine_v2.job_task_events (job_id, event_type, data, seq)"
        " VALUES (%s, 'partialResult', jsonb_build_object('content', %s::text), 1)",
        (job_id, game),
    )
    row = conn.execute(
        "SELECT pg_column_compression(data) AS method, pg_column_size(data) AS stored"
        " FROM engine_v2.job_task_events WHERE job_id = %s",
        (job_id,),
    ).fetchone()
    assert row["method"] == "lz4"
    assert row["stored"] < len(game) / 10
    compressed = conn.execute(
        "SELECT attrelid::regclass::text || '.' || attname AS col FROM pg_attribute"
        " WHERE attcompression = 'l' AND attrelid::regclass::text LIKE 'engine_v2.%%'"
    ).fetchall()
    assert {r["col"] for r in compressed} == {
        "engine_v2.job_task_events.data",
        "engine_v2.job_task_artifacts.content",
        "engine_v2.job_tasks.input",
        "engine_v2.job_tasks.output",
        "engine_v2.job_runs.result",
    }
