"""The status enums are exactly the schema's CHECK constraints (design 3)."""

from __future__ import annotations

import re

import pytest

from enginev2d.sql import sql_root
from enginev2d.status import AttemptStatus, RunStatus, TaskStatus

SCHEMA = (sql_root() / "migrations" / "0001_engine_v2_schema.sql").read_text()


def check_values(table: str) -> set[str]:
    body = SCHEMA.split(f"CREATE TABLE engine_v2.{table} (", 1)[1].split(");", 1)[0]
    clause = re.search(r"status IN \(([^)]*)\)", body, re.S)
    assert clause is not None
    return set(re.findall(r"'([a-z_]+)'", clause.group(1)))


@pytest.mark.parametrize(
    ("table", "enum"),
    [("job_runs", RunStatus), ("job_tasks", TaskStatus), ("job_task_attempts", AttemptStatus)],
)
def test_enum_is_the_check_constraint(table, enum):
    assert {m.value for m in enum} == check_values(table)
    assert enum("failed") == "failed"  # compares with the stored text
