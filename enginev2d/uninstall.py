"""Full removal (design 16 step 4): ``DROP SCHEMA engine_v2 CASCADE``, the host server's
role ``engine_v2_server`` when migration 0005 created it and no other database of the
cluster still uses it, and a check that nothing of ours is left in ``public`` (or
anywhere else)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

# Every object enginev2d could have left outside its schema, by catalog.
_LEFTOVERS = """
SELECT 'schema ' || nspname AS what FROM pg_namespace WHERE nspname = 'engine_v2'
UNION ALL
SELECT 'function ' || n.nspname || '.' || p.proname FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND (p.proname LIKE 'engine_v2%%' OR p.prosrc LIKE '%%engine_v2.%%')
UNION ALL
SELECT 'trigger ' || t.tgname || ' on ' || c.relname FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal AND n.nspname = 'public'
   AND (t.tgname LIKE '%%engine_v2%%' OR t.tgname LIKE 'trg_job_%%')
UNION ALL
SELECT 'table ' || n.nspname || '.' || c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public'
   AND c.relname IN ('job_runs', 'job_tasks', 'job_task_dependencies', 'job_task_attempts',
                     'job_task_artifacts', 'job_task_events', 'schema_migrations')
UNION ALL
SELECT 'column public.' || c.relname || '.' || a.attname FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
   AND a.attname LIKE '%%engine_v2%%'
UNION ALL
SELECT 'constraint ' || conname FROM pg_constraint
 WHERE connamespace = 'public'::regnamespace AND conname LIKE '%%engine_v2%%'
UNION ALL
SELECT 'extension ' || e.extname FROM pg_extension e
 WHERE NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.oid = e.extnamespace)
"""


def leftovers(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(_LEFTOVERS).fetchall()
    return [r["what"] if isinstance(r, dict) else r[0] for r in rows]


SERVER_ROLE = "engine_v2_server"
# Migration 0005 comments the role it creates; a role an administrator made is theirs.
_OUR_ROLE = """
SELECT r.oid FROM pg_roles r
  JOIN pg_shdescription d ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass
 WHERE r.rolname = %s AND d.description LIKE 'enginev2d:%%'
"""
# Databases other than this one holding privileges, policies or objects of the role.
_USED_ELSEWHERE = """
SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
 WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = %s
   AND d.datname <> current_database()
 ORDER BY 1
"""


@dataclass(frozen=True)
class Uninstalled:
    leftovers: list[str]  # objects of ours still present (empty means clean)
    role: str  # what happened to engine_v2_server, one line


def drop_server_role(conn: psycopg.Connection[Any]) -> str:
    """Drop ``engine_v2_server`` (after the schema, which took its grants and policies
    along) unless it is not ours or another database still uses it; say which."""
    row = conn.execute(_OUR_ROLE, (SERVER_ROLE,)).fetchone()
    if row is None:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (SERVER_ROLE,))
        if exists.fetchone() is None:
            return f"role {SERVER_ROLE}: none"
        return f"role {SERVER_ROLE} kept: not created by enginev2d"
    oid = row["oid"] if isinstance(row, dict) else row[0]
    others = [
        r["datname"] if isinstance(r, dict) else r[0] for r in conn.execute(_USED_ELSEWHERE, (oid,))
    ]
    if others:
        return f"role {SERVER_ROLE} kept: still used by database(s) {', '.join(others)}"
    try:
        conn.execute(f"DROP ROLE {SERVER_ROLE}")
    except psycopg.errors.DependentObjectsStillExist as exc:
        # Granted something outside engine_v2 by an administrator: theirs to revoke.
        detail = (exc.diag.message_detail or "").replace("\n", "; ")
        return f"role {SERVER_ROLE} kept: {detail or 'still referenced'}"
    return f"role {SERVER_ROLE} dropped"


def uninstall_all(conninfo: str, **connect_kw: Any) -> Uninstalled:
    """Drop the schema and our role; report what is left of ours afterwards."""
    with psycopg.connect(conninfo, autocommit=True, **connect_kw) as conn:
        conn.execute("DROP SCHEMA IF EXISTS engine_v2 CASCADE")
        role = drop_server_role(conn)
        return Uninstalled(leftovers(conn), role)


def uninstall(conninfo: str, **connect_kw: Any) -> list[str]:
    """Drop the schema (and our role); return what is left of ours (empty means clean)."""
    return uninstall_all(conninfo, **connect_kw).leftovers
