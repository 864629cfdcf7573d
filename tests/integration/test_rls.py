"""RLS as Supabase's client roles see it: ``authenticated`` with a JWT ``sub`` reads only
rows of its own jobs in all six tables and writes none; ``anon`` sees nothing; neither
may call the intake functions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

TABLES = (
    "job_runs",
    "job_tasks",
    "job_task_dependencies",
    "job_task_attempts",
    "job_task_artifacts",
    "job_task_events",
)

# A row identity per table, so visibility can be compared as sets.
_IDENT = {
    "job_runs": "job_id::text",
    "job_tasks": "id::text",
    "job_task_dependencies": "predecessor_task_id::text || '>' || successor_task_id::text",
    "job_task_attempts": "id::text",
    "job_task_artifacts": "id::text",
    "job_task_events": "id::text",
}

# One write of each kind per table; every one must be refused.
_WRITES = {
    "job_runs": [
        "INSERT INTO engine_v2.job_runs (job_id) VALUES (%(job)s)",
        "UPDATE engine_v2.job_runs SET status = 'canceled' WHERE job_id = %(job)s",
        "DELETE FROM engine_v2.job_runs WHERE job_id = %(job)s",
    ],
    "job_tasks": [
        "INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role)"
        " VALUES (%(job)s, 'evil', 'r')",
        "UPDATE engine_v2.job_tasks SET status = 'succeeded' WHERE job_id = %(job)s",
        "DELETE FROM engine_v2.job_tasks WHERE job_id = %(job)s",
    ],
    "job_task_dependencies": [
        "INSERT INTO engine_v2.job_task_dependencies VALUES (%(t2)s, %(t1)s)",
        "UPDATE engine_v2.job_task_dependencies SET successor_task_id = %(t1)s"
        " WHERE successor_task_id = %(t2)s",
        "DELETE FROM engine_v2.job_task_dependencies WHERE successor_task_id = %(t2)s",
    ],
    "job_task_attempts": [
        "INSERT INTO engine_v2.job_task_attempts (task_id, attempt_no, status)"
        " VALUES (%(t1)s, 9, 'succeeded')",
        "UPDATE engine_v2.job_task_attempts SET status = 'succeeded' WHERE task_id = %(t1)s",
        "DELETE FROM engine_v2.job_task_attempts WHERE task_id = %(t1)s",
    ],
    "job_task_artifacts": [
        "INSERT INTO engine_v2.job_task_artifacts (job_id, task_id, kind)"
        " VALUES (%(job)s, %(t1)s, 'evil')",
        "UPDATE engine_v2.job_task_artifacts SET uri = 'evil' WHERE job_id = %(job)s",
        "DELETE FROM engine_v2.job_task_artifacts WHERE job_id = %(job)s",
    ],
    "job_task_events": [
        "INSERT INTO engine_v2.job_task_events (job_id, event_type) VALUES (%(job)s, 'evil')",
        "UPDATE engine_v2.job_task_events SET event_type = 'evil' WHERE job_id = %(job)s",
        "DELETE FROM engine_v2.job_task_events WHERE job_id = %(job)s",
    ],
}


def _full_job(conn: psycopg.Connection[Any], user_id: str) -> dict[str, Any]:
    """A job with rows in all six tables, inserted as the superuser (service side)."""
    job_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO public.jobs (id, user_id, project_id) VALUES (%s, %s, 'p')",
        (job_id, user_id),
    )
    conn.execute("SELECT engine_v2.submit_job(%s, %s, 'p', 'make a game')", (job_id, user_id))
    t1, t2 = (
        str(
            conn.execute(
                "INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role)"
                " VALUES (%s, %s, 'r') RETURNING id",
                (job_id, key),
            ).fetchone()["id"]
        )
        for key in ("intent", "plan")
    )
    conn.execute("INSERT INTO engine_v2.job_task_dependencies VALUES (%s, %s)", (t1, t2))
    conn.execute(
        "INSERT INTO engine_v2.job_task_attempts (task_id, status) VALUES (%s, 'failed'),"
        " (%s, 'running')",
        (t1, t2),
    )
    conn.execute(
        "INSERT INTO engine_v2.job_task_artifacts (job_id, task_id, kind) VALUES (%s, %s, 'k')",
        (job_id, t1),
    )
    conn.execute("SELECT engine_v2.emit_event(%s, %s, 'taskStarted')", (job_id, t1))
    return {"job": job_id, "user": user_id, "t1": t1, "t2": t2}


def _rows_of(conn: psycopg.Connection[Any], job: dict[str, Any]) -> dict[str, set[str]]:
    """Identities of the job's rows in each table, read as the superuser."""
    where = {
        "job_runs": "job_id = %(job)s",
        "job_tasks": "job_id = %(job)s",
        "job_task_dependencies": "successor_task_id IN (%(t1)s, %(t2)s)",
        "job_task_attempts": "task_id IN (%(t1)s, %(t2)s)",
        "job_task_artifacts": "job_id = %(job)s",
        "job_task_events": "job_id = %(job)s",
    }
    out = {}
    for table in TABLES:
        rows = conn.execute(
            f"SELECT {_IDENT[table]} AS k FROM engine_v2.{table} WHERE {where[table]}", job
        ).fetchall()
        out[table] = {r["k"] for r in rows}
    return out


def _visible(conn: psycopg.Connection[Any]) -> dict[str, set[str]]:
    out = {}
    for table in TABLES:
        rows = conn.execute(f"SELECT {_IDENT[table]} AS k FROM engine_v2.{table}").fetchall()
        out[table] = {r["k"] for r in rows}
    return out


@contextmanager
def _as(conn: psycopg.Connection[Any], role: str, claims: dict[str, Any] | None) -> Iterator[None]:
    """A transaction running as ``role`` with ``request.jwt.claims`` set LOCAL."""
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        if claims is not None:
            conn.execute(
                sql.SQL("SET LOCAL request.jwt.claims = {}").format(sql.Literal(json.dumps(claims)))
            )
        yield


@pytest.fixture
def two_users(conn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    alice = _full_job(conn, str(uuid.uuid4()))
    bob = _full_job(conn, str(uuid.uuid4()))
    alice2 = _full_job(conn, alice["user"])  # a user with two jobs sees both
    return alice, bob, alice2


def test_setup_covers_all_six_tables(conn, two_users):
    for job in two_users:
        rows = _rows_of(conn, job)
        assert all(rows[t] for t in TABLES), rows


def test_authenticated_user_sees_only_own_rows_in_all_six_tables(conn, two_users):
    alice, bob, alice2 = two_users
    rows = {j["job"]: _rows_of(conn, j) for j in two_users}
    expected_alice = {t: rows[alice["job"]][t] | rows[alice2["job"]][t] for t in TABLES}
    with _as(conn, "authenticated", {"sub": alice["user"], "role": "authenticated"}):
        assert conn.execute("SELECT current_user AS u").fetchone()["u"] == "authenticated"
        assert str(conn.execute("SELECT auth.uid() AS u").fetchone()["u"]) == alice["user"]
        assert _visible(conn) == expected_alice
    with _as(conn, "authenticated", {"sub": bob["user"], "role": "authenticated"}):
        assert _visible(conn) == rows[bob["job"]]


def test_authenticated_user_without_jobs_sees_nothing(conn, two_users):
    with _as(conn, "authenticated", {"sub": str(uuid.uuid4())}):
        assert _visible(conn) == {t: set() for t in TABLES}


def test_anon_sees_nothing(conn, two_users):
    for claims in (None, {}, {"role": "anon"}, {"sub": None}):
        with _as(conn, "anon", claims):
            assert _visible(conn) == {t: set() for t in TABLES}, claims


def test_authenticated_without_sub_sees_nothing(conn, two_users):
    with _as(conn, "authenticated", {"role": "authenticated"}):
        assert _visible(conn) == {t: set() for t in TABLES}


def test_claims_do_not_leak_into_the_next_transaction(conn, two_users):
    """SET LOCAL ends with the transaction: the same session, next as anon without
    claims, must see nothing and must not fail on the now-empty setting."""
    alice = two_users[0]
    with _as(conn, "authenticated", {"sub": alice["user"]}):
        assert _visible(conn)["job_runs"]
    with _as(conn, "authenticated", None):
        assert conn.execute("SELECT auth.uid() AS u").fetchone()["u"] is None
        assert _visible(conn) == {t: set() for t in TABLES}
    with _as(conn, "anon", None):
        assert _visible(conn) == {t: set() for t in TABLES}


@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_client_roles_can_write_nothing(conn, two_users, role):
    alice = two_users[0]
    before = _rows_of(conn, alice)
    refused: list[str] = []
    with _as(conn, role, {"sub": alice["user"]}):
        for table in TABLES:
            for statement in _WRITES[table]:
                try:
                    with conn.transaction():
                        cur = conn.execute(statement, alice)
                        # Not refused outright: it must at least have touched nothing.
                        assert cur.rowcount == 0, statement
                except errors.InsufficientPrivilege:
                    refused.append(statement)
    # With no write grants at all, every statement is refused before touching rows.
    assert len(refused) == sum(len(v) for v in _WRITES.values())
    assert _rows_of(conn, alice) == before
    run = conn.execute(
        "SELECT status FROM engine_v2.job_runs WHERE job_id = %s", (alice["job"],)
    ).fetchone()
    assert run["status"] == "running"


def test_client_roles_have_no_write_privilege_in_catalog(conn):
    for role in ("authenticated", "anon"):
        for table in TABLES:
            for priv in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                row = conn.execute(
                    "SELECT has_table_privilege(%s, %s, %s) AS p",
                    (role, f"engine_v2.{table}", priv),
                ).fetchone()
                assert row["p"] is False, (role, table, priv)
            row = conn.execute(
                "SELECT has_table_privilege(%s, %s, 'SELECT') AS p",
                (role, f"engine_v2.{table}"),
            ).fetchone()
            assert row["p"] is True, (role, table)


@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_client_roles_cannot_call_intake_functions(conn, role):
    job_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    conn.execute("INSERT INTO public.jobs (id, user_id) VALUES (%s, %s)", (job_id, user_id))
    calls = [
        ("SELECT engine_v2.submit_job(%s, %s, 'p', 'm')", (job_id, user_id)),
        ("SELECT engine_v2.submit_job(%s, %s, 'p', 'm', '{}')", (job_id, user_id)),
        ("SELECT engine_v2.emit_event(%s, NULL, 'x')", (job_id,)),
    ]
    with _as(conn, role, {"sub": user_id}):
        for statement, params in calls:
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement, params)
    row = conn.execute(
        "SELECT count(*) AS n FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)
    ).fetchone()
    assert row["n"] == 0
