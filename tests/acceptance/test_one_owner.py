"""One owner per job with the real daemon: a SIGKILL at the worst moment (between
publish_prep's swap and its commit) and a SIGKILL during each of the seven tasks end
with the job succeeded, published once and public.jobs completed once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gitutil import git

from .harness import Harness, harness, wait_for

pytestmark = pytest.mark.slow

LEASE_S = 1.0
POLL_S = 0.2
KEYS = ("intent", "plan", "codegen", "asset", "qa_review", "fix", "publish_prep")
# Injected answers for the model tasks (qa finds an issue so that fix runs); publish_prep
# is real: a git commit and the atomic swap into the project.
ANSWERS: dict[str, dict[str, Any]] = {
    "intent": {"intent": "edit"},
    "plan": {"dimension": "2d", "skills": ["canvas"], "image_count": 0,
             "codegen_strategy": "scratch"},
    "codegen": {"files": [{"path": "index.html", "content": "<html>snake</html>"}],
                "summary": "a neon snake game"},
    "asset": {"images": []},
    "qa_review": {"issues": 1, "findings": [{"severity": "low", "description": "title",
                                              "fix_hint": "add one"}]},
    "fix": {"files": [{"path": "index.html", "content": "<html><title>s</title>snake</html>"}]},
}  # fmt: skip


@pytest.fixture
def h(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    with harness(db_url, tmp_path) as hh:
        hh.conn.execute("CREATE TABLE public.test_completions (job_id uuid)")
        hh.conn.execute(
            "CREATE FUNCTION public.test_count() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN INSERT INTO public.test_completions VALUES (NEW.id); RETURN NEW; END $$"
        )
        hh.conn.execute(
            "CREATE TRIGGER test_count AFTER UPDATE OF status ON public.jobs FOR EACH ROW"
            " WHEN (NEW.status = 'completed') EXECUTE FUNCTION public.test_count()"
        )
        yield hh


def options(latency_ms: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {k: {"output": v} for k, v in ANSWERS.items()}
    if latency_ms:
        for k in KEYS:
            spec.setdefault(k, {})["latency_ms"] = latency_ms
    return {"inject": spec}


def completions(h: Harness, job: str) -> int:
    return h.conn.execute(
        "SELECT count(*) AS n FROM public.test_completions WHERE job_id = %s", (job,)
    ).fetchone()["n"]


def published(h: Harness, job: str) -> list[str]:
    row = h.conn.execute(
        "SELECT user_id, project_id FROM engine_v2.job_runs WHERE job_id = %s", (job,)
    ).fetchone()
    prod = h.root / "projects" / str(row["user_id"]) / "projects" / row["project_id"]
    if not prod.is_dir():
        return []
    return git(prod, "log", "--format=%H", "-F", f"--grep=Engine-Job: {job}").split()


def assert_won_once(h: Harness, job: str) -> None:
    run = h.run(job)
    assert run["status"] == "succeeded" and not run["fallback_triggered"], run
    assert completions(h, job) == 1
    assert len(published(h, job)) == 1
    ev = h.conn.execute(
        "SELECT event_type, data FROM engine_v2.job_task_events WHERE job_id = %s ORDER BY seq",
        (job,),
    ).fetchall()
    assert ev[-1]["event_type"] == "jobCompleted" and ev[-1]["data"]["final"] is True
    assert "fallback" not in [e["event_type"] for e in ev]


def test_sigkill_between_the_swap_and_its_commit_publishes_and_completes_once(h: Harness):
    first = h.start(
        lease_s=LEASE_S, poll_interval_s=POLL_S, sections={"testing": {"crash_after_swap": True}}
    )
    job = h.submit(options())
    assert first.wait(30) == -9  # it killed itself right after the swap
    assert len(published(h, job)) == 1  # live in production ...
    assert h.run(job)["status"] == "running" and completions(h, job) == 0  # ... not committed
    h.start(lease_s=LEASE_S, poll_interval_s=POLL_S)
    h.wait_status([job], "succeeded", timeout=30)
    assert_won_once(h, job)
    lost = [a for a in h.attempts(job) if a["task_key"] == "publish_prep"]
    assert [a["error"]["code"] for a in lost] == ["worker_lost"]


def test_a_job_killed_once_during_each_of_its_seven_tasks_still_succeeds(h: Harness):
    """Lost attempts are not charged: qa_review and publish_prep (max_attempts 1) run
    again, codegen and asset (killed twice each: they run side by side) too."""
    job = h.submit(options(latency_ms=800))
    kills = dict.fromkeys(KEYS, 0)  # attempts cut so far, per task

    def running_here(key: str, me: str) -> bool:
        t = h.tasks(job).get(key) or {}
        return (
            h.run(job)["owner"] == me
            and t.get("status") == "running"
            and t.get("attempt_count") == kills[key] + 1  # this daemon's attempt
        )

    for key in KEYS:
        daemon = h.start(lease_s=LEASE_S, poll_interval_s=POLL_S)
        me = daemon.wait_action("daemon_start")["daemon_id"]
        wait_for(lambda key=key, me=me: running_here(key, me), 30, f"{key} running")
        daemon.kill()
        for k, t in h.tasks(job).items():
            kills[k] += t["status"] == "running"
    h.start(lease_s=LEASE_S, poll_interval_s=POLL_S)
    h.wait_status([job], "succeeded", timeout=60)
    assert_won_once(h, job)
    tasks = h.tasks(job)
    assert all(t["status"] == "succeeded" for t in tasks.values())
    assert {k: t["takeovers"] for k, t in tasks.items()} == {
        "intent": 1, "plan": 1, "codegen": 2, "asset": 2, "qa_review": 1, "fix": 1,
        "publish_prep": 1,
    }  # fmt: skip
    assert tasks["qa_review"]["max_attempts"] == 2 and tasks["publish_prep"]["max_attempts"] == 2
    lost = [a for a in h.attempts(job) if a["status"] == "failed"]
    assert {a["error"]["code"] for a in lost} == {"worker_lost"}
    # The texts the takeovers read back from the artifacts (outputs only refer to them)
    # are the ones published.
    row = h.run(job)
    prod = h.root / "projects" / str(row["user_id"]) / "projects" / row["project_id"]
    assert (prod / "index.html").read_text() == ANSWERS["fix"]["files"][0]["content"]
    stored = tasks["fix"]["output"]["files"]
    assert stored == [{"path": "index.html", "artifact": stored[0]["artifact"]}]


def test_sigkill_inside_a_batch_loses_nothing_and_spends_nothing_twice(h: Harness):
    """Group completion (issue 17): the daemon dies with a batch of hand-offs of several
    jobs written but not committed. Nothing of it is visible; the next daemon takes every
    job over and each is published and completed exactly once, its lost attempts
    uncharged."""
    crash = h.start(
        lease_s=LEASE_S, poll_interval_s=POLL_S, max_concurrent_jobs=8,
        sections={"testing": {"crash_in_batch": 2}},
    )  # fmt: skip
    jobs = [h.submit(options(latency_ms=100)) for _ in range(8)]
    assert crash.wait(30) == -9  # a batch of two or more was written, then the kill
    assert "inject_crash" in crash.actions()
    assert all(h.status(j) == "running" for j in jobs)
    assert sum(completions(h, j) for j in jobs) == 0
    h.start(lease_s=LEASE_S, poll_interval_s=POLL_S, max_concurrent_jobs=8)
    h.wait_status(jobs, "succeeded", timeout=60)
    for job in jobs:
        assert_won_once(h, job)
        h.assert_consistent(job)
        lost = [a for a in h.attempts(job) if a["status"] == "failed"]
        assert {a["error"]["code"] for a in lost} <= {"worker_lost"}
    assert any(t["takeovers"] for j in jobs for t in h.tasks(j).values())
