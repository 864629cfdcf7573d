"""Full removal (design 16 step 4): ``enginev2d uninstall --yes`` leaves every schema
but ``engine_v2`` exactly as it was before ``migrate`` (catalog snapshots), keeps the
host's data, and refuses without ``--yes``."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from enginev2d import migrations
from enginev2d.cli import cli
from enginev2d.uninstall import leftovers, uninstall
from tests.integration.test_migrations import catalog_snapshot

# Every namespace except ours, pg_catalog and pg_toast included.
NOT_OURS = "^(?!engine_v2$)"


@pytest.fixture
def cli_config(tmp_path, monkeypatch):
    for var in ("DATABASE_URL", "DATABASE_SSL", "ENGINEV2_CONFIG"):
        monkeypatch.delenv(var, raising=False)

    def make(url: str) -> str:
        path = tmp_path / "enginev2d.toml"
        path.write_text(f'[database]\nurl = "{url}"\nssl = false\n', encoding="utf-8")
        return str(path)

    return make


def _populate(url: str, n: int = 3) -> list[str]:
    """Jobs with tasks, deps, attempts, artifacts and events: FKs and RLS in use."""
    ids = []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(n):
            job_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
            conn.execute(
                "INSERT INTO public.jobs (id, user_id, project_id) VALUES (%s, %s, 'p')",
                (job_id, user_id),
            )
            conn.execute("SELECT engine_v2.submit_job(%s, %s, 'p', 'm')", (job_id, user_id))
            a, b = (
                conn.execute(
                    "INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role)"
                    " VALUES (%s, %s, 'r') RETURNING id",
                    (job_id, k),
                ).fetchone()[0]
                for k in ("intent", "plan")
            )
            conn.execute("INSERT INTO engine_v2.job_task_dependencies VALUES (%s, %s)", (a, b))
            conn.execute(
                "INSERT INTO engine_v2.job_task_attempts (task_id, status) VALUES (%s, 'failed')",
                (a,),
            )
            conn.execute(
                "INSERT INTO engine_v2.job_task_artifacts (job_id, task_id, kind)"
                " VALUES (%s, %s, 'plan')",
                (job_id, a),
            )
            conn.execute("SELECT engine_v2.emit_event(%s, %s, 'taskStarted')", (job_id, a))
            ids.append(job_id)
    return ids


def _one(url: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()[0]


def _assert_same(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> None:
    assert before.keys() == after.keys()
    for key in before:
        assert after[key] == before[key], key


def test_uninstall_restores_every_other_schema_exactly(bare_db_url, cli_config):
    before = catalog_snapshot(bare_db_url, NOT_OURS)
    migrations.migrate(bare_db_url)
    jobs = _populate(bare_db_url)
    during = catalog_snapshot(bare_db_url, NOT_OURS)
    # Sanity: migrating did change what a snapshot sees (FK triggers on public.jobs,
    # the pgcrypto extension, the client roles' grants), so equality below means
    # something.
    assert during != before
    assert (
        _one(bare_db_url, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.jobs'::regclass")
        > 0
    )

    result = CliRunner().invoke(cli, ["--config", cli_config(bare_db_url), "uninstall", "--yes"])
    assert result.exit_code == 0, result.output
    assert "dropped" in result.output

    _assert_same(before, catalog_snapshot(bare_db_url, NOT_OURS))
    assert _one(bare_db_url, "SELECT to_regnamespace('engine_v2')") is None
    # pgcrypto was created inside engine_v2, so DROP SCHEMA CASCADE took it along.
    assert _one(bare_db_url, "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'") == 0
    # The host's data is untouched.
    rows = _one(
        bare_db_url,
        "SELECT array_agg(id::text ORDER BY id) FROM public.jobs WHERE id = ANY(%s)",
        (jobs,),
    )
    assert rows == sorted(jobs)
    with psycopg.connect(bare_db_url, autocommit=True) as conn:
        assert leftovers(conn) == []
        # The host can still delete its jobs (no dangling FK trigger).
        conn.execute("DELETE FROM public.jobs")


def test_uninstall_keeps_a_preexisting_pgcrypto_elsewhere(bare_db_url):
    """Supabase keeps pgcrypto in schema ``extensions``: ours must not replace or drop it."""
    with psycopg.connect(bare_db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA extensions")
        conn.execute("CREATE EXTENSION pgcrypto WITH SCHEMA extensions")
    before = catalog_snapshot(bare_db_url, NOT_OURS)
    migrations.migrate(bare_db_url)
    _populate(bare_db_url, 1)
    assert uninstall(bare_db_url) == []
    _assert_same(before, catalog_snapshot(bare_db_url, NOT_OURS))
    ns = _one(
        bare_db_url,
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pgcrypto'",
    )
    assert ns == "extensions"


def test_uninstall_then_migrate_again_works(bare_db_url, cli_config):
    migrations.migrate(bare_db_url)
    _populate(bare_db_url, 1)
    assert uninstall(bare_db_url) == []
    applied = migrations.migrate(bare_db_url)
    assert [m.version for m in applied] == [m.version for m in migrations.discover()]
    assert _one(bare_db_url, "SELECT count(*) FROM engine_v2.job_runs") == 0
    # And uninstall is repeatable, also when nothing is installed.
    runner = CliRunner()
    cfg = cli_config(bare_db_url)
    for _ in range(2):
        result = runner.invoke(cli, ["--config", cfg, "uninstall", "--yes"])
        assert result.exit_code == 0, result.output


def test_uninstall_without_yes_refuses_and_drops_nothing(db_url, cli_config):
    _populate(db_url, 1)
    before = catalog_snapshot(db_url, ".")
    result = CliRunner().invoke(cli, ["--config", cli_config(db_url), "uninstall"])
    assert result.exit_code != 0
    assert "--yes" in result.output
    assert "refusing" in result.output
    assert catalog_snapshot(db_url, ".") == before
    assert _one(db_url, "SELECT count(*) FROM engine_v2.job_runs") == 1
    assert migrations.is_current(db_url)


LEFTOVERS = [
    (
        "CREATE FUNCTION public.engine_v2_hook() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "function public.engine_v2_hook",
    ),
    (
        "CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS"
        " 'BEGIN PERFORM 1; RETURN NEW; END';"
        " CREATE TRIGGER trg_job_v2 BEFORE UPDATE ON public.jobs"
        " FOR EACH ROW EXECUTE FUNCTION public.touch()",
        "trigger trg_job_v2 on jobs",
    ),
    ("CREATE TABLE public.job_tasks (id int)", "table public.job_tasks"),
    (
        "ALTER TABLE public.jobs ADD COLUMN engine_v2_run uuid",
        "column public.jobs.engine_v2_run",
    ),
    (
        "ALTER TABLE public.jobs ADD CONSTRAINT jobs_engine_v2_chk CHECK (true)",
        "constraint jobs_engine_v2_chk",
    ),
]


def test_uninstall_reports_what_it_left_behind(db_url, cli_config):
    """The verification step is real: a v2 trace in public makes uninstall fail loudly."""
    runner = CliRunner()
    cfg = cli_config(db_url)
    for ddl, reported in LEFTOVERS:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("BEGIN")
            conn.execute(ddl)
            conn.execute("COMMIT")
        result = runner.invoke(cli, ["--config", cfg, "uninstall", "--yes"])
        assert result.exit_code != 0, ddl
        assert "left objects behind" in result.output
        assert reported in result.output
        assert _one(db_url, "SELECT to_regnamespace('engine_v2')") is None
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS public.job_tasks")
            conn.execute("ALTER TABLE public.jobs DROP COLUMN IF EXISTS engine_v2_run")
            conn.execute("ALTER TABLE public.jobs DROP CONSTRAINT IF EXISTS jobs_engine_v2_chk")
            conn.execute("DROP TRIGGER IF EXISTS trg_job_v2 ON public.jobs")
            conn.execute("DROP FUNCTION IF EXISTS public.touch()")
            conn.execute("DROP FUNCTION IF EXISTS public.engine_v2_hook()")
            assert leftovers(conn) == []
