"""migrations.discover: file naming, ordering, duplicates (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from enginev2d import migrations
from enginev2d.sql import sql_root


def _touch(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_text(f"-- {name}\nSELECT 1;\n", encoding="utf-8")


def test_discover_orders_by_version_not_creation_order(tmp_path):
    _touch(tmp_path, "0010_ten.sql", "0002_two.sql", "0001_one.sql", "0009_nine.sql")
    found = migrations.discover(tmp_path)
    assert [(m.version, m.name) for m in found] == [
        (1, "one"),
        (2, "two"),
        (9, "nine"),
        (10, "ten"),
    ]
    assert [m.path.name for m in found] == [
        "0001_one.sql",
        "0002_two.sql",
        "0009_nine.sql",
        "0010_ten.sql",
    ]


def test_discover_ignores_non_sql_files(tmp_path):
    _touch(tmp_path, "0001_one.sql", "README.md", "0002_two.sql.bak", "notes.txt")
    assert [m.name for m in migrations.discover(tmp_path)] == ["one"]


@pytest.mark.parametrize(
    "bad",
    [
        "1_short.sql",
        "00001_five_digits.sql",
        "0001-dash.sql",
        "0001_Upper.sql",
        "0001_.sql",
        "0001_has space.sql",
        "abcd_name.sql",
        "0001_name.SQL.sql",
        "schema.sql",
    ],
)
def test_discover_rejects_badly_named_sql_files(tmp_path, bad):
    _touch(tmp_path, "0001_ok.sql", bad)
    with pytest.raises(ValueError, match=r"NNNN_name\.sql"):
        migrations.discover(tmp_path)


def test_discover_rejects_duplicate_versions(tmp_path):
    _touch(tmp_path, "0001_one.sql", "0001_other.sql")
    with pytest.raises(ValueError, match="share a version"):
        migrations.discover(tmp_path)


def test_discover_empty_directory(tmp_path):
    assert migrations.discover(tmp_path) == []


def test_discover_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        migrations.discover(tmp_path / "nope")


def test_checksum_and_sql_follow_file_content(tmp_path):
    _touch(tmp_path, "0001_one.sql")
    (m,) = migrations.discover(tmp_path)
    before = m.checksum
    assert len(before) == 64
    assert m.sql.startswith("-- 0001_one.sql")
    m.path.write_text("SELECT 2;\n", encoding="utf-8")
    assert m.checksum != before
    assert m.sql == "SELECT 2;\n"


def test_shipped_migrations_start_with_schema_and_intake():
    found = migrations.discover()
    assert found[0].path == sql_root() / "migrations" / "0001_engine_v2_schema.sql"
    assert [(m.version, m.name) for m in found[:2]] == [
        (1, "engine_v2_schema"),
        (2, "intake_contract"),
    ]
    versions = [m.version for m in found]
    assert versions == sorted(versions)
    assert versions == list(range(1, len(versions) + 1)), "versions must have no gaps"
