"""Full removal (design 16 step 4): ``DROP SCHEMA engine_v2 CASCADE`` and a check that
nothing of ours is left in ``public`` (or anywhere else)."""

from __future__ import annotations

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


def uninstall(conninfo: str, **connect_kw: Any) -> list[str]:
    """Drop the schema; return what is left of ours afterwards (empty means clean)."""
    with psycopg.connect(conninfo, autocommit=True, **connect_kw) as conn:
        conn.execute("DROP SCHEMA IF EXISTS engine_v2 CASCADE")
        return leftovers(conn)
