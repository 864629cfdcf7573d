"""A faithful Python port of the design's naive engine (sections 7.1, 8.1-8.3, 12).

What the design's Node server would do, statement for statement:

* ``db.js``: a ``pg`` Pool of ``max: 5`` connections; every helper is one
  ``pool.query(sql, params)`` (check out, one unnamed extended-protocol statement,
  release). No prepared statements (psycopg's auto-prepare is turned off to match).
* ``createWorkflow``: in one transaction on a checked-out client, one
  ``INSERT ... RETURNING id`` per task of DEFAULT_WORKFLOW and one INSERT per edge.
* ``runWorkflow`` / ``runWorker``: section 8.3 verbatim, three workers per job, with
  ``wait(300)`` when nothing is claimable while a sibling's task is active.
* ``promoteReadyTasks`` (8.1) and ``claimNextTask`` (8.2): the design's SQL verbatim.
* ``executeAndHandle``: a no-op body between a ``taskStarted`` event and the success
  bookkeeping, written as the design implies (section 13's events): INSERT the
  ``taskStarted`` event; UPDATE the task to ``succeeded``; INSERT ``taskDone``; promote
  the successors (8.1). Promoting here is generous to the design: 8.3 alone would promote
  only on its idle branch.
* The job's end: UPDATE ``job_runs`` to ``succeeded`` plus a ``jobCompleted`` event.

It runs on its own database with the design's schema only (migration 0001).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

# Design 7.1, DEFAULT_WORKFLOW.
DEFAULT_WORKFLOW: dict[str, Any] = {
    "tasks": [
        {"key": "intent", "role": "planner", "weight": 1, "label": "意図を分析中...", "max": 2},
        {"key": "plan", "role": "planner", "weight": 2, "label": "ゲームを設計中...", "max": 2},
        {"key": "codegen", "role": "builder", "weight": 5, "label": "コードを生成中...", "max": 2},
        {"key": "asset", "role": "asset", "weight": 4, "label": "画像を生成中...", "max": 2},
        {"key": "qa_review", "role": "qa", "weight": 2, "label": "品質チェック中...", "max": 1},
        {"key": "fix", "role": "builder", "weight": 2, "label": "修正中...", "max": 2},
        {"key": "publish_prep", "role": "publisher", "weight": 1, "label": "仕上げ中...", "max": 1},
    ],
    "dependencies": [
        ("intent", "plan"),
        ("plan", "codegen"),
        ("plan", "asset"),
        ("codegen", "qa_review"),
        ("qa_review", "fix"),
        ("fix", "publish_prep"),
        ("asset", "publish_prep"),
    ],
}
TOTAL_WEIGHT = sum(t["weight"] for t in DEFAULT_WORKFLOW["tasks"])

# 8.1 Promote Ready Tasks (verbatim; $1 -> %s).
PROMOTE_SQL = """
UPDATE engine_v2.job_tasks t
SET status = 'ready'
WHERE t.job_id = %s
  AND t.status = 'pending'
  AND NOT EXISTS (
    SELECT 1 FROM engine_v2.job_task_dependencies d
    JOIN engine_v2.job_tasks pred ON pred.id = d.predecessor_task_id
    WHERE d.successor_task_id = t.id
      AND pred.status NOT IN ('succeeded', 'skipped')
  )
RETURNING *
"""

# 8.2 Claim Task (verbatim).
CLAIM_SQL = """
UPDATE engine_v2.job_tasks
SET status = 'running',
    started_at = now(),
    attempt_count = attempt_count + 1
WHERE id = (
  SELECT id FROM engine_v2.job_tasks
  WHERE job_id = %s AND status = 'ready'
  ORDER BY created_at
  LIMIT 1
  FOR UPDATE SKIP LOCKED
)
RETURNING *
"""

# 8.3's helpers: "hasActiveTasks checks ready and running only (not pending)".
HAS_ACTIVE_SQL = (
    "SELECT EXISTS (SELECT 1 FROM engine_v2.job_tasks"
    " WHERE job_id = %s AND status IN ('ready', 'running')) AS active"
)
COUNT_STUCK_SQL = (
    "SELECT count(*) AS n FROM engine_v2.job_tasks"
    " WHERE job_id = %s AND status IN ('pending', 'blocked')"
)
INSERT_TASK_SQL = (
    "INSERT INTO engine_v2.job_tasks"
    " (job_id, task_key, agent_role, weight, display_label, max_attempts)"
    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)
INSERT_DEP_SQL = (
    "INSERT INTO engine_v2.job_task_dependencies (predecessor_task_id, successor_task_id)"
    " VALUES (%s, %s)"
)
COMPLETE_SQL = (
    "UPDATE engine_v2.job_tasks SET status = 'succeeded', output = %s, progress = 100,"
    " finished_at = now() WHERE id = %s"
)
EVENT_SQL = (
    "INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data)"
    " VALUES (%s, %s, %s, %s)"
)
FINISH_JOB_SQL = (
    "UPDATE engine_v2.job_runs SET status = %s, error_code = %s, finished_at = now()"
    " WHERE job_id = %s"
)


class DagDeadlockError(RuntimeError):
    pass


class NaiveEngine:
    """The design's engine: one pool of 5, three workers per job, a 300 ms wait."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        workers_per_job: int = 3,
        wait_s: float = 0.300,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.workers_per_job = workers_per_job
        self.wait_s = wait_s
        self.on_error = on_error
        # Node's pg Pool(max: 5) sends unnamed statements: no server-side prepare.
        self.pool = ConnectionPool(
            url,
            min_size=pool_size,
            max_size=pool_size,
            kwargs={
                "autocommit": True,
                "prepare_threshold": None,
                "row_factory": dict_row,
                "options": "-c statement_timeout=30000",  # design 12
            },
            open=False,
            timeout=60,
            name="naive",
        )
        self.pool.open(wait=True, timeout=30)

    def close(self) -> None:
        self.pool.close()

    # ------------------------------------------------------------------ db.js
    def query(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            cur = conn.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def create_workflow(self, job_id: str) -> None:
        with self.pool.connection() as conn, conn.transaction():
            ids: dict[str, Any] = {}
            for t in DEFAULT_WORKFLOW["tasks"]:
                row = conn.execute(
                    INSERT_TASK_SQL,
                    (job_id, t["key"], t["role"], t["weight"], t["label"], t["max"]),
                ).fetchone()
                assert row is not None
                ids[t["key"]] = row["id"]
            for a, b in DEFAULT_WORKFLOW["dependencies"]:
                conn.execute(INSERT_DEP_SQL, (ids[a], ids[b]))

    def promote_ready_tasks(self, job_id: str) -> list[dict[str, Any]]:
        return self.query(PROMOTE_SQL, (job_id,))

    def claim_next_task(self, job_id: str) -> dict[str, Any] | None:
        rows = self.query(CLAIM_SQL, (job_id,))
        return rows[0] if rows else None

    def has_active_tasks(self, job_id: str) -> bool:
        return bool(self.query(HAS_ACTIVE_SQL, (job_id,))[0]["active"])

    def count_stuck_tasks(self, job_id: str) -> int:
        return int(self.query(COUNT_STUCK_SQL, (job_id,))[0]["n"])

    # ------------------------------------------------------------------ 8.3
    def execute_and_handle(self, task: dict[str, Any], job_id: str) -> None:
        task_id, task_key, label = task["id"], task["task_key"], task["display_label"]
        self.query(
            EVENT_SQL,
            (
                job_id,
                task_id,
                "taskStarted",
                Jsonb({"type": "taskStarted", "task_key": task_key, "label": label}),
            ),
        )
        output: dict[str, Any] = {}  # the no-op task body
        self.query(COMPLETE_SQL, (Jsonb(output), task_id))
        self.query(
            EVENT_SQL,
            (job_id, task_id, "taskDone", Jsonb({"type": "taskDone", "task_key": task_key})),
        )
        self.promote_ready_tasks(job_id)

    def run_worker(self, job_id: str) -> None:
        while True:
            task = self.claim_next_task(job_id)
            if not task:
                has_running = self.has_active_tasks(job_id)
                if not has_running:
                    # Deadlock check: promote first, then retry claim
                    self.promote_ready_tasks(job_id)
                    retry_task = self.claim_next_task(job_id)
                    if retry_task:
                        self.execute_and_handle(retry_task, job_id)
                        continue
                    # Still nothing -> check for stuck tasks
                    stuck = self.count_stuck_tasks(job_id)
                    if stuck > 0:
                        raise DagDeadlockError(f"job {job_id}: {stuck} stuck tasks")
                    return  # Normal completion
                time.sleep(self.wait_s)  # await wait(300)
                continue
            self.execute_and_handle(task, job_id)

    def run_workflow(self, job_id: str) -> None:
        self.promote_ready_tasks(job_id)
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                self.run_worker(job_id)
            except BaseException as exc:  # Promise.all rejects with the first error
                errors.append(exc)

        threads = [
            threading.Thread(target=worker, name=f"naive-{job_id[:8]}-{i}", daemon=True)
            for i in range(self.workers_per_job)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------ the job
    def run_job(self, job_id: str) -> bool:
        """createWorkflow + runWorkflow + the job's outcome; True on success."""
        try:
            self.create_workflow(job_id)
            self.run_workflow(job_id)
        except Exception as exc:
            if self.on_error:
                self.on_error(job_id, exc)
            self.query(FINISH_JOB_SQL, ("failed", "v2_scheduler_error", job_id))
            return False
        self.query(FINISH_JOB_SQL, ("succeeded", None, job_id))
        self.query(
            EVENT_SQL,
            (job_id, None, "jobCompleted", Jsonb({"type": "jobCompleted", "progress": 100})),
        )
        return True


def submit(conn: psycopg.Connection[Any], job_ids_users: list[tuple[str, str]]) -> int:
    """The server's part: public.jobs rows and their job_runs rows, in one transaction.
    Returns the transaction id (for its commit timestamp)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO public.jobs (id, user_id, project_id, status)"
            " VALUES (%s, %s, 'bench', 'pending')",
            job_ids_users,
        )
        cur.executemany(
            "INSERT INTO engine_v2.job_runs (job_id, scheduler_version) VALUES (%s, 'naive')",
            [(j,) for j, _ in job_ids_users],
        )
        row = conn.execute("SELECT txid_current()").fetchone()
    assert row is not None
    return int(row[0])
