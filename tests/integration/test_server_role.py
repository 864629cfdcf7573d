"""The host server's role (migration 0005, sql/functions/90_grants.sql): exactly the three
entry points and the three tables its client reads, grants that survive a re-created
function, and ``enginev2d uninstall`` removing the role only when it is ours and unused."""

from __future__ import annotations

import shutil
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from enginev2d import migrations
from enginev2d.sql import sql_root
from enginev2d.uninstall import drop_server_role, uninstall_all
from tests.conftest import STANDINS, server_login_url

READABLE = ("job_runs", "job_task_events", "job_task_artifacts")
NOT_READABLE = ("job_tasks", "job_task_attempts", "job_task_dependencies", "server_fallbacks")


def _host_job(srv: psycopg.Connection[Any]) -> tuple[str, str]:
    job_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    srv.execute(
        "INSERT INTO public.jobs (id, user_id, project_id) VALUES (%s, %s, 'p')", (job_id, user_id)
    )
    return job_id, user_id


def test_server_role_submits_follows_cancels_and_logs_with_nothing_more(server_url, conn):
    with psycopg.connect(server_url, autocommit=True, row_factory=dict_row) as srv:
        assert srv.execute("SELECT current_user AS u").fetchone()["u"] == "ev2_test_server"
        job_id, user_id = _host_job(srv)
        submitted = srv.execute(
            "SELECT engine_v2.submit_job(%s, %s, 'p', 'make a snake game', %s) AS ok",
            (job_id, user_id, Jsonb({"mode": "live"})),
        ).fetchone()
        assert submitted["ok"] is True
        # Every row of the three tables, whatever auth.uid() says (RLS: server_select).
        run = srv.execute(
            "SELECT status, user_id::text FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)
        ).fetchone()
        assert run == {"status": "running", "user_id": user_id}
        events = srv.execute(
            "SELECT seq, event_type FROM engine_v2.job_task_events WHERE job_id = %s", (job_id,)
        ).fetchall()
        assert events == [{"seq": 1, "event_type": "jobSubmitted"}]
        srv.execute("SELECT count(*) FROM engine_v2.job_task_artifacts").fetchone()
        answer = srv.execute("SELECT engine_v2.cancel_job(%s, 'deadline') AS a", (job_id,))
        assert answer.fetchone()["a"] == "canceled"
        logged = srv.execute(
            "SELECT engine_v2.log_fallback(%s, 'v2_timeout', %s) AS a",
            (job_id, Jsonb({"source": "deadline"})),
        ).fetchone()
        assert logged["a"] == "canceled"
        types = [
            r["event_type"]
            for r in srv.execute(
                "SELECT event_type FROM engine_v2.job_task_events WHERE job_id = %s ORDER BY seq",
                (job_id,),
            )
        ]
        assert types == ["jobSubmitted", "fallback", "jobCanceled"]

        # Nothing else: other tables, internal functions, direct writes, admin functions.
        forbidden = [
            *(f"SELECT 1 FROM engine_v2.{t} LIMIT 1" for t in NOT_READABLE),
            f"SELECT engine_v2.emit_event('{job_id}', NULL, 'jobCompleted')",
            f"SELECT engine_v2._cancel_run('{job_id}', 'x')",
            f"SELECT engine_v2.retry_job('{job_id}')",
            f"SELECT engine_v2.finish_job('{job_id}', 'me', '{{}}')",
            f"UPDATE engine_v2.job_runs SET status = 'succeeded' WHERE job_id = '{job_id}'",
            f"DELETE FROM engine_v2.job_task_events WHERE job_id = '{job_id}'",
            "CREATE TABLE engine_v2.mine (id int)",
        ]
        for sql in forbidden:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                srv.execute(sql)  # type: ignore[arg-type]
    row = conn.execute(
        "SELECT error_code, detail->>'v2' AS v2 FROM engine_v2.server_fallbacks WHERE job_id = %s",
        (job_id,),
    ).fetchone()
    assert row == {"error_code": "v2_timeout", "v2": "canceled"}


def test_submit_errors_keep_their_sqlstate_for_the_server_role(server_url):
    with psycopg.connect(server_url, autocommit=True) as srv:
        job_id, user_id = _host_job(srv)
        other = str(uuid.uuid4())
        errors = psycopg.errors
        cases = [
            ((job_id, user_id, "p", "   ", Jsonb({})), errors.InvalidParameterValue),
            ((job_id, user_id, "p", "m", Jsonb({"x": 1})), errors.InvalidParameterValue),
            ((other, user_id, "p", "m", Jsonb({})), errors.ForeignKeyViolation),
            ((job_id, other, "p", "m", Jsonb({})), errors.InsufficientPrivilege),
        ]
        for args, error in cases:
            with pytest.raises(error):
                srv.execute("SELECT engine_v2.submit_job(%s, %s, %s, %s, %s)", args)


def test_grants_survive_a_function_file_that_drops_and_recreates(db_url, tmp_path):
    """90_grants.sql is re-applied after any earlier function file changes, so a
    DROP + CREATE of an entry point keeps its EXECUTE grant and SECURITY DEFINER."""
    functions = tmp_path / "functions"
    shutil.copytree(sql_root() / "functions", functions)
    outcomes = functions / "20_outcomes.sql"
    outcomes.write_text(
        "DROP FUNCTION engine_v2.log_fallback(uuid, text, jsonb);\n"
        + outcomes.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    states = {s.name: s.state for s in migrations.status(db_url, functions=functions)}
    assert states["20_outcomes"] == "pending" and states["90_grants"] == "pending"
    migrations.migrate(db_url, functions=functions)
    with psycopg.connect(db_url, autocommit=True) as conn:
        secdef = conn.execute(
            "SELECT prosecdef, proconfig FROM pg_proc"
            " WHERE oid = 'engine_v2.log_fallback(uuid, text, jsonb)'::regprocedure"
        ).fetchone()
        assert secdef == (True, ["search_path=pg_catalog, pg_temp"])
    with psycopg.connect(server_login_url(db_url), autocommit=True) as srv:
        answer = srv.execute(
            "SELECT engine_v2.log_fallback(%s, 'v2_unknown')", (str(uuid.uuid4()),)
        ).fetchone()
        assert answer == ("canceled",)


def test_uninstall_drops_our_role_only_when_no_other_database_uses_it(own_cluster):
    url = own_cluster.dsn()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE other")
    other = own_cluster.dsn("other")
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute(STANDINS.read_text())
    migrations.migrate(other)

    def role_exists() -> bool:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'engine_v2_server'")
            return row.fetchone() is not None

    first = uninstall_all(url)
    assert first.leftovers == []
    assert first.role == "role engine_v2_server kept: still used by database(s) other"
    assert role_exists()
    last = uninstall_all(other)
    assert (last.leftovers, last.role) == ([], "role engine_v2_server dropped")
    assert not role_exists()
    # Migrating again creates it again; one made by an administrator is never dropped.
    migrations.migrate(url)
    assert role_exists()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("COMMENT ON ROLE engine_v2_server IS NULL")
        conn.execute("DROP SCHEMA engine_v2 CASCADE")
        assert drop_server_role(conn) == "role engine_v2_server kept: not created by enginev2d"
        conn.execute("DROP ROLE engine_v2_server")
        assert drop_server_role(conn) == "role engine_v2_server: none"


def test_the_server_role_may_execute_its_three_entry_points_and_nothing_else(conn):
    """README: "no internal function". A function file without its REVOKE leaves a
    function executable by PUBLIC, and so by the server role."""
    rows = conn.execute(
        "SELECT p.proname FROM pg_proc p"
        " WHERE p.pronamespace = 'engine_v2'::regnamespace"
        "   AND has_function_privilege('engine_v2_server', p.oid, 'EXECUTE')"
        "   AND NOT EXISTS (SELECT 1 FROM pg_depend d"  # an extension's own (pgcrypto)
        "                    WHERE d.objid = p.oid AND d.deptype = 'e')"
    ).fetchall()
    assert sorted(r["proname"] for r in rows) == ["cancel_job", "log_fallback", "submit_job"]
