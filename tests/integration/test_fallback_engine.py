"""Completion responsibility (design 9) and fallback signalling (15) through the real
engine: jobs run by ``worker.JobRunner`` with the offline provider, injected failures,
the real publish (git, swap, advisory lock), a counting trigger on ``public.jobs`` and a
webhook server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from enginev2d import publish
from enginev2d.config import Config
from enginev2d.db import make_pool
from enginev2d.progress import notified_jobs
from enginev2d.worker import JobRunner
from tests.waiting import drain_notifies

COUNT_COMPLETIONS = """
CREATE TABLE public.test_completions (job_id uuid, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION public.test_count_completion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'completed' THEN
    INSERT INTO public.test_completions (job_id) VALUES (NEW.id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER test_count_completion AFTER UPDATE ON public.jobs
  FOR EACH ROW EXECUTE FUNCTION public.test_count_completion();
"""


class Webhook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()
                with hook.cond:
                    hook.bodies.append(body)
                    hook.cond.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fallback"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait_for(self, job_id: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        with self.cond:
            self.cond.wait_for(lambda: any(b["job_id"] == job_id for b in self.bodies), timeout)
            return [b for b in self.bodies if b["job_id"] == job_id]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def cfg(config: Config, webhook: Webhook, conn: Any) -> Config:
    conn.execute(COUNT_COMPLETIONS)
    return config.replace(publish={"fallback_webhook_url": webhook.url})


@pytest.fixture
def pool(cfg: Config) -> Iterator[Any]:
    p = make_pool(cfg, max_size=8)
    try:
        yield p
    finally:
        p.close()


def run_job(cfg: Config, pool: Any, conn: Any, job_id: str) -> Any:
    row = conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)).fetchone()
    return JobRunner(cfg, pool, row, owner=None).run()


def run_state(conn: Any, job_id: str) -> dict[str, Any]:
    return conn.execute(
        "SELECT r.status, r.error_code, r.fallback_triggered, r.result, j.status AS host_status,"
        " (SELECT count(*) FROM public.test_completions c WHERE c.job_id = r.job_id)"
        "   AS completions,"
        " (SELECT array_agg(e.data ORDER BY e.seq) FROM engine_v2.job_task_events e"
        "   WHERE e.job_id = r.job_id AND e.event_type = 'fallback') AS fallback_events"
        " FROM engine_v2.job_runs r JOIN public.jobs j ON j.id = r.job_id"
        " WHERE r.job_id = %s",
        (job_id,),
    ).fetchone()


def prod_dir(cfg: Config, user_id: str, project_id: str = "proj-1") -> Path:
    return Path(cfg.paths.projects_root) / user_id / "projects" / project_id


def test_live_success_publishes_and_completes_public_jobs_once(cfg, pool, conn, make_job):
    user = str(uuid.uuid4())
    job_id = make_job("make me a neon snake game", user_id=user)
    assert run_job(cfg, pool, conn, job_id).status == "succeeded"
    state = run_state(conn, job_id)
    assert state["status"] == "succeeded" and state["host_status"] == "completed"
    assert state["completions"] == 1 and not state["fallback_triggered"]
    assert state["fallback_events"] is None
    result = state["result"]
    assert result["type"] == "completed" and list(result) == ["type", "files", "images", "summary"]
    assert any(f["path"] == "index.html" for f in result["files"])
    prod = prod_dir(cfg, user)
    index = next(f["content"] for f in result["files"] if f["path"] == "index.html")
    assert (prod / "index.html").read_text() == index
    publish_out = conn.execute(
        "SELECT output FROM engine_v2.job_tasks WHERE job_id = %s AND task_key = 'publish_prep'",
        (job_id,),
    ).fetchone()["output"]
    assert (prod / ".git").is_dir()
    assert publish.gitrepo.find_job_commit(prod, job_id) == publish_out["commit_hash"]
    # Running the finished job again changes nothing: still exactly one completion.
    run_job(cfg, pool, conn, job_id)
    assert run_state(conn, job_id)["completions"] == 1
    assert publish.gitrepo.find_job_commit(prod, job_id) == publish_out["commit_hash"]
    assert not any(Path(cfg.paths.staging_root).iterdir())  # staging removed


def test_shadow_job_never_touches_production_or_public_jobs(cfg, pool, conn, make_job):
    user = str(uuid.uuid4())
    job_id = make_job("make me a neon snake game", user_id=user, options={"mode": "shadow"})
    assert run_job(cfg, pool, conn, job_id).status == "succeeded"
    state = run_state(conn, job_id)
    assert state["status"] == "succeeded"
    assert state["host_status"] == "pending" and state["completions"] == 0
    assert not prod_dir(cfg, user).exists()
    kinds = {
        r["kind"]
        for r in conn.execute(
            "SELECT kind FROM engine_v2.job_task_artifacts WHERE job_id = %s", (job_id,)
        ).fetchall()
    }
    assert "shadow_result" in kinds and "publish" not in kinds


def _hold_lock(pool: Any, user: str, hold: threading.Event, held: threading.Event) -> None:
    with publish.project_lock(pool, user, "proj-1"):
        held.set()
        hold.wait(60)


@pytest.mark.parametrize(
    "case",
    [
        "v2_task_failed",
        "v2_output_invalid",
        "v2_staging_error",
        "v2_concurrent_apply",
        "v2_timeout",
    ],
)
def test_every_failure_falls_back_and_never_touches_public_jobs(
    cfg, pool, conn, make_job, webhook, db_url, case
):
    user = str(uuid.uuid4())
    options: dict[str, Any] = {}
    run_cfg = cfg
    hold, held = threading.Event(), threading.Event()
    locker = None
    if case == "v2_task_failed":
        options = {"inject": {"codegen": {"fail_times": 9}}}
    elif case == "v2_output_invalid":
        bad = {"files": [{"path": "main.js", "content": "x"}], "summary": "no index"}
        options = {"inject": {"codegen": {"output": bad}}}
    elif case == "v2_staging_error":
        # The user's directory is a file: production cannot be created.
        Path(cfg.paths.projects_root, user).write_text("not a directory")
    elif case == "v2_concurrent_apply":
        locker = threading.Thread(target=_hold_lock, args=(pool, user, hold, held))
        locker.start()
        assert held.wait(10)
    elif case == "v2_timeout":
        run_cfg = cfg.replace(daemon={"job_timeout_s": 1.0})
        options = {"inject": {"codegen": {"latency_ms": 60000}}}
    job_id = make_job("make me a neon snake game", user_id=user, options=options)
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN engine_v2_events")
        try:
            outcome = run_job(run_cfg, pool, conn, job_id)
        finally:
            hold.set()
            if locker is not None:
                locker.join(10)
        notes = drain_notifies(listener, db_url, "engine_v2_events")
    notified = {job for n in notes for job in notified_jobs(n.payload)}
    assert outcome.status == "failed"
    state = run_state(conn, job_id)
    assert state["status"] == "failed" and state["fallback_triggered"] is True
    assert state["error_code"] == case
    assert state["host_status"] == "pending" and state["completions"] == 0  # v1's to do
    [event] = state["fallback_events"]
    assert (event["error_code"], event["job_id"]) == (case, job_id)
    assert job_id in notified
    assert webhook.wait_for(job_id) == [{"type": "fallback", "job_id": job_id, "error_code": case}]
    prod = prod_dir(cfg, user)
    assert not prod.is_dir()  # nothing was published
    assert not any(Path(cfg.paths.staging_root).iterdir())


def _cyclic_workflow() -> Any:
    from enginev2d.workflow import DEFAULT_WORKFLOW_DEF, Workflow

    data = dict(DEFAULT_WORKFLOW_DEF)
    data["dependencies"] = [*DEFAULT_WORKFLOW_DEF["dependencies"], ["publish_prep", "intent"]]
    return Workflow.from_dict(data)


@pytest.mark.parametrize("case", ["v2_dag_deadlock", "v2_scheduler_error", "canceled"])
def test_fallback_fires_for_engine_and_operator_failures(cfg, pool, conn, make_job, webhook, case):
    """The failures that do not come from a task body signal v1 the same way."""
    from enginev2d import scheduler

    user = str(uuid.uuid4())
    job_id = make_job("make me a neon snake game", user_id=user)
    row = conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)).fetchone()
    if case == "v2_dag_deadlock":
        runner = JobRunner(
            cfg, pool, row, owner=None, workflow=_cyclic_workflow(), validate_workflow=False
        )
        assert runner.run().status == "failed"
    elif case == "v2_scheduler_error":  # what the kill switch does to a waiting job
        scheduler.fail_job(conn, cfg, job_id, None, "v2_scheduler_error", "engine v2 disabled")
    else:
        assert scheduler.cancel_job(conn, job_id, "operator", cfg=cfg) == "canceled"
    state = run_state(conn, job_id)
    assert state["status"] == ("canceled" if case == "canceled" else "failed")
    assert state["fallback_triggered"] is True and state["error_code"] == case
    assert state["host_status"] == "pending" and state["completions"] == 0
    [event] = state["fallback_events"]
    assert (event["error_code"], event["job_id"]) == (case, job_id)
    assert webhook.wait_for(job_id) == [{"type": "fallback", "job_id": job_id, "error_code": case}]
    assert not prod_dir(cfg, user).exists()
