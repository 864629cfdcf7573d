"""The migration runner against a real database: idempotence, concurrency, status, and
"a database migrated step by step equals one migrated at once" (catalog snapshots)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.rows import dict_row

from enginev2d import migrations
from enginev2d.cli import cli
from enginev2d.sql import sql_root

ALL = migrations.discover()
VERSIONS = [m.version for m in ALL]

# ---------------------------------------------------------------- catalog snapshots

# Each query returns comparable rows for the namespaces matched by %(ns)s (a regex on
# nspname); nothing depends on OIDs, so two databases can be compared.
_SNAPSHOT: dict[str, str] = {
    "schemas": """
        SELECT nspname, pg_get_userbyid(nspowner) AS owner, nspacl::text AS acl
          FROM pg_namespace WHERE nspname ~ %(ns)s
    """,
    "relations": """
        SELECT n.nspname, c.relname, c.relkind, c.relpersistence, c.relrowsecurity,
               c.relforcerowsecurity, c.relacl::text AS acl,
               pg_get_userbyid(c.relowner) AS owner
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname ~ %(ns)s AND c.relkind <> 't'
    """,
    "columns": """
        SELECT n.nspname, c.relname, a.attnum, a.attname,
               format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid) AS dflt, a.attidentity, a.attgenerated,
               a.attcompression, a.attacl::text AS acl
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname ~ %(ns)s AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relkind <> 't'
    """,
    "constraints": """
        SELECT n.nspname, c.relname, k.conname, k.contype, k.condeferrable,
               k.condeferred, k.convalidated, pg_get_constraintdef(k.oid) AS def
          FROM pg_constraint k
          JOIN pg_namespace n ON n.oid = k.connamespace
          LEFT JOIN pg_class c ON c.oid = k.conrelid
         WHERE n.nspname ~ %(ns)s
    """,
    "indexes": """
        SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
         WHERE schemaname ~ %(ns)s
    """,
    "functions": """
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) AS args,
               pg_get_function_result(p.oid) AS result, p.prokind, p.provolatile,
               p.prosecdef, p.proconfig::text AS config, md5(p.prosrc) AS src,
               p.proacl::text AS acl
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname ~ %(ns)s
    """,
    # Internal (FK) triggers are named by OID: compare their shape, not their name.
    "triggers": """
        SELECT n.nspname, c.relname,
               CASE WHEN t.tgisinternal THEN NULL ELSE t.tgname END AS tgname,
               t.tgisinternal, t.tgtype, t.tgenabled, t.tgdeferrable, t.tginitdeferred,
               t.tgfoid::regprocedure::text AS fn,
               CASE WHEN t.tgisinternal THEN NULL ELSE pg_get_triggerdef(t.oid) END AS def,
               count(*) AS n
          FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname ~ %(ns)s
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    """,
    "policies": """
        SELECT schemaname, tablename, policyname, permissive, roles::text, cmd, qual,
               with_check
          FROM pg_policies WHERE schemaname ~ %(ns)s
    """,
    "types": """
        SELECT n.nspname, t.typname, t.typtype
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname ~ %(ns)s
    """,
    "extensions": """
        SELECT e.extname, e.extversion, n.nspname
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    """,
    "default_acls": """
        SELECT pg_get_userbyid(d.defaclrole) AS role, n.nspname, d.defaclobjtype,
               d.defaclacl::text AS acl
          FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
    """,
    "event_triggers": "SELECT evtname, evtevent, evtfoid::regproc::text FROM pg_event_trigger",
    "roles": """
        SELECT rolname, rolsuper, rolinherit, rolcanlogin, rolbypassrls FROM pg_roles
    """,
    "database": """
        SELECT datname IS NOT NULL AS here, datacl::text AS acl, pg_encoding_to_char(encoding)
          FROM pg_database WHERE datname = current_database()
    """,
    "role_grants": """
        SELECT r.rolname, m.rolname AS member FROM pg_auth_members a
          JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
    """,
}


def catalog_snapshot(conninfo: str, ns_regex: str) -> dict[str, list[tuple[Any, ...]]]:
    """Sorted catalog rows of every namespace whose name matches ``ns_regex``."""
    snap: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for key, query in _SNAPSHOT.items():
            rows = conn.execute(query, {"ns": ns_regex}).fetchall()
            snap[key] = sorted(rows, key=repr)
    return snap


def _only_first(tmp_path: Path, k: int) -> Path:
    directory = tmp_path / f"first_{k}"
    directory.mkdir()
    for m in ALL[:k]:
        shutil.copy(m.path, directory / m.path.name)
    return directory


def _recorded(conninfo: str) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT version, name, checksum FROM engine_v2.schema_migrations ORDER BY version"
        ).fetchall()


# ---------------------------------------------------------------- migrate()


def test_migrate_applies_all_in_order_and_records_them(bare_db_url):
    applied = migrations.migrate(bare_db_url)
    assert [m.version for m in applied] == VERSIONS
    assert _recorded(bare_db_url) == [
        {"version": m.version, "name": m.name, "checksum": m.checksum} for m in ALL
    ]


def test_migrate_twice_is_a_noop(bare_db_url):
    migrations.migrate(bare_db_url)
    before = catalog_snapshot(bare_db_url, "^engine_v2$")
    recorded = _recorded(bare_db_url)
    assert migrations.migrate(bare_db_url) == []
    assert _recorded(bare_db_url) == recorded
    assert catalog_snapshot(bare_db_url, "^engine_v2$") == before


def test_migrate_on_already_migrated_template_is_a_noop(db_url):
    assert migrations.migrate(db_url) == []
    assert migrations.is_current(db_url)


def _concurrent_migrate(url: str, n: int, before_start=None) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = migrations.migrate(url)
        except BaseException as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    if before_start is not None:
        before_start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "migrate() hung"
    return results


def _assert_applied_once(url: str, results: list[Any]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    applied = sorted(m.version for r in results for m in r)
    assert applied == VERSIONS  # every migration applied exactly once, by someone
    assert [r["version"] for r in _recorded(url)] == VERSIONS


def test_two_concurrent_migrates_both_succeed(bare_db_url):
    results = _concurrent_migrate(bare_db_url, 2)
    _assert_applied_once(bare_db_url, results)


def test_concurrent_migrates_really_contend_on_the_advisory_lock(bare_db_url):
    """Hold the lock, let three migrators queue behind it, then release: all succeed."""
    with psycopg.connect(bare_db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK_KEY,))

        def release_when_all_wait() -> None:
            with psycopg.connect(bare_db_url, autocommit=True) as probe:
                for _ in range(100_000):
                    row = probe.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND NOT granted AND database = (SELECT oid FROM pg_database"
                        "  WHERE datname = current_database())"
                    ).fetchone()
                    if row[0] == 3:
                        break
                else:
                    pytest.fail("migrators never queued on the advisory lock")
            # Nothing was applied while the lock was held.
            row = holder.execute("SELECT to_regnamespace('engine_v2') IS NULL").fetchone()
            assert row[0] is True
            holder.execute("SELECT pg_advisory_unlock(%s)", (migrations.MIGRATION_LOCK_KEY,))

        results = _concurrent_migrate(bare_db_url, 3, before_start=release_when_all_wait)
    _assert_applied_once(bare_db_url, results)


def test_failed_migration_rolls_back_and_records_nothing(bare_db_url, tmp_path):
    directory = _only_first(tmp_path, 1)
    (directory / "0002_broken.sql").write_text(
        "CREATE TABLE engine_v2.half_done (id int);\nSELECT no_such_function();\n",
        encoding="utf-8",
    )
    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrations.migrate(bare_db_url, directory=directory)
    assert [r["version"] for r in _recorded(bare_db_url)] == [1]
    with psycopg.connect(bare_db_url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('engine_v2.half_done')").fetchone()
        assert row[0] is None
        # The advisory lock was released: another session can take it at once.
        row = conn.execute(
            "SELECT pg_try_advisory_lock(%s)", (migrations.MIGRATION_LOCK_KEY,)
        ).fetchone()
        assert row[0] is True
    # Fixing the file lets the next run apply it.
    (directory / "0002_broken.sql").write_text("SELECT 1;\n", encoding="utf-8")
    assert [m.version for m in migrations.migrate(bare_db_url, directory=directory)] == [2]


def test_failed_first_migration_leaves_no_schema(bare_db_url, tmp_path):
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "0001_bad.sql").write_text(
        "CREATE SCHEMA IF NOT EXISTS engine_v2;\nSELECT 1/0;\n", encoding="utf-8"
    )
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrations.migrate(bare_db_url, directory=directory)
    with psycopg.connect(bare_db_url) as conn:
        assert conn.execute("SELECT to_regnamespace('engine_v2')").fetchone()[0] is None


def test_stepwise_migration_equals_all_at_once(bare_db_url, db_url, tmp_path):
    """Procrastinate's rule: a database migrated one file at a time is identical to a
    fresh one (here: the template, migrated in one run)."""
    functions = sql_root() / "functions"
    for k in range(1, len(ALL) + 1):
        last = k == len(ALL)  # repeatable files follow the numbered ones, as in production
        applied = migrations.migrate(
            bare_db_url, directory=_only_first(tmp_path, k), functions=functions if last else None
        )
        assert [m.version for m in applied] == [ALL[k - 1].version]
    # Everything, not only engine_v2: public and auth must not differ either.
    ns = "^(engine_v2|public|auth)$"
    stepwise = catalog_snapshot(bare_db_url, ns)
    at_once = catalog_snapshot(db_url, ns)
    assert stepwise.keys() == at_once.keys()
    for key in stepwise:
        assert stepwise[key] == at_once[key], key
    assert _recorded(bare_db_url) == _recorded(db_url)


# ---------------------------------------------------------------- status and the CLI


@pytest.fixture
def cli_config(tmp_path, monkeypatch):
    for var in ("DATABASE_URL", "DATABASE_SSL", "ENGINEV2_CONFIG"):
        monkeypatch.delenv(var, raising=False)

    def make(url: str) -> str:
        path = tmp_path / "enginev2d.toml"
        path.write_text(f'[database]\nurl = "{url}"\nssl = false\n', encoding="utf-8")
        return str(path)

    return make


def _status_lines(output: str) -> dict[str, str]:
    """``{"0001_engine_v2_schema": "applied", ...}`` from ``migrate --status`` output."""
    out = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit():
            out[f"{parts[0]}_{parts[1]}"] = parts[2]
    return out


def test_cli_status_pending_then_applied(bare_db_url, cli_config):
    cfg = cli_config(bare_db_url)
    runner = CliRunner()
    names = [f"{m.version:04d}_{m.name}" for m in ALL]

    pending = runner.invoke(cli, ["--config", cfg, "migrate", "--status"])
    assert pending.exit_code != 0, pending.output
    assert _status_lines(pending.output) == dict.fromkeys(names, "pending")

    applied = runner.invoke(cli, ["--config", cfg, "migrate"])
    assert applied.exit_code == 0, applied.output
    assert applied.output.splitlines() == [f"applied {n}" for n in names]

    again = runner.invoke(cli, ["--config", cfg, "migrate"])
    assert again.exit_code == 0, again.output
    assert again.output.strip() == "schema is current"

    status = runner.invoke(cli, ["--config", cfg, "migrate", "--status"])
    assert status.exit_code == 0, status.output
    assert _status_lines(status.output) == dict.fromkeys(names, "applied")


def test_cli_status_partially_applied(bare_db_url, cli_config, tmp_path):
    migrations.migrate(bare_db_url, directory=_only_first(tmp_path, 1))
    result = CliRunner().invoke(cli, ["--config", cli_config(bare_db_url), "migrate", "--status"])
    assert result.exit_code != 0
    states = list(_status_lines(result.output).values())
    assert states == ["applied"] + ["pending"] * (len(ALL) - 1)


def test_cli_status_reports_modified_and_unknown(db_url, cli_config):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE engine_v2.schema_migrations SET checksum = 'x' WHERE version = 1")
        conn.execute(
            "INSERT INTO engine_v2.schema_migrations (version, name, checksum)"
            " VALUES (9999, 'from_the_future', 'y')"
        )
    result = CliRunner().invoke(cli, ["--config", cli_config(db_url), "migrate", "--status"])
    assert result.exit_code != 0
    states = _status_lines(result.output)
    assert states["0001_engine_v2_schema"] == "modified"
    assert states["9999_from_the_future"] == "unknown"
    assert all(s == "applied" for n, s in states.items() if n[:4] not in ("0001", "9999"))


def test_status_modified_when_applied_file_changes(bare_db_url, tmp_path):
    directory = _only_first(tmp_path, len(ALL))
    migrations.migrate(bare_db_url, directory=directory, functions=sql_root() / "functions")
    assert {s.state for s in migrations.status(bare_db_url, directory=directory)} == {"applied"}
    first = directory / ALL[0].path.name
    first.write_text(first.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")
    states = {s.version: s.state for s in migrations.status(bare_db_url, directory=directory)}
    assert states == {v: ("modified" if v == 1 else "applied") for v in VERSIONS}
    assert migrations.is_current(bare_db_url)


def test_migrate_warns_about_an_edited_applied_file_and_does_not_rerun_it(
    bare_db_url, tmp_path, caplog
):
    directory = _only_first(tmp_path, 1)
    migrations.migrate(bare_db_url, directory=directory)
    first = directory / ALL[0].path.name
    first.write_text(first.read_text(encoding="utf-8") + "\nSELECT 1/0;\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="enginev2d.migrations"):
        assert migrations.migrate(bare_db_url, directory=directory) == []
    assert any("0001_engine_v2_schema changed" in r.getMessage() for r in caplog.records)


def test_cli_migrate_unreachable_database_is_one_line(cli_config):
    result = CliRunner().invoke(
        cli,
        ["--config", cli_config("postgresql://nobody@127.0.0.1:1/none"), "migrate"],
    )
    assert result.exit_code != 0
    assert "database unreachable" in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- repeatable function files


def test_repeatable_files_are_reapplied_when_their_text_changes(bare_db_url, tmp_path):
    """Functions live in sql/functions/: applied after the numbered migrations, again
    whenever a file's checksum changes, and reported pending until then."""
    functions = tmp_path / "functions"
    shutil.copytree(sql_root() / "functions", functions)
    extra = functions / "90_probe.sql"
    extra.write_text(
        "CREATE OR REPLACE FUNCTION engine_v2.probe() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
        encoding="utf-8",
    )
    migrations.migrate(bare_db_url, functions=functions)
    assert migrations.migrate(bare_db_url, functions=functions) == []  # nothing pending

    def probe() -> int:
        with psycopg.connect(bare_db_url) as conn:
            return conn.execute("SELECT engine_v2.probe()").fetchone()[0]

    assert probe() == 1
    extra.write_text(extra.read_text(encoding="utf-8").replace("SELECT 1", "SELECT 2"))
    states = {s.name: s.state for s in migrations.status(bare_db_url, functions=functions)}
    assert states["90_probe"] == "pending"
    assert all(v == "applied" for k, v in states.items() if k != "90_probe")
    migrations.migrate(bare_db_url, functions=functions)
    assert probe() == 2
    assert all(s.state == "applied" for s in migrations.status(bare_db_url, functions=functions))
