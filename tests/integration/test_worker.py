"""JobRunner on real PostgreSQL: threads, wake-ups, timeouts, cancel, takeover, events."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from enginev2d import scheduler
from enginev2d.completion import Completion
from enginev2d.errors import Canceled, OutputInvalid, TaskFailed, WorkerLost
from enginev2d.tasks.base import Artifact, TaskContext, TaskOutcome
from enginev2d.worker import JobRunner
from tests.integration.test_scheduler_support import (
    GOOD_OUTPUTS,
    TERMINAL,
    artifacts_for,
    attempts,
    event_types,
    events,
    job_row,
    noop_executor,
    statuses,
    tasks,
)
from tests.waiting import wait_for


class Recorder:
    """An executor with per-task behaviour that records when each attempt ran."""

    def __init__(self, behave: dict[str, Any] | None = None, outputs=None) -> None:
        self.behave = behave or {}
        self.outputs = outputs or GOOD_OUTPUTS
        self.spans: dict[str, list[tuple[float, float]]] = {}
        self.contexts: list[TaskContext] = []
        self.lock = threading.Lock()

    def __call__(self, ctx: TaskContext) -> TaskOutcome:
        t0 = time.monotonic()
        with self.lock:
            self.contexts.append(ctx)
        try:
            fn = self.behave.get(ctx.task_key)
            if fn is not None:
                fn(ctx)
            out = dict(self.outputs[ctx.task_key])
            arts = [
                Artifact(a["kind"], a["uri"], a["content"], a["metadata"])
                for a in artifacts_for(out)
            ]
            ctx.record_usage("offline", tokens_in=10, tokens_out=5)
            return TaskOutcome(output=out, usage=ctx.usage, artifacts=arts, input={"k": 1})
        finally:
            with self.lock:
                self.spans.setdefault(ctx.task_key, []).append((t0, time.monotonic()))


def runner(conn, config, pool, job, **kw) -> JobRunner:
    return JobRunner(config, pool, job_row(conn, job), owner=kw.pop("owner", None), **kw)


def run_until_stuck(conn, config, pool, job, task_key, owner=None, before=None):
    """The job running in a thread until ``task_key``'s attempt has started (and done
    ``before(ctx)``); that attempt then waits for its stop (30 s at most).
    (runner, thread, {"out": outcome} at the end)"""
    started = threading.Event()

    def stuck(ctx):
        if before is not None:
            before(ctx)
        started.set()
        ctx.wait(30)

    r = runner(conn, config, pool, job, owner=owner, executor=Recorder({task_key: stuck}))
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("out", r.run()))
    th.start()
    assert started.wait(10)
    return r, th, result


def test_dag7_runs_in_parallel_and_threads_return_right_after_the_last_task(
    conn, config, pool, make_job
):
    cfg = config.replace(daemon={"worker_idle_timeout_s": 30.0})  # wake-ups, not timeouts
    job = make_job()
    rec = Recorder(
        {
            "codegen": lambda ctx: ctx.wait(0.3),
            "asset": lambda ctx: ctx.wait(0.3),
        }
    )
    t0 = time.monotonic()
    out = runner(conn, cfg, pool, job, executor=rec).run()
    t_end = time.monotonic()
    assert out.status == "succeeded" and out.error_code is None
    (cg,) = rec.spans["codegen"]
    (asset,) = rec.spans["asset"]
    assert cg[0] < asset[1] and asset[0] < cg[1]  # codegen and asset overlapped
    last = rec.spans["publish_prep"][0][1]
    assert t_end - last < 0.1, f"threads returned {t_end - last:.3f}s after the last task"
    assert t_end - t0 < 1.5
    assert set(statuses(conn, job).values()) == {"succeeded"}
    assert job_row(conn, job)["status"] == "succeeded"
    rows = attempts(conn, job)
    assert all(a["tokens_in"] == 10 and a["tokens_out"] == 5 for a in rows)
    assert tasks(conn, job)["plan"]["input"] == {"k": 1}
    # upstream outputs are the task's ancestors only
    ctx = {c.task_key: c for c in rec.contexts}
    assert set(ctx["qa_review"].upstream) == {"intent", "plan", "codegen"}
    assert set(ctx["publish_prep"].upstream) == set(GOOD_OUTPUTS) - {"publish_prep"}
    assert not (
        config.paths.staging_root
        and list(__import__("pathlib").Path(config.paths.staging_root).iterdir())
    )


def test_retry_then_success_and_repair_hint(conn, config, pool, make_job):
    job = make_job()

    def codegen(ctx):
        if ctx.attempt == 1:
            raise OutputInvalid("not json", repair_hint="return JSON only")

    rec = Recorder({"codegen": codegen})
    assert runner(conn, config, pool, job, executor=rec).run().status == "succeeded"
    hints = [c.repair_hint for c in rec.contexts if c.task_key == "codegen"]
    assert hints == [None, "return JSON only"]
    assert event_types(conn, job, "codegen") == [
        "taskStarted",
        "taskRetry",
        "taskStarted",
        "partialResult",
        "taskDone",
    ]


def test_exhausted_retries_fail_job_and_stop_the_running_branch(conn, config, pool, make_job):
    """The running asset attempt is stopped when codegen fails for good: abandoned by its
    worker (ctx.wait raises at once), recorded canceled, no event after the fallback."""
    job = make_job()
    asset_stopped = threading.Event()

    def codegen(ctx):
        raise TaskFailed("model down", retryable=True)

    def asset(ctx):
        try:
            ctx.wait(30)
        finally:
            asset_stopped.set()

    rec = Recorder({"codegen": codegen, "asset": asset})
    t0 = time.monotonic()
    out = runner(conn, config, pool, job, executor=rec).run()
    assert (out.status, out.error_code) == ("failed", "v2_task_failed")
    assert asset_stopped.is_set() and time.monotonic() - t0 < 10
    st = statuses(conn, job)
    assert st["asset"] == "canceled" and st["codegen"] == "failed"
    assert set(st.values()) <= TERMINAL
    assert [a["status"] for a in attempts(conn, job) if a["task_key"] == "asset"] == ["canceled"]
    ev = events(conn, job)
    assert ev[-1]["event_type"] == "fallback" and ev[-1]["data"]["final"] is True


def test_partial_result_inline_and_uri(conn, config, pool, make_job):
    small = make_job()
    assert runner(conn, config, pool, small, executor=Recorder()).run().status == "succeeded"
    parts = [e["data"] for e in events(conn, small) if e["event_type"] == "partialResult"]
    assert [p["task_key"] for p in parts] == ["codegen", "fix"]
    assert parts[0]["ref"] == "inline"
    assert parts[0]["files"] == GOOD_OUTPUTS["codegen"]["files"]

    big = make_job()
    cfg = config.replace(limits={"partial_inline_bytes": 10})
    assert runner(conn, cfg, pool, big, executor=Recorder()).run().status == "succeeded"
    parts = [e["data"] for e in events(conn, big) if e["event_type"] == "partialResult"]
    assert parts[0]["ref"] == "uri"
    (f,) = parts[0]["files"]
    assert f["path"] == "index.html" and "content" not in f
    art_id = f["uri"].removeprefix("engine_v2://job_task_artifacts/")
    art = conn.execute(
        "SELECT a.kind, a.content, t.task_key FROM engine_v2.job_task_artifacts a"
        " JOIN engine_v2.job_tasks t ON t.id = a.task_id WHERE a.id = %s",
        (art_id,),
    ).fetchone()
    assert art["task_key"] == "codegen" and art["kind"] == "code"
    assert art["content"]["content"] == GOOD_OUTPUTS["codegen"]["files"][0]["content"]


def test_job_timeout_fails_with_v2_timeout(conn, config, pool, make_job):
    cfg = config.replace(daemon={"job_timeout_s": 0.5, "poll_interval_s": 0.1})
    job = make_job()
    rec = Recorder({"codegen": lambda ctx: ctx.wait(30), "asset": lambda ctx: ctx.wait(30)})
    t0 = time.monotonic()
    out = runner(conn, cfg, pool, job, executor=rec).run()
    assert time.monotonic() - t0 < 5
    assert (out.status, out.error_code) == ("failed", "v2_timeout")
    st = statuses(conn, job)
    assert set(st.values()) == {"succeeded", "canceled"}  # running ones stopped, in the same tx
    assert st["codegen"] == st["asset"] == "canceled"
    att = [a for a in attempts(conn, job) if a["task_key"] in ("codegen", "asset")]
    assert {a["status"] for a in att} == {"canceled"}
    assert {a["error"]["code"] for a in att} == {"v2_timeout"}
    assert events(conn, job)[-1]["event_type"] == "fallback"
    run = job_row(conn, job)
    assert run["fallback_triggered"] is True and run["error_code"] == "v2_timeout"
    assert event_types(conn, job).count("jobFailed") == 1


def test_operator_cancel_stops_running_attempts(conn, config, pool, make_job):
    cfg = config.replace(daemon={"poll_interval_s": 0.05})
    job = make_job()
    _, th, result = run_until_stuck(conn, cfg, pool, job, "codegen")
    assert scheduler.cancel_job(conn, job, reason="test", cfg=cfg)
    th.join(10)
    assert not th.is_alive()
    assert result["out"].status == "canceled"
    st = statuses(conn, job)
    assert set(st.values()) <= TERMINAL
    assert st["codegen"] == "canceled"
    assert {a["status"] for a in attempts(conn, job) if a["task_key"] == "codegen"} == {"canceled"}


def test_abort_with_canceled_reason(conn, config, pool, make_job):
    job = make_job()
    r, th, _ = run_until_stuck(conn, config, pool, job, "plan")
    scheduler.cancel_job(conn, job)
    r.abort(Canceled("operator"))
    th.join(10)
    assert not th.is_alive()
    assert [a["status"] for a in attempts(conn, job) if a["task_key"] == "plan"] == ["canceled"]


def test_request_stop_releases_unfinished_job(conn, config, pool, make_job):
    job = make_job()
    started = threading.Event()
    release = threading.Event()

    def plan(ctx):
        started.set()
        release.wait(10)

    r = runner(conn, config, pool, job, executor=Recorder({"plan": plan}))
    res = {}
    th = threading.Thread(target=lambda: res.setdefault("out", r.run()))
    th.start()
    assert started.wait(10)
    r.request_stop()
    release.set()
    th.join(10)
    assert res["out"].status == "released"
    st = statuses(conn, job)
    assert st["plan"] == "succeeded"  # the running attempt finished and was recorded
    assert st["codegen"] == st["asset"] == "ready"  # nothing new was claimed
    assert job_row(conn, job)["status"] == "running"


def test_takeover_recovers_and_finishes(conn, config, pool, make_job):
    job = make_job()
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'dead' WHERE job_id = %s", (job,))
    scheduler.materialize(conn, job)
    t = scheduler.claim(conn, config, job, "dead").task
    scheduler.complete(
        conn,
        config,
        job,
        "dead",
        Completion.succeeded(t.id, 1, GOOD_OUTPUTS["intent"]),
        claim_next=True,
    )
    assert statuses(conn, job)["plan"] == "running"
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'new' WHERE job_id = %s", (job,))
    rec = Recorder()
    out = runner(conn, config, pool, job, owner="new", takeover=True, executor=rec).run()
    assert out.status == "succeeded"
    plan = [a for a in attempts(conn, job) if a["task_key"] == "plan"]
    assert [(a["attempt_no"], a["status"]) for a in plan] == [(1, "failed"), (2, "succeeded")]
    assert "intent" not in {c.task_key for c in rec.contexts}
    ctx = {c.task_key: c for c in rec.contexts}
    assert ctx["plan"].upstream == {"intent": GOOD_OUTPUTS["intent"]}  # loaded at start


def test_lost_ownership_releases(conn, config, pool, make_job):
    cfg = config.replace(daemon={"poll_interval_s": 0.05})
    job = make_job()
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'me' WHERE job_id = %s", (job,))
    _, th, res = run_until_stuck(conn, cfg, pool, job, "plan", owner="me")
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'other' WHERE job_id = %s", (job,))
    th.join(10)
    assert res["out"].status == "released"
    assert statuses(conn, job)["plan"] == "running"  # the new owner's recover_job handles it
    assert staged(config, job) == []  # its own tree went with it: the next owner seeds anew


def staged(config, job) -> list[str]:
    """The staging root's entries of ``job`` (trees, seed records, seedings)."""
    root = Path(config.paths.staging_root)
    return sorted(p.name for p in root.iterdir() if job in p.name) if root.exists() else []


def test_real_task_execute_with_injection_chat(conn, config, pool, make_job):
    """tasks.execute with an injected intent: the chat skip end to end."""
    job = make_job(options={"inject": {"intent": {"output": {"intent": "chat"}}}})
    out = runner(conn, config, pool, job).run()
    assert out.status == "succeeded"
    result = job_row(conn, job)["result"]
    assert {k: result[k] for k in ("type", "intent")} == {"type": "chat", "intent": "chat"}
    assert result["reply"].strip()  # a model's answer without a reply gets the offline one
    st = statuses(conn, job)
    assert st.pop("intent") == "succeeded" and set(st.values()) == {"skipped"}


def test_noop_executor_helper_runs_a_job(conn, config, pool, make_job):
    job = make_job(options={"mode": "shadow"})
    assert runner(conn, config, pool, job, executor=noop_executor()).run().status == "succeeded"
    wait_for(lambda: job_row(conn, job)["status"] == "succeeded", timeout=1)


def test_an_attempt_abandoned_at_shutdown_is_lost_not_failed(conn, config, pool, make_job):
    """A daemon stopping past its grace period (or losing its lease) leaves the running
    attempt to the next owner: not closed as failed, so the takeover re-runs it without
    charging max_attempts (qa_review has one attempt and still succeeds)."""
    job = make_job()
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'A' WHERE job_id = %s", (job,))
    r, th, result = run_until_stuck(conn, config, pool, job, "qa_review", owner="A")
    r.abort(WorkerLost("daemon shutting down"))
    th.join(10)
    assert result["out"].status == "released"
    qa = [a for a in attempts(conn, job) if a["task_key"] == "qa_review"]
    assert [a["status"] for a in qa] == ["running"]  # left for the takeover
    assert staged(config, job) == []  # the takeover seeds a tree of its own
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'B' WHERE job_id = %s", (job,))
    out = runner(conn, config, pool, job, owner="B", takeover=True, executor=Recorder()).run()
    assert out.status == "succeeded"
    qa = [a for a in attempts(conn, job) if a["task_key"] == "qa_review"]
    assert [(a["status"], (a["error"] or {}).get("code")) for a in qa] == [
        ("failed", "worker_lost"),
        ("succeeded", None),
    ]


def spend(ctx):
    """What a task body pays for one model call."""
    ctx.record_usage("claude-sonnet-5-5", tokens_in=1000, tokens_out=200)


def test_what_a_lost_or_refused_attempt_spent_is_recorded(conn, config, pool, make_job):
    """Money spent is recorded once even when no completion records it: an attempt left
    to the takeover at shutdown keeps its spend through the takeover, and one whose
    completion is refused (the job was canceled under it) has it on its canceled row."""
    cfg = config.replace(daemon={"poll_interval_s": 0.05})
    sonnet = cfg.pricing["claude-sonnet-5-5"]
    cost = 1000 * sonnet.input_per_mtok / 1e6 + 200 * sonnet.output_per_mtok / 1e6
    for how in ("shutdown", "canceled"):
        job = make_job()
        conn.execute("UPDATE engine_v2.job_runs SET owner = 'A' WHERE job_id = %s", (job,))
        r, th, _ = run_until_stuck(conn, cfg, pool, job, "qa_review", owner="A", before=spend)
        if how == "shutdown":
            r.abort(WorkerLost("daemon shutting down"))
        else:
            assert scheduler.cancel_job(conn, job, reason="test", cfg=cfg)
        th.join(10)
        assert not th.is_alive()
        if how == "shutdown":  # the next owner closes it as lost, the spend stays
            conn.execute("UPDATE engine_v2.job_runs SET owner = 'B' WHERE job_id = %s", (job,))
            out = runner(conn, cfg, pool, job, owner="B", takeover=True, executor=Recorder())
            assert out.run().status == "succeeded"
        qa = next(a for a in attempts(conn, job) if a["task_key"] == "qa_review")
        assert qa["status"] == ("failed" if how == "shutdown" else "canceled"), how
        assert (qa["tokens_in"], qa["tokens_out"]) == (1000, 200), how
        assert float(qa["cost_usd"]) == pytest.approx(cost, abs=1e-4), how


def test_charge_attempt_adds_to_any_attempt_and_says_when_there_is_none(conn, config, make_job):
    job = make_job()
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'A' WHERE job_id = %s", (job,))
    first = scheduler.start(conn, config, job, "A").task
    assert first is not None
    usage = {"tokens_in": 7, "tokens_out": 3, "cost_usd": 0.5}
    assert scheduler.charge(conn, first.id, first.attempt, usage)
    assert scheduler.charge(conn, first.id, first.attempt, usage)  # adds, never replaces
    row = next(a for a in attempts(conn, job) if a["task_key"] == "intent")
    assert (row["status"], row["tokens_in"], row["tokens_out"]) == ("running", 14, 6)
    assert float(row["cost_usd"]) == 1.0
    assert not scheduler.charge(conn, first.id, first.attempt + 1, usage)


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
@pytest.mark.parametrize(
    "usage",
    [
        {"latency_ms": 5, "tokens_in": 7, "tokens_out": 3, "cost_usd": 0.5},
        {"latency_ms": 5, "cost_usd": 0.5},  # a cost reported without tokens
    ],
    ids=["tokens", "cost-only"],
)
def test_charge_attempt_never_adds_to_what_a_completion_recorded(
    conn, config, make_job, usage, outcome
):
    """A first try that committed its usage unacknowledged, then a takeover before the
    repeat: the repeat is refused (owner) and its worker charges; nothing is added,
    whatever the usage reported (complete_batch's path: test_group_completion)."""
    job = make_job()
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'A' WHERE job_id = %s", (job,))
    first = scheduler.start(conn, config, job, "A").task
    assert first is not None
    if outcome == "failed":
        err = {"code": "v2_provider_error", "message": "m", "retryable": False}
        done = Completion.failed(first.id, first.attempt, err, usage=usage)
    else:
        done = Completion.succeeded(first.id, first.attempt, GOOD_OUTPUTS["intent"], usage=usage)
    assert scheduler.complete(conn, config, job, "A", done).result == "ok"
    assert not scheduler.charge(conn, first.id, first.attempt, usage)
    row = next(a for a in attempts(conn, job) if a["task_key"] == "intent")
    assert float(row["cost_usd"]) == 0.5
    # 0, not NULL, where the usage named no tokens: that is what tells charge_attempt
    # the row was closed by a completion
    assert (row["tokens_in"], row["tokens_out"]) == (
        usage.get("tokens_in", 0),
        usage.get("tokens_out", 0),
    )


def test_worker_threads_log_job_id_and_task_key_from_their_context(
    conn, config, pool, make_job, caplog
):
    """Nothing passes job_id or task_key by hand: the runner binds them, and the worker
    threads it starts (the parallel asset branch included) inherit the context."""
    job = make_job()

    def flaky(ctx):
        if ctx.attempt == 1:
            raise TaskFailed("transient", retryable=True)

    caplog.set_level("INFO", logger="enginev2d.worker")
    out = runner(conn, config, pool, job, executor=Recorder({"asset": flaky})).run()
    assert out.status == "succeeded"
    retry = [r for r in caplog.records if getattr(r, "action", "") == "task_retry"]
    assert [(r.job_id, r.task_key) for r in retry] == [(job, "asset")]
