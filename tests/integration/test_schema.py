"""Migration 1 proven from the catalog and by behaviour: the design's section 3.

Every column (type, nullability, default), every CHECK, UNIQUE and FK, the
``updated_at`` trigger, the five indexes of 3.8 and RLS with an owner SELECT policy on
the six tables. Later migrations may append columns, so the design's columns are
asserted as the leading columns of each table, in order.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import errors

TABLES = (
    "job_runs",
    "job_tasks",
    "job_task_dependencies",
    "job_task_attempts",
    "job_task_artifacts",
    "job_task_events",
)

TSTZ = "timestamp with time zone"

# (column, type, NOT NULL, default) exactly as design 3.2-3.7.
DESIGN_COLUMNS: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "job_runs": [
        ("job_id", "uuid", True, None),
        ("engine_version", "text", True, "'v2'::text"),
        ("scheduler_version", "text", False, None),
        ("status", "text", True, "'running'::text"),
        ("fallback_triggered", "boolean", False, "false"),
        ("error_code", "text", False, None),
        ("created_at", TSTZ, False, "now()"),
        ("finished_at", TSTZ, False, None),
    ],
    "job_tasks": [
        ("id", "uuid", True, "gen_random_uuid()"),
        ("job_id", "uuid", True, None),
        ("task_key", "text", True, None),
        ("agent_role", "text", True, None),
        ("status", "text", True, "'pending'::text"),
        ("input", "jsonb", False, "'{}'::jsonb"),
        ("output", "jsonb", False, "'{}'::jsonb"),
        ("progress", "integer", False, "0"),
        ("attempt_count", "integer", False, "0"),
        ("max_attempts", "integer", False, "2"),
        ("display_label", "text", False, None),
        ("weight", "integer", False, "1"),
        ("template_id", "text", False, None),
        ("error_code", "text", False, None),
        ("error_message", "text", False, None),
        ("started_at", TSTZ, False, None),
        ("finished_at", TSTZ, False, None),
        ("created_at", TSTZ, False, "now()"),
        ("updated_at", TSTZ, False, "now()"),
    ],
    "job_task_dependencies": [
        ("predecessor_task_id", "uuid", True, None),
        ("successor_task_id", "uuid", True, None),
    ],
    "job_task_attempts": [
        ("id", "uuid", True, "gen_random_uuid()"),
        ("task_id", "uuid", True, None),
        ("attempt_no", "integer", True, "1"),
        ("status", "text", True, None),
        ("tokens_in", "integer", False, None),
        ("tokens_out", "integer", False, None),
        ("latency_ms", "integer", False, None),
        ("cost_usd", "numeric(10,4)", False, None),
        ("error", "jsonb", False, None),
        ("started_at", TSTZ, False, "now()"),
        ("ended_at", TSTZ, False, None),
        ("created_at", TSTZ, False, "now()"),
    ],
    "job_task_artifacts": [
        ("id", "uuid", True, "gen_random_uuid()"),
        ("job_id", "uuid", True, None),
        ("task_id", "uuid", True, None),
        ("kind", "text", True, None),
        ("uri", "text", False, None),
        ("content", "jsonb", False, None),
        ("metadata", "jsonb", False, "'{}'::jsonb"),
        ("created_at", TSTZ, False, "now()"),
    ],
    "job_task_events": [
        ("id", "uuid", True, "gen_random_uuid()"),
        ("job_id", "uuid", True, None),
        ("task_id", "uuid", False, None),
        ("event_type", "text", True, None),
        ("data", "jsonb", False, "'{}'::jsonb"),
        ("created_at", TSTZ, False, "now()"),
    ],
}

# (table, definition) of every PK/UNIQUE/CHECK/FK of section 3 (pg_get_constraintdef).
DESIGN_CONSTRAINTS = {
    ("job_runs", "PRIMARY KEY (job_id)"),
    ("job_runs", "FOREIGN KEY (job_id) REFERENCES jobs(id) ON DELETE CASCADE"),
    (
        "job_runs",
        "CHECK ((status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text,"
        " 'canceled'::text])))",
    ),
    ("job_tasks", "PRIMARY KEY (id)"),
    ("job_tasks", "FOREIGN KEY (job_id) REFERENCES jobs(id) ON DELETE CASCADE"),
    ("job_tasks", "UNIQUE (job_id, task_key)"),
    (
        "job_tasks",
        "CHECK ((status = ANY (ARRAY['pending'::text, 'ready'::text, 'running'::text,"
        " 'succeeded'::text, 'failed'::text, 'blocked'::text, 'canceled'::text,"
        " 'skipped'::text])))",
    ),
    ("job_task_dependencies", "PRIMARY KEY (predecessor_task_id, successor_task_id)"),
    (
        "job_task_dependencies",
        "FOREIGN KEY (predecessor_task_id) REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE",
    ),
    (
        "job_task_dependencies",
        "FOREIGN KEY (successor_task_id) REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE",
    ),
    ("job_task_dependencies", "CHECK ((predecessor_task_id <> successor_task_id))"),
    ("job_task_attempts", "PRIMARY KEY (id)"),
    (
        "job_task_attempts",
        "FOREIGN KEY (task_id) REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE",
    ),
    ("job_task_attempts", "UNIQUE (task_id, attempt_no)"),
    (
        "job_task_attempts",
        "CHECK ((status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text,"
        " 'canceled'::text])))",
    ),
    ("job_task_artifacts", "PRIMARY KEY (id)"),
    ("job_task_artifacts", "FOREIGN KEY (job_id) REFERENCES jobs(id) ON DELETE CASCADE"),
    (
        "job_task_artifacts",
        "FOREIGN KEY (task_id) REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE",
    ),
    ("job_task_events", "PRIMARY KEY (id)"),
    ("job_task_events", "FOREIGN KEY (job_id) REFERENCES jobs(id) ON DELETE CASCADE"),
    (
        "job_task_events",
        "FOREIGN KEY (task_id) REFERENCES engine_v2.job_tasks(id) ON DELETE CASCADE",
    ),
}

DESIGN_INDEXES = {
    "idx_job_tasks_status": "CREATE INDEX idx_job_tasks_status ON engine_v2.job_tasks"
    " USING btree (job_id, status, created_at)",
    "idx_job_tasks_ready": "CREATE INDEX idx_job_tasks_ready ON engine_v2.job_tasks"
    " USING btree (status, created_at)"
    " WHERE (status = ANY (ARRAY['ready'::text, 'running'::text]))",
    "idx_deps_successor": "CREATE INDEX idx_deps_successor ON engine_v2.job_task_dependencies"
    " USING btree (successor_task_id)",
    "idx_artifacts_job": "CREATE INDEX idx_artifacts_job ON engine_v2.job_task_artifacts"
    " USING btree (job_id, kind)",
    "idx_events_job": "CREATE INDEX idx_events_job ON engine_v2.job_task_events"
    " USING btree (job_id, created_at)",
}


# --------------------------------------------------------------------------- helpers


def _job(conn: psycopg.Connection[Any], user_id: str | None = None) -> str:
    job_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO public.jobs (id, user_id, project_id) VALUES (%s, %s, 'p')",
        (job_id, user_id or str(uuid.uuid4())),
    )
    return job_id


def _task(conn: psycopg.Connection[Any], job_id: str, key: str, **cols: Any) -> str:
    names = ["job_id", "task_key", "agent_role", *cols]
    values = [job_id, key, "role", *cols.values()]
    row = conn.execute(
        f"INSERT INTO engine_v2.job_tasks ({', '.join(names)})"
        f" VALUES ({', '.join(['%s'] * len(values))}) RETURNING id",
        values,
    ).fetchone()
    return str(row["id"])


def _full_job(conn: psycopg.Connection[Any], user_id: str | None = None) -> dict[str, str]:
    """A public.jobs row with one row in each of the six engine_v2 tables (as superuser)."""
    job_id = _job(conn, user_id)
    conn.execute("INSERT INTO engine_v2.job_runs (job_id) VALUES (%s)", (job_id,))
    t1 = _task(conn, job_id, "intent")
    t2 = _task(conn, job_id, "plan")
    conn.execute(
        "INSERT INTO engine_v2.job_task_dependencies VALUES (%s, %s)",
        (t1, t2),
    )
    conn.execute(
        "INSERT INTO engine_v2.job_task_attempts (task_id, status) VALUES (%s, 'running')",
        (t1,),
    )
    conn.execute(
        "INSERT INTO engine_v2.job_task_artifacts (job_id, task_id, kind) VALUES (%s, %s, 'x')",
        (job_id, t1),
    )
    conn.execute(
        "INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type)"
        " VALUES (%s, %s, 'taskStarted')",
        (job_id, t1),
    )
    return {"job_id": job_id, "t1": t1, "t2": t2}


def _counts(conn: psycopg.Connection[Any], job_id: str) -> dict[str, int]:
    q = """
    SELECT
      (SELECT count(*) FROM engine_v2.job_runs WHERE job_id = %(j)s) AS job_runs,
      (SELECT count(*) FROM engine_v2.job_tasks WHERE job_id = %(j)s) AS job_tasks,
      (SELECT count(*) FROM engine_v2.job_task_dependencies d
         JOIN engine_v2.job_tasks t ON t.id = d.successor_task_id
        WHERE t.job_id = %(j)s) AS job_task_dependencies,
      (SELECT count(*) FROM engine_v2.job_task_attempts a
         JOIN engine_v2.job_tasks t ON t.id = a.task_id
        WHERE t.job_id = %(j)s) AS job_task_attempts,
      (SELECT count(*) FROM engine_v2.job_task_artifacts WHERE job_id = %(j)s)
        AS job_task_artifacts,
      (SELECT count(*) FROM engine_v2.job_task_events WHERE job_id = %(j)s) AS job_task_events
    """
    return dict(conn.execute(q, {"j": job_id}).fetchone())


# --------------------------------------------------------------------------- catalog


def test_schema_holds_exactly_the_six_design_tables_plus_bookkeeping(conn):
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'engine_v2'::regnamespace"
        " AND relkind IN ('r', 'p')"
    ).fetchall()
    names = {r["relname"] for r in rows}
    assert set(TABLES) <= names
    assert "schema_migrations" in names


def test_design_columns_type_nullability_default(conn):
    actual: dict[str, list[tuple[str, str, bool, str | None]]] = {}
    info: dict[str, list[tuple[str, bool, str | None]]] = {}
    for table, expected in DESIGN_COLUMNS.items():
        rows = conn.execute(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid) AS dflt
              FROM pg_attribute a
              LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = ('engine_v2.' || %s)::regclass
               AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum
            """,
            (table,),
        ).fetchall()
        # The design's columns come first, in order; later migrations may only append.
        actual[table] = [
            (r["attname"], r["type"], r["attnotnull"], r["dflt"]) for r in rows[: len(expected)]
        ]
        # information_schema agrees on nullability and default.
        cols = conn.execute(
            "SELECT column_name, is_nullable, column_default FROM information_schema.columns"
            " WHERE table_schema = 'engine_v2' AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        info[table] = [
            (r["column_name"], r["is_nullable"] == "NO", r["column_default"])
            for r in cols[: len(expected)]
        ]
    assert actual == DESIGN_COLUMNS
    assert info == {t: [(c, nn, d) for c, _, nn, d in cols] for t, cols in DESIGN_COLUMNS.items()}


def test_design_constraints_present(conn):
    rows = conn.execute(
        "SELECT c.relname, pg_get_constraintdef(k.oid) AS def FROM pg_constraint k"
        " JOIN pg_class c ON c.oid = k.conrelid"
        " WHERE k.connamespace = 'engine_v2'::regnamespace AND k.contype IN ('p','u','c','f')"
    ).fetchall()
    actual = {(r["relname"], r["def"]) for r in rows}
    missing = DESIGN_CONSTRAINTS - actual
    assert not missing, missing
    # On the six design tables, no constraint of section 3 is duplicated or altered:
    # any extra PK/FK/UNIQUE would change behaviour the design fixes.
    for table in TABLES:
        keys = {d for t, d in actual if t == table and not d.startswith("CHECK")}
        design = {d for t, d in DESIGN_CONSTRAINTS if t == table and not d.startswith("CHECK")}
        assert keys == design, table


def test_five_design_indexes_exact(conn):
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'engine_v2'"
    ).fetchall()
    actual = {r["indexname"]: r["indexdef"] for r in rows}
    for name, definition in DESIGN_INDEXES.items():
        assert actual.get(name) == definition


def test_updated_at_trigger_definition(conn):
    row = conn.execute(
        "SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger"
        " WHERE tgrelid = 'engine_v2.job_tasks'::regclass AND tgname = 'trg_job_tasks_updated_at'"
    ).fetchone()
    assert row["def"] == (
        "CREATE TRIGGER trg_job_tasks_updated_at BEFORE UPDATE ON engine_v2.job_tasks"
        " FOR EACH ROW EXECUTE FUNCTION engine_v2.set_updated_at()"
    )


def test_rls_enabled_with_owner_select_policy_on_all_six(conn):
    rls = conn.execute(
        "SELECT relname, relrowsecurity FROM pg_class"
        " WHERE relnamespace = 'engine_v2'::regnamespace AND relname = ANY(%s)",
        (list(TABLES),),
    ).fetchall()
    assert {r["relname"]: r["relrowsecurity"] for r in rls} == dict.fromkeys(TABLES, True)
    policies = conn.execute(
        "SELECT tablename, policyname, cmd, permissive, roles, qual FROM pg_policies"
        " WHERE schemaname = 'engine_v2' AND tablename = ANY(%s)",
        (list(TABLES),),
    ).fetchall()
    by_table = {
        t: [
            (p["policyname"], p["cmd"], p["permissive"], p["roles"])
            for p in sorted(policies, key=lambda p: p["policyname"])
            if p["tablename"] == t
        ]
        for t in TABLES
    }
    owner = ("owner_select", "SELECT", "PERMISSIVE", ["public"])
    # Migration 0005: the host server's role reads the three tables its client needs.
    server = ("server_select", "SELECT", "PERMISSIVE", ["engine_v2_server"])
    server_reads = {"job_runs", "job_task_events", "job_task_artifacts"}
    assert by_table == {
        t: sorted([owner, server] if t in server_reads else [owner]) for t in TABLES
    }
    for p in policies:
        if p["policyname"] == "owner_select":
            assert "auth.uid()" in p["qual"] and "jobs.user_id" in p["qual"], p["tablename"]
        else:
            assert p["qual"] == "true", p


def test_pgcrypto_lives_in_engine_v2_and_nothing_in_public(conn):
    row = conn.execute(
        "SELECT extnamespace::regnamespace::text AS ns FROM pg_extension WHERE extname = 'pgcrypto'"
    ).fetchone()
    assert row["ns"] == "engine_v2"
    # gen_random_uuid() in the defaults resolves to the built-in, not an extension copy.
    row = conn.execute(
        "SELECT count(*) AS n FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
    ).fetchone()
    assert row["n"] == 0


# --------------------------------------------------------------------------- behaviour


def test_defaults_applied_on_minimal_insert(conn):
    job_id = _job(conn)
    conn.execute("INSERT INTO engine_v2.job_runs (job_id) VALUES (%s)", (job_id,))
    run = conn.execute(
        "SELECT engine_version, status, fallback_triggered, created_at IS NOT NULL AS c"
        " FROM engine_v2.job_runs WHERE job_id = %s",
        (job_id,),
    ).fetchone()
    assert run == {
        "engine_version": "v2",
        "status": "running",
        "fallback_triggered": False,
        "c": True,
    }
    task_id = _task(conn, job_id, "intent")
    task = conn.execute(
        "SELECT status, input, output, progress, attempt_count, max_attempts, weight"
        " FROM engine_v2.job_tasks WHERE id = %s",
        (task_id,),
    ).fetchone()
    assert task == {
        "status": "pending",
        "input": {},
        "output": {},
        "progress": 0,
        "attempt_count": 0,
        "max_attempts": 2,
        "weight": 1,
    }
    conn.execute(
        "INSERT INTO engine_v2.job_task_attempts (task_id, status) VALUES (%s, 'running')",
        (task_id,),
    )
    att = conn.execute(
        "SELECT attempt_no, started_at IS NOT NULL AS s FROM engine_v2.job_task_attempts"
        " WHERE task_id = %s",
        (task_id,),
    ).fetchone()
    assert att == {"attempt_no": 1, "s": True}


CHECK_VIOLATIONS = [
    ("INSERT INTO engine_v2.job_runs (job_id, status) VALUES (%(j)s, 'done')"),
    ("INSERT INTO engine_v2.job_runs (job_id, status) VALUES (%(j)s, 'RUNNING')"),
    ("INSERT INTO engine_v2.job_runs (job_id, status) VALUES (%(j)s, '')"),
    (
        "INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role, status)"
        " VALUES (%(j)s, 'k', 'r', 'queued')"
    ),
    ("UPDATE engine_v2.job_tasks SET status = 'done' WHERE id = %(t)s"),
    ("INSERT INTO engine_v2.job_task_attempts (task_id, status) VALUES (%(t)s, 'pending')"),
    ("INSERT INTO engine_v2.job_task_attempts (task_id, status) VALUES (%(t)s, 'skipped')"),
    ("INSERT INTO engine_v2.job_task_dependencies VALUES (%(t)s, %(t)s)"),
]


def test_check_constraints_reject(conn):
    job_id = _job(conn)
    task_id = _task(conn, job_id, "intent")
    for sql in CHECK_VIOLATIONS:
        with pytest.raises(errors.CheckViolation):
            conn.execute(sql, {"j": job_id, "t": task_id})
    # Nothing was written by the rejected statements.
    assert _counts(conn, job_id) == {
        "job_runs": 0,
        "job_tasks": 1,
        "job_task_dependencies": 0,
        "job_task_attempts": 0,
        "job_task_artifacts": 0,
        "job_task_events": 0,
    }
    row = conn.execute("SELECT status FROM engine_v2.job_tasks WHERE id = %s", (task_id,))
    assert row.fetchone()["status"] == "pending"


def test_every_design_status_accepted(conn):
    job_id = _job(conn)
    for i, status in enumerate(
        ["pending", "ready", "running", "succeeded", "failed", "blocked", "canceled", "skipped"]
    ):
        _task(conn, job_id, f"k{i}", status=status)
    task_id = _task(conn, job_id, "attempts")
    for i, status in enumerate(["running", "succeeded", "failed", "canceled"], start=1):
        conn.execute(
            "INSERT INTO engine_v2.job_task_attempts (task_id, attempt_no, status)"
            " VALUES (%s, %s, %s)",
            (task_id, i, status),
        )
        other = _job(conn)
        conn.execute(
            "INSERT INTO engine_v2.job_runs (job_id, status) VALUES (%s, %s)", (other, status)
        )


def test_not_null_columns_reject_null(conn):
    job_id = _job(conn)
    for column in ("task_key", "agent_role", "status"):
        cols = {"job_id": job_id, "task_key": "k", "agent_role": "r", "status": "pending"}
        cols[column] = None
        with pytest.raises(errors.NotNullViolation, match=column):
            conn.execute(
                "INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role, status)"
                " VALUES (%(job_id)s, %(task_key)s, %(agent_role)s, %(status)s)",
                cols,
            )
    with pytest.raises(errors.NotNullViolation, match="engine_version"):
        conn.execute(
            "INSERT INTO engine_v2.job_runs (job_id, engine_version) VALUES (%s, NULL)",
            (job_id,),
        )
    with pytest.raises(errors.NotNullViolation, match="kind"):
        conn.execute(
            "INSERT INTO engine_v2.job_task_artifacts (job_id, task_id, kind)"
            " VALUES (%s, %s, NULL)",
            (job_id, _task(conn, job_id, "x")),
        )


def test_unique_job_id_task_key(conn):
    job_id = _job(conn)
    _task(conn, job_id, "intent")
    with pytest.raises(errors.UniqueViolation):
        _task(conn, job_id, "intent")
    # The same key in another job is fine.
    _task(conn, _job(conn), "intent")


def test_unique_task_id_attempt_no(conn):
    job_id = _job(conn)
    task_id = _task(conn, job_id, "intent")
    insert = (
        "INSERT INTO engine_v2.job_task_attempts (task_id, attempt_no, status)"
        " VALUES (%s, %s, 'failed')"
    )
    conn.execute(insert, (task_id, 1))
    conn.execute(insert, (task_id, 2))
    with pytest.raises(errors.UniqueViolation):
        conn.execute(insert, (task_id, 1))


def test_dependency_primary_key_rejects_duplicate_edge(conn):
    job_id = _job(conn)
    a, b = _task(conn, job_id, "a"), _task(conn, job_id, "b")
    conn.execute("INSERT INTO engine_v2.job_task_dependencies VALUES (%s, %s)", (a, b))
    conn.execute("INSERT INTO engine_v2.job_task_dependencies VALUES (%s, %s)", (b, a))
    with pytest.raises(errors.UniqueViolation):
        conn.execute("INSERT INTO engine_v2.job_task_dependencies VALUES (%s, %s)", (a, b))


FK_VIOLATIONS = [
    ("INSERT INTO engine_v2.job_runs (job_id) VALUES (%(x)s)", "job"),
    (
        "INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role) VALUES (%(x)s, 'k', 'r')",
        "job",
    ),
    (
        "INSERT INTO engine_v2.job_task_artifacts (job_id, task_id, kind)"
        " VALUES (%(x)s, %(t)s, 'k')",
        "job",
    ),
    (
        "INSERT INTO engine_v2.job_task_events (job_id, event_type) VALUES (%(x)s, 'e')",
        "job",
    ),
    (
        "INSERT INTO engine_v2.job_task_attempts (task_id, status) VALUES (%(x)s, 'running')",
        "task",
    ),
    ("INSERT INTO engine_v2.job_task_dependencies VALUES (%(x)s, %(t)s)", "task"),
    ("INSERT INTO engine_v2.job_task_dependencies VALUES (%(t)s, %(x)s)", "task"),
    (
        "INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type)"
        " VALUES (%(j)s, %(x)s, 'e')",
        "task",
    ),
]


def test_foreign_keys_reject_dangling_references(conn):
    job_id = _job(conn)
    task_id = _task(conn, job_id, "intent")
    for sql, _kind in FK_VIOLATIONS:
        with pytest.raises(errors.ForeignKeyViolation):
            conn.execute(sql, {"x": str(uuid.uuid4()), "t": task_id, "j": job_id})


def test_deleting_public_job_cascades_to_all_six_tables(conn):
    doomed = _full_job(conn)
    kept = _full_job(conn)
    before = _counts(conn, doomed["job_id"])
    assert before == {
        "job_runs": 1,
        "job_tasks": 2,
        "job_task_dependencies": 1,
        "job_task_attempts": 1,
        "job_task_artifacts": 1,
        "job_task_events": 1,
    }
    conn.execute("DELETE FROM public.jobs WHERE id = %s", (doomed["job_id"],))
    assert set(_counts(conn, doomed["job_id"]).values()) == {0}
    # Rows reachable only through the deleted tasks are gone too.
    orphans = conn.execute(
        "SELECT (SELECT count(*) FROM engine_v2.job_task_attempts WHERE task_id = %(t)s)"
        " + (SELECT count(*) FROM engine_v2.job_task_dependencies"
        "     WHERE predecessor_task_id = %(t)s OR successor_task_id = %(t)s) AS n",
        {"t": doomed["t1"]},
    ).fetchone()
    assert orphans["n"] == 0
    # The other job is untouched.
    assert _counts(conn, kept["job_id"]) == before


def test_deleting_a_task_cascades_to_deps_attempts_artifacts_events(conn):
    ids = _full_job(conn)
    job_id = ids["job_id"]
    # An event without task (job level) must survive the task's deletion.
    conn.execute(
        "INSERT INTO engine_v2.job_task_events (job_id, event_type) VALUES (%s, 'jobLevel')",
        (job_id,),
    )
    conn.execute("DELETE FROM engine_v2.job_tasks WHERE id = %s", (ids["t1"],))
    assert _counts(conn, job_id) == {
        "job_runs": 1,
        "job_tasks": 1,
        "job_task_dependencies": 0,
        "job_task_attempts": 0,
        "job_task_artifacts": 0,
        "job_task_events": 1,
    }
    left = conn.execute(
        "SELECT event_type FROM engine_v2.job_task_events WHERE job_id = %s", (job_id,)
    ).fetchall()
    assert [r["event_type"] for r in left] == ["jobLevel"]


def test_deleting_successor_task_removes_edge(conn):
    ids = _full_job(conn)
    conn.execute("DELETE FROM engine_v2.job_tasks WHERE id = %s", (ids["t2"],))
    assert _counts(conn, ids["job_id"])["job_task_dependencies"] == 0


def test_updated_at_trigger_sets_now_on_update(conn):
    job_id = _job(conn)
    task_id = _task(conn, job_id, "intent", updated_at="2000-01-01T00:00:00Z")
    with conn.transaction():
        conn.execute(
            "UPDATE engine_v2.job_tasks SET progress = 5, updated_at = '1999-01-01' WHERE id = %s",
            (task_id,),
        )
        row = conn.execute(
            "SELECT updated_at = now() AS is_now, created_at FROM engine_v2.job_tasks"
            " WHERE id = %s",
            (task_id,),
        ).fetchone()
    assert row["is_now"] is True  # even an explicit value is overwritten
    # created_at is not touched by the trigger.
    again = conn.execute(
        "SELECT created_at FROM engine_v2.job_tasks WHERE id = %s", (task_id,)
    ).fetchone()
    assert again["created_at"] == row["created_at"]


def test_updated_at_unchanged_without_update(conn):
    job_id = _job(conn)
    task_id = _task(conn, job_id, "intent", updated_at="2000-01-01T00:00:00Z")
    row = conn.execute(
        "SELECT extract(year FROM updated_at AT TIME ZONE 'UTC') AS y"
        " FROM engine_v2.job_tasks WHERE id = %s",
        (task_id,),
    ).fetchone()
    assert row["y"] == 2000  # INSERT keeps the given value: the trigger is BEFORE UPDATE only


def test_partial_ready_index_is_used_for_ready_lookup(conn):
    job_id = _job(conn)
    for i in range(50):
        _task(conn, job_id, f"k{i}", status="succeeded")
    _task(conn, job_id, "r", status="ready")
    conn.execute("ANALYZE engine_v2.job_tasks")
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = conn.execute(
            "EXPLAIN SELECT id FROM engine_v2.job_tasks WHERE status = 'ready' ORDER BY created_at"
        ).fetchall()
    text = "\n".join(r["QUERY PLAN"] for r in plan)
    assert "idx_job_tasks_ready" in text
