"""Finished v2 runs written straight into the schema, in bulk, for retention tests and the
prune benchmark: the shape of a real live job (seven tasks, seven edges, one attempt per
task, the section 13 events, the code/partial/result artifacts), no daemon needed."""

from __future__ import annotations

from typing import Any

import psycopg

# One statement: the parent rows and every child, joined through RETURNING.
_SEED = """
WITH keys(key, role, pos) AS (
  VALUES ('intent', 'planner', 0), ('plan', 'planner', 1), ('codegen', 'builder', 2),
         ('asset', 'asset', 3), ('qa_review', 'qa', 4), ('fix', 'builder', 5),
         ('publish_prep', 'publisher', 6)
), edges(pre, suc) AS (
  VALUES ('intent', 'plan'), ('plan', 'codegen'), ('plan', 'asset'), ('codegen', 'qa_review'),
         ('qa_review', 'fix'), ('fix', 'publish_prep'), ('asset', 'publish_prep')
), j AS (
  SELECT gen_random_uuid() AS id, gen_random_uuid() AS user_id, g,
         now() - make_interval(secs => %(age_days)s::float8 * 86400.0 + g) AS done
    FROM generate_series(1, %(n)s::int) g
), pj AS (
  INSERT INTO public.jobs (id, user_id, project_id, status, created_at, updated_at)
  SELECT id, user_id, 'seed-' || g, 'completed', done - interval '20 seconds', done FROM j
  RETURNING id
), r AS (
  INSERT INTO engine_v2.job_runs (job_id, status, user_id, project_id, message, mode,
                                  created_at, claimed_at, finished_at, event_seq, progress,
                                  result)
  SELECT j.id, %(status)s::text, j.user_id, 'seed-' || j.g, 'make me a neon snake game',
         %(mode)s::text,
         j.done - interval '20 seconds', j.done - interval '19 seconds', j.done, 16, 100,
         jsonb_build_object('type', 'completed', 'summary', 'a snake game', 'files',
           jsonb_build_array(jsonb_build_object('path', 'index.html', 'content', %(code)s::text)))
    FROM j JOIN pj ON pj.id = j.id
  RETURNING job_id, finished_at
), t AS (
  INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role, status, output,
                                   attempt_count, position, started_at, finished_at)
  SELECT r.job_id, k.key, k.role, 'succeeded',
         CASE WHEN k.key IN ('codegen', 'fix') THEN jsonb_build_object('files',
           jsonb_build_array(jsonb_build_object('path', 'index.html', 'content', %(code)s::text)))
         ELSE jsonb_build_object('ok', true) END,
         1, k.pos, r.finished_at - interval '10 seconds', r.finished_at
    FROM r CROSS JOIN keys k
  RETURNING id, job_id, task_key
), d AS (
  INSERT INTO engine_v2.job_task_dependencies (predecessor_task_id, successor_task_id)
  SELECT a.id, b.id FROM edges e
    JOIN t a ON a.task_key = e.pre JOIN t b ON b.job_id = a.job_id AND b.task_key = e.suc
), a AS (
  INSERT INTO engine_v2.job_task_attempts (task_id, attempt_no, status, tokens_in,
                                           tokens_out, latency_ms, cost_usd, ended_at)
  SELECT id, 1, 'succeeded', 1000, 200, 900, 0.001, now() FROM t
), e AS (
  INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data, seq)
  SELECT t.job_id, t.id, ev.type,
         jsonb_build_object('type', ev.type, 'task_key', t.task_key, 'progress', 50),
         row_number() OVER (PARTITION BY t.job_id ORDER BY t.task_key, ev.type)
    FROM t CROSS JOIN (VALUES ('taskStarted'), ('taskDone')) ev(type)
), x AS (
  INSERT INTO engine_v2.job_task_artifacts (job_id, task_id, kind, uri, content)
  SELECT t.job_id, t.id, 'code', 'index.html',
         jsonb_build_object('path', 'index.html', 'content', %(code)s::text)
    FROM t WHERE t.task_key IN ('codegen', 'fix')
), s AS (
  INSERT INTO engine_v2.job_task_artifacts (job_id, task_id, kind, content)
  SELECT t.job_id, t.id, 'shadow_result',
         jsonb_build_object('commit_hash', 'abc', 'summary', 'a snake game', 'images',
           '[]'::jsonb, 'files',
           jsonb_build_array(jsonb_build_object('path', 'index.html', 'content', %(code)s::text)))
    FROM t WHERE t.task_key = 'publish_prep' AND %(mode)s::text = 'shadow'
)
SELECT count(*) AS n FROM r
"""


def code_text(size: int) -> str:
    """Game-like text of about ``size`` bytes (compresses like real code, not like 'xxx')."""
    line = "function step(s){s.x+=s.vx*dt;s.y+=s.vy*dt;draw(ctx,s);}//{n}\n"
    out, n = [], 0
    while sum(map(len, out)) < size:
        out.append(line.replace("{n}", str(n * 7919 % 104729)))
        n += 1
    return "".join(out)[:size]


def seed_finished_runs(
    conn: psycopg.Connection[Any],
    n: int,
    *,
    age_days: float = 40.0,
    code_bytes: int = 4000,
    status: str = "succeeded",
    mode: str = "live",
    code: str | None = None,
) -> int:
    """Insert ``n`` finished runs that ended ``age_days`` ago; returns how many. A
    shadow run (``mode="shadow"``) also gets its ``shadow_result`` artifact."""
    params = {
        "n": n,
        "age_days": age_days,
        "code": code if code is not None else code_text(code_bytes),
        "status": status,
        "mode": mode,
    }
    row = conn.execute(_SEED, params).fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0])  # type: ignore[index]
