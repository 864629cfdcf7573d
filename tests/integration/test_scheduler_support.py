"""Helpers shared by the scheduler/worker integration tests (not collected: no test_)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from enginev2d import scheduler
from enginev2d.completion import Completion
from enginev2d.config import Config
from enginev2d.tasks.base import Artifact, TaskContext, TaskOutcome, Usage
from enginev2d.workflow import DEFAULT_WORKFLOW, Workflow

TERMINAL = {"succeeded", "skipped", "failed", "canceled"}

GOOD_OUTPUTS: dict[str, dict[str, Any]] = {
    "intent": {"intent": "edit"},
    "plan": {
        "dimension": "2d",
        "skills": ["canvas"],
        "image_count": 1,
        "codegen_strategy": "scratch",
    },
    "codegen": {
        "files": [{"path": "index.html", "content": "<html>snake</html>"}],
        "summary": "a snake game",
    },
    "asset": {"images": [{"name": "bg.png", "uri": "assets/bg.png"}]},
    "qa_review": {
        "issues": 1,
        "findings": [{"severity": "low", "description": "x", "fix_hint": "y"}],
    },
    "fix": {"files": [{"path": "index.html", "content": "<html>snake fixed</html>"}]},
    "publish_prep": {"commit_hash": "abc123"},
}


def inject(**overrides: dict[str, Any]) -> dict[str, Any]:
    """submit_job options injecting GOOD_OUTPUTS, with per-task overrides merged in."""
    spec = {k: {"output": v} for k, v in GOOD_OUTPUTS.items()}
    for key, extra in overrides.items():
        spec[key] = {**spec.get(key, {}), **extra}
    return {"inject": spec}


def job_row(conn: Any, job_id: str) -> dict[str, Any]:
    return conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)).fetchone()


def tasks(conn: Any, job_id: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        "SELECT * FROM engine_v2.job_tasks WHERE job_id = %s ORDER BY position", (job_id,)
    ).fetchall()
    return {r["task_key"]: r for r in rows}


def statuses(conn: Any, job_id: str) -> dict[str, str]:
    return {k: r["status"] for k, r in tasks(conn, job_id).items()}


def attempts(conn: Any, job_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT t.task_key, a.* FROM engine_v2.job_task_attempts a"
        " JOIN engine_v2.job_tasks t ON t.id = a.task_id WHERE t.job_id = %s"
        " ORDER BY t.position, a.attempt_no",
        (job_id,),
    ).fetchall()


def events(conn: Any, job_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT seq, event_type, data, task_id FROM engine_v2.job_task_events"
        " WHERE job_id = %s ORDER BY seq",
        (job_id,),
    ).fetchall()


def event_types(conn: Any, job_id: str, task_key: str | None = None) -> list[str]:
    return [
        e["event_type"]
        for e in events(conn, job_id)
        if task_key is None or e["data"].get("task_key") == task_key
    ]


def artifacts_for(output: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Artifact rows a real task body would store for ``output`` (code files, images)."""
    rows: list[dict[str, Any]] = [
        {"kind": "code", "uri": f["path"], "content": dict(f), "metadata": {"path": f["path"]}}
        for f in output.get("files") or []
    ]
    rows += [
        {"kind": "image", "uri": i["uri"], "content": dict(i), "metadata": {}}
        for i in output.get("images") or []
    ]
    return rows


def drive(
    conn: Any,
    cfg: Config,
    job_id: str,
    outputs: Callable[[str, int], Mapping[str, Any] | Exception],
    *,
    owner: str | None = None,
    workflow: Workflow = DEFAULT_WORKFLOW,
    max_steps: int = 200,
) -> None:
    """Run a job single-threaded through the scheduler API (no runner): claim, then
    complete with ``outputs(task_key, attempt)`` (an Exception means failure)."""
    from enginev2d.errors import classify
    from enginev2d.worker import error_json

    step = scheduler.claim(conn, cfg, job_id, owner)
    for _ in range(max_steps):
        task = step.task
        if task is None:
            if step.active == 0 or step.job_status == "canceled":
                return
            step = scheduler.claim(conn, cfg, job_id, owner)
            if step.task is None:
                raise AssertionError(f"stuck: {step}")
            continue
        result = outputs(task.task_key, task.attempt)
        if isinstance(result, Exception):
            step = scheduler.complete(
                conn,
                cfg,
                job_id,
                owner,
                Completion.failed(
                    task.id, task.attempt, error_json(classify(result)), usage={"latency_ms": 1}
                ),
                claim_next=True,
            )
        else:
            step = scheduler.complete(
                conn,
                cfg,
                job_id,
                owner,
                Completion.succeeded(
                    task.id,
                    task.attempt,
                    dict(result),
                    usage={"latency_ms": 1},
                    artifacts=artifacts_for(result),
                    skip=workflow.skips_after(task.task_key, result),
                ),
                claim_next=True,
            )
    raise AssertionError("too many steps")


def noop_executor(outputs: Mapping[str, Mapping[str, Any]] | None = None):
    """An executor returning fixed outputs without touching staging or the tasks."""
    outs = dict(GOOD_OUTPUTS if outputs is None else outputs)

    def execute(ctx: TaskContext) -> TaskOutcome:
        out = dict(outs.get(ctx.task_key, {}))
        arts = [
            Artifact(a["kind"], a["uri"], a["content"], a["metadata"]) for a in artifacts_for(out)
        ]
        return TaskOutcome(output=out, usage=Usage(), artifacts=arts)

    return execute
