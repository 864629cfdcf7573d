"""One owner per job (design 9): the publish guard, crash-safe takeover of a publish, the
server's cancel and log_fallback, on the real database, real git repositories and the
real swap. A "crash" here is what SIGKILL leaves behind: the daemon's connections are
gone (their locks with them) and nothing after the crash point ran."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from enginev2d import scheduler, slo
from enginev2d.completion import Completion
from enginev2d.errors import Canceled
from enginev2d.publish import Production
from enginev2d.staging import Staging
from enginev2d.tasks import execute
from enginev2d.tasks.base import JobInfo, TaskContext
from tests.gitutil import git
from tests.integration.test_scheduler_support import (
    GOOD_OUTPUTS,
    artifacts_for,
    attempts,
    events,
    job_row,
    tasks,
)
from tests.waiting import wait_for

OUTPUTS = {**GOOD_OUTPUTS, "asset": {"images": []}}


@pytest.fixture
def completions(conn) -> Any:
    """Counts every completion of public.jobs (the host's table): v2's and "v1's"."""
    conn.execute("CREATE TABLE public.test_completions (job_id uuid, by text)")
    conn.execute(
        "CREATE FUNCTION public.test_count_completion() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN INSERT INTO public.test_completions VALUES (NEW.id,"
        " coalesce(current_setting('test.actor', true), 'v2')); RETURN NEW; END $$"
    )
    conn.execute(
        "CREATE TRIGGER test_count AFTER UPDATE OF status ON public.jobs FOR EACH ROW"
        " WHEN (NEW.status = 'completed') EXECUTE FUNCTION public.test_count_completion()"
    )

    def count(job_id: str) -> list[str]:
        rows = conn.execute(
            "SELECT by FROM public.test_completions WHERE job_id = %s", (job_id,)
        ).fetchall()
        return [r["by"] for r in rows]

    return count


def to_publish(conn: Any, cfg: Any, job: str, owner: str) -> scheduler.ClaimedTask:
    """Run every task before publish_prep through the scheduler; return its claim."""
    conn.execute("UPDATE engine_v2.job_runs SET owner = %s WHERE job_id = %s", (owner, job))
    step = scheduler.start(conn, cfg, job, owner)
    while step.task is not None and step.task.task_key != "publish_prep":
        t = step.task
        out = OUTPUTS[t.task_key]
        step = scheduler.complete(
            conn,
            cfg,
            job,
            owner,
            Completion.succeeded(t.id, t.attempt, out, artifacts=artifacts_for(out)),
            claim_next=True,
        )
    assert step.task is not None, step
    return step.task


def publish_ctx(conn: Any, cfg: Any, pool: Any, job: str, task: Any, owner: str) -> TaskContext:
    info = JobInfo.from_row(job_row(conn, job))
    staging = Staging(cfg, info)
    staging.prepare(fresh=True)
    return TaskContext(
        job=info, task_id=task.id, task_key="publish_prep", attempt=task.attempt, config=cfg,
        staging=staging, upstream={k: OUTPUTS[k] for k in ("intent", "codegen", "fix", "asset")},
        pool=pool, owner=owner,
    )  # fmt: skip


def crash(ctx: TaskContext, pool: Any) -> None:
    """The daemon dies: its guard connection goes (and with it the session lock)."""
    for release in ctx.after_complete:
        guard = release.__self__
        conn = guard._conn
        guard._conn = None
        conn.close()
        pool.putconn(conn)
    ctx.staging.remove()


def takeover(conn: Any, cfg: Any, job: str, owner: str) -> scheduler.Step:
    conn.execute("UPDATE engine_v2.job_runs SET owner = %s WHERE job_id = %s", (owner, job))
    return scheduler.recover_job(conn, job, owner, cfg, production=Production(cfg))


def prod_commits(cfg: Any, conn: Any, job: str) -> list[str]:
    prod = Production(cfg).project_dir(job_row(conn, job))
    if not prod.is_dir():
        return []
    return git(prod, "log", "--format=%H", "-F", f"--grep=Engine-Job: {job}").split()


# --------------------------------------------------------------------------- crash mid-publish


def test_crash_between_swap_and_commit_completes_once_on_takeover(
    conn, config, pool, make_job, completions
):
    job = make_job()
    task = to_publish(conn, config, job, "A")
    ctx = publish_ctx(conn, config, pool, job, task, "A")
    out = execute(ctx).output  # committed and swapped: production holds the job's commit
    crash(ctx, pool)  # ... and the daemon dies before its completion commits
    assert prod_commits(config, conn, job) == [out["commit_hash"]]
    assert job_row(conn, job)["publish_commit"] == out["commit_hash"]  # the intent

    step = takeover(conn, config, job, "B")
    assert step.ended == "succeeded"
    run = job_row(conn, job)
    assert run["status"] == "succeeded" and not run["fallback_triggered"]
    assert run["result"]["summary"] and run["result"]["files"]
    assert completions(job) == ["v2"]  # public.jobs completed once
    assert prod_commits(config, conn, job) == [out["commit_hash"]]  # published once
    ev = events(conn, job)
    assert ev[-1]["event_type"] == "jobCompleted" and ev[-1]["data"]["final"] is True
    assert "fallback" not in [e["event_type"] for e in ev]
    pp = [a for a in attempts(conn, job) if a["task_key"] == "publish_prep"]
    assert [(a["status"], a["error"]["code"]) for a in pp] == [("failed", "worker_lost")]
    # A second takeover (or a late cancel) changes nothing.
    assert scheduler.cancel_job(conn, job, "late") == "completed"
    assert completions(job) == ["v2"] and len(events(conn, job)) == len(ev)


def test_crash_after_the_intent_before_the_swap_re_runs_publish_uncharged(
    conn, config, pool, make_job, completions
):
    job = make_job()
    task = to_publish(conn, config, job, "A")
    ctx = publish_ctx(conn, config, pool, job, task, "A")
    guard_pool_conn = pool.getconn()
    answer = guard_pool_conn.execute(
        "SELECT engine_v2.begin_publish(%s, %s, %s, 'A', 'feedbeef') AS a",
        (job, task.id, task.attempt),
    ).fetchone()["a"]
    assert answer == "ok"
    guard_pool_conn.close()  # the daemon dies between its intent and the swap
    pool.putconn(guard_pool_conn)
    ctx.staging.remove()

    step = takeover(conn, config, job, "B")
    assert step.ended is None
    t = tasks(conn, job)["publish_prep"]
    assert (t["status"], t["attempt_count"], t["max_attempts"]) == ("ready", 1, 2)
    assert job_row(conn, job)["publish_commit"] is None  # the doubt is resolved: not live
    claim = scheduler.claim(conn, config, job, "B").task
    assert claim.task_key == "publish_prep" and claim.attempt == 2
    ctx = publish_ctx(conn, config, pool, job, claim, "B")
    outcome = execute(ctx)
    step = scheduler.complete(
        conn,
        config,
        job,
        "B",
        Completion.succeeded(claim.id, 2, outcome.output, usage={"latency_ms": 1}),
    )
    for release in ctx.after_complete:
        release()
    assert step.ended == "succeeded" and completions(job) == ["v2"]
    assert prod_commits(config, conn, job) == [outcome.output["commit_hash"]]


@pytest.mark.parametrize("live", [True, False], ids=["swapped", "not_swapped"])
def test_cancel_while_the_publish_is_in_doubt_answers_pending_then_the_takeover_decides(
    conn, config, pool, make_job, completions, live
):
    job = make_job()
    task = to_publish(conn, config, job, "A")
    ctx = publish_ctx(conn, config, pool, job, task, "A")
    if live:
        execute(ctx)  # swapped, then the crash
        crash(ctx, pool)
    else:
        c = pool.getconn()
        c.execute(
            "SELECT engine_v2.begin_publish(%s, %s, %s, 'A', 'cafe')", (job, task.id, task.attempt)
        )
        c.close()
        pool.putconn(c)
        ctx.staging.remove()
    assert scheduler.cancel_job(conn, job, "deadline") == "pending"
    assert scheduler.cancel_job(conn, job, "deadline") == "pending"  # idempotent
    run = job_row(conn, job)
    assert run["status"] == "running" and run["lease_expires_at"] is not None
    step = takeover(conn, config, job, "B")
    final = events(conn, job)[-1]
    if live:
        assert step.ended == "succeeded" and final["event_type"] == "jobCompleted"
        assert completions(job) == ["v2"] and len(prod_commits(config, conn, job)) == 1
        assert scheduler.cancel_job(conn, job, "again") == "completed"
    else:
        assert step.ended == "canceled" and final["event_type"] == "jobCanceled"
        assert completions(job) == [] and prod_commits(config, conn, job) == []
        assert scheduler.cancel_job(conn, job, "again") == "canceled"
    assert final["data"]["final"] is True


def test_cancel_waits_for_a_live_publisher_and_answers_completed(
    conn, config, pool, make_job, completions, db_url
):
    """The swap and the completion happen under the publish guard: a cancel arriving in
    between waits for the commit and then knows v2 won."""
    job = make_job()
    task = to_publish(conn, config, job, "A")
    ctx = publish_ctx(conn, config, pool, job, task, "A")
    outcome = execute(ctx)  # guard held, production swapped, completion not yet committed
    answer: dict[str, str] = {}

    def cancel() -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            answer["a"] = scheduler.cancel_job(c, job, "server deadline")

    th = threading.Thread(target=cancel)
    th.start()
    wait_for(
        lambda: (
            conn.execute(
                "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()["n"]
            == 1
        ),
        10,
        "cancel_job waiting on the publish guard",
    )
    assert "a" not in answer
    step = scheduler.complete(
        conn,
        config,
        job,
        "A",
        Completion.succeeded(task.id, task.attempt, outcome.output, usage={"latency_ms": 1}),
    )
    for release in ctx.after_complete:
        release()
    th.join(10)
    assert step.ended == "succeeded" and answer == {"a": "completed"}
    assert completions(job) == ["v2"]


def test_publish_refuses_after_the_server_canceled(conn, config, pool, make_job, completions):
    job = make_job()
    task = to_publish(conn, config, job, "A")
    ctx = publish_ctx(conn, config, pool, job, task, "A")
    assert scheduler.cancel_job(conn, job, "user left") == "canceled"
    with pytest.raises(Canceled):
        execute(ctx)
    assert prod_commits(config, conn, job) == [] and completions(job) == []
    assert not Path(Production(config).project_dir(job_row(conn, job))).exists()


# --------------------------------------------------------------------------- log_fallback


def test_log_fallback_cancels_a_running_run_and_the_slo_counts_server_fallbacks(
    conn, config, make_job
):
    running = make_job()
    assert scheduler.log_fallback(conn, running, "v2_timeout", {"deadline_ms": 30000}) == "canceled"
    assert job_row(conn, running)["status"] == "canceled"
    assert events(conn, running)[-1]["event_type"] == "jobCanceled"

    done = make_job(options={"mode": "shadow"})
    conn.execute(
        "UPDATE engine_v2.job_runs SET status = 'succeeded', finished_at = now() WHERE job_id = %s",
        (done,),
    )
    assert scheduler.log_fallback(conn, done, "v2_output_invalid") == "completed"
    no_run = make_job(submit=False)  # the server's submit failed
    assert scheduler.log_fallback(conn, no_run, "v2_unknown", {"sqlstate": "08006"}) == "canceled"

    rows = conn.execute(
        "SELECT job_id::text, error_code, detail FROM engine_v2.server_fallbacks"
    ).fetchall()
    assert {(r["job_id"], r["error_code"]) for r in rows} == {
        (running, "v2_timeout"), (done, "v2_output_invalid"), (no_run, "v2_unknown"),
    }  # fmt: skip
    figures, counts = slo.v2_figures(conn, window_s=3600)
    assert counts["jobs_finished"] == 3 and counts["jobs_fallback"] == 3
    assert figures["fallback_rate"] == 1.0


@pytest.mark.parametrize("code", ["V2_TIMEOUT", "timeout", "", None])
def test_log_fallback_rejects_codes_outside_the_design(conn, make_job, code):
    job = make_job()
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT engine_v2.log_fallback(%s, %s, %s)", (job, code, Jsonb({})))
    assert job_row(conn, job)["status"] == "running"


# The moments the server's deadline fires at: right after this event of the job.
CANCEL_MOMENTS = [
    ("taskStarted", "intent"),
    ("taskDone", "plan"),
    ("taskDone", "codegen"),
    ("taskStarted", "publish_prep"),  # the swap and the publish guard race the cancel
    ("taskDone", "publish_prep"),
    ("jobCompleted", None),
]


def test_cancel_racing_a_running_job_is_completed_or_canceled_never_both(
    conn, config, pool, make_job, completions, db_url
):
    """The server's deadline fires at each stage of a real (offline) live job run by
    the real runner: 'completed' means production holds the job's commit and v2
    completed public.jobs; 'canceled' means production is untouched and v2 completed
    nothing. With a live daemon the answer is never 'pending'. The early moments must
    cancel and the last must complete, so both outcomes are checked every run."""
    from enginev2d.worker import JobRunner

    answers = []
    for kind, key in CANCEL_MOMENTS:
        job = make_job()
        conn.execute("UPDATE engine_v2.job_runs SET owner = 'A' WHERE job_id = %s", (job,))
        runner = JobRunner(config, pool, job_row(conn, job), owner="A")
        th = threading.Thread(target=runner.run)
        th.start()
        wait_for(
            lambda job=job, kind=kind, key=key: any(
                e["event_type"] == kind and (key is None or e["data"].get("task_key") == key)
                for e in events(conn, job)
            ),
            30,
            f"{kind} {key or ''}",
        )
        with psycopg.connect(db_url, autocommit=True) as c:
            answer = scheduler.cancel_job(c, job, "server deadline")
        th.join(30)
        assert not th.is_alive()
        run = job_row(conn, job)
        if answer == "completed":
            assert run["status"] == "succeeded" and completions(job) == ["v2"]
            assert len(prod_commits(config, conn, job)) == 1
        else:
            assert answer == "canceled", answer
            assert run["status"] == "canceled" and completions(job) == []
            assert prod_commits(config, conn, job) == []
        assert events(conn, job)[-1]["data"]["final"] is True
        answers.append(answer)
    print("cancel moments:", answers)
    assert answers[0] == "canceled" and answers[-1] == "completed", answers


def test_a_failure_reported_while_the_publish_is_in_doubt_goes_to_a_takeover(
    conn, config, pool, make_job, completions
):
    """publish_prep swapped, then its attempt failed for another reason (a lost lease
    seen after the swap, a late validation): the failure is refused ('in_doubt'), the
    job is never failed over, and the takeover finds the commit live."""
    job = make_job()
    task = to_publish(conn, config, job, "A")
    ctx = publish_ctx(conn, config, pool, job, task, "A")
    execute(ctx)
    err = {"code": "v2_output_invalid", "message": "late", "retryable": False}
    step = scheduler.complete(conn, config, job, "A", Completion.failed(task.id, 1, err))
    for release in ctx.after_complete:
        release()
    assert step.stale and step.reason == "in_doubt"
    assert job_row(conn, job)["status"] == "running"
    assert takeover(conn, config, job, "B").ended == "succeeded"
    assert completions(job) == ["v2"] and len(prod_commits(config, conn, job)) == 1
