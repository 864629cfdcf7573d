"""The scheduler's SQL functions on real PostgreSQL, driven without a runner."""

from __future__ import annotations

import json

import psycopg
import pytest

from enginev2d import scheduler
from enginev2d.completion import Completion
from enginev2d.errors import DagDeadlock, OutputInvalid, SchedulerError, TaskFailed, classify
from enginev2d.progress import events_after
from enginev2d.worker import error_json
from enginev2d.workflow import DEFAULT_WORKFLOW, Workflow
from tests.integration.test_scheduler_support import (
    GOOD_OUTPUTS,
    TERMINAL,
    artifacts_for,
    attempts,
    drive,
    event_types,
    events,
    job_row,
    statuses,
    tasks,
)
from tests.waiting import drain_notifies


def outputs(**over):
    def pick(key, attempt):
        value = over.get(key, GOOD_OUTPUTS[key])
        if callable(value):
            return value(attempt)
        return value

    return pick


def with_failures(key, n, exc_factory=None):
    exc_factory = exc_factory or (lambda a: TaskFailed(f"boom {a}", retryable=True))

    def value(attempt):
        return exc_factory(attempt) if attempt <= n else GOOD_OUTPUTS[key]

    return value


def public_job_status(conn, job_id):
    return conn.execute("SELECT status FROM public.jobs WHERE id = %s", (job_id,)).fetchone()[
        "status"
    ]


# ---------------------------------------------------------------- materialize


def test_materialize_writes_dag_once_and_promotes_roots(conn, make_job):
    job = make_job()
    made = scheduler.materialize(conn, job)
    assert made == {"created": True, "outputs": {}}
    rows = tasks(conn, job)
    assert list(rows) == list(DEFAULT_WORKFLOW.keys)
    assert rows["intent"]["status"] == "ready"
    assert {k for k, r in rows.items() if r["status"] == "pending"} == set(
        DEFAULT_WORKFLOW.keys
    ) - {"intent"}
    assert rows["codegen"]["weight"] == 5 and rows["codegen"]["agent_role"] == "builder"
    assert rows["codegen"]["display_label"] == "コードを生成中..."
    assert rows["qa_review"]["max_attempts"] == 1
    edges = conn.execute(
        "SELECT p.task_key AS a, s.task_key AS b FROM engine_v2.job_task_dependencies d"
        " JOIN engine_v2.job_tasks p ON p.id = d.predecessor_task_id"
        " JOIN engine_v2.job_tasks s ON s.id = d.successor_task_id WHERE p.job_id = %s",
        (job,),
    ).fetchall()
    assert {(e["a"], e["b"]) for e in edges} == set(DEFAULT_WORKFLOW.dependencies)
    snapshot = conn.execute(
        "SELECT id, status, updated_at FROM engine_v2.job_tasks WHERE job_id = %s ORDER BY id",
        (job,),
    ).fetchall()
    seq = job_row(conn, job)["event_seq"]
    again = scheduler.materialize(conn, job)
    assert again["created"] is False
    assert (
        conn.execute(
            "SELECT id, status, updated_at FROM engine_v2.job_tasks WHERE job_id = %s ORDER BY id",
            (job,),
        ).fetchall()
        == snapshot
    )
    assert job_row(conn, job)["event_seq"] == seq


def test_invalid_workflow_is_rejected_before_anything_is_written(conn, make_job):
    job = make_job()
    wf = Workflow.from_dict(
        {
            "tasks": [{"key": "a"}, {"key": "b"}, {"key": "c"}],
            "dependencies": [["a", "b"], ["b", "c"], ["c", "b"]],
        }
    )
    with pytest.raises(DagDeadlock, match=r"cycle: b -> c -> b"):
        scheduler.materialize(conn, job, wf)
    assert tasks(conn, job) == {}


# ---------------------------------------------------------------- happy paths and skips


def test_success_live_completes_public_job_and_closes_attempts(conn, config, make_job):
    job = make_job()
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs())
    run = job_row(conn, job)
    assert run["status"] == "succeeded" and run["progress"] == 100
    assert run["finished_at"] is not None and run["error_code"] is None
    assert run["result"]["type"] == "completed"
    assert run["result"]["files"] == [{"path": "index.html", "content": "<html>snake fixed</html>"}]
    assert public_job_status(conn, job) == "completed"
    assert set(statuses(conn, job).values()) == {"succeeded"}
    rows = attempts(conn, job)
    assert len(rows) == 7 and {a["status"] for a in rows} == {"succeeded"}
    assert all(a["ended_at"] is not None and a["latency_ms"] == 1 for a in rows)
    assert event_types(conn, job)[-2:] == ["taskDone", "jobCompleted"]


def test_autocommit_completion_that_ends_the_job_finishes_it_in_a_second_transaction(
    conn, db_url, config, make_job
):
    """The hot path's atomic=False guess can be wrong: the job still ends succeeded with
    its result, public.jobs completed and the skips reported, one NOTIFY per commit."""
    job = make_job()
    scheduler.materialize(conn, job)
    with psycopg.connect(db_url, autocommit=True) as c2:
        step = scheduler.claim(c2, config, job, None, atomic=False)
        while step.task is not None:
            t = step.task
            out = dict(GOOD_OUTPUTS[t.task_key])
            if t.task_key == "qa_review":
                out["issues"] = 0  # skips fix: the last completion reports a skip
            step = scheduler.complete(
                c2,
                config,
                job,
                None,
                Completion.succeeded(
                    t.id,
                    t.attempt,
                    out,
                    artifacts=artifacts_for(out),
                    skip=DEFAULT_WORKFLOW.skips_after(t.task_key, out),
                ),
                claim_next=True,
                atomic=False,
            )
            if step.skipped:
                assert step.skipped == ["fix"]
        assert c2.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert step.ended == "succeeded" and step.active == 0
    run = job_row(conn, job)
    assert run["status"] == "succeeded" and run["progress"] == 100
    assert run["result"]["type"] == "completed"
    assert public_job_status(conn, job) == "completed"
    assert event_types(conn, job)[-1] == "jobCompleted"


def test_shadow_never_touches_public_jobs(conn, config, make_job):
    job = make_job(options={"mode": "shadow"})
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs())
    assert job_row(conn, job)["status"] == "succeeded"
    assert public_job_status(conn, job) == "pending"


def test_chat_skips_everything_after_intent(conn, config, make_job):
    job = make_job()
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs(intent={"intent": "chat"}))
    st = statuses(conn, job)
    assert st.pop("intent") == "succeeded"
    assert set(st.values()) == {"skipped"}
    run = job_row(conn, job)
    assert run["status"] == "succeeded" and run["result"] == {"type": "chat", "intent": "chat"}
    assert public_job_status(conn, job) == "pending"  # chat is the server's business
    types = event_types(conn, job)
    assert types[types.index("taskDone") + 1 : types.index("taskDone") + 7] == ["taskSkipped"] * 6
    assert types[-1] == "jobCompleted"
    skipped = [e["data"] for e in events(conn, job) if e["event_type"] == "taskSkipped"]
    assert {d["reason"] for d in skipped} == {"intent_chat"}


def test_qa_without_issues_skips_fix(conn, config, make_job):
    job = make_job()
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs(qa_review={"issues": 0, "findings": []}))
    st = statuses(conn, job)
    assert st["fix"] == "skipped"
    assert {k for k, v in st.items() if v != "skipped"} == set(DEFAULT_WORKFLOW.keys) - {"fix"}
    assert all(v == "succeeded" for k, v in st.items() if k != "fix")
    ev = [(e["event_type"], e["data"].get("task_key")) for e in events(conn, job)]
    assert ev.index(("taskSkipped", "fix")) == ev.index(("taskDone", "qa_review")) + 1
    assert job_row(conn, job)["status"] == "succeeded"


def test_restore_skips_but_plan_runs_before_publish(conn, config, make_job):
    job = make_job(options={"mode": "shadow"})
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs(intent={"intent": "restore"}))
    st = statuses(conn, job)
    assert [st[k] for k in ("codegen", "asset", "qa_review", "fix")] == ["skipped"] * 4
    assert st["plan"] == st["publish_prep"] == "succeeded"
    ev = [(e["event_type"], e["data"].get("task_key")) for e in events(conn, job)]
    assert ev.index(("taskDone", "plan")) < ev.index(("taskStarted", "publish_prep"))


# ---------------------------------------------------------------- retries and failures


def test_retry_then_success(conn, config, make_job):
    job = make_job()
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs(codegen=with_failures("codegen", 1)))
    assert job_row(conn, job)["status"] == "succeeded"
    rows = [a for a in attempts(conn, job) if a["task_key"] == "codegen"]
    assert [(a["attempt_no"], a["status"]) for a in rows] == [(1, "failed"), (2, "succeeded")]
    assert rows[0]["error"]["code"] == "v2_task_failed" and rows[0]["error"]["retryable"] is True
    assert rows[0]["error"]["message"] == "boom 1" and rows[0]["error"]["kind"] == "TaskFailed"
    assert rows[1]["error"] is None
    retry = [e["data"] for e in events(conn, job) if e["event_type"] == "taskRetry"]
    assert retry == [
        {
            "type": "taskRetry",
            "task_key": "codegen",
            "attempt": 1,
            "next_attempt": 2,
            "error": rows[0]["error"],
            "progress": retry[0]["progress"],
        }
    ]


def test_repair_hint_reaches_the_next_attempt(conn, config, make_job):
    job = make_job()
    scheduler.materialize(conn, job)
    step = scheduler.claim(conn, config, job, None)
    err = error_json(OutputInvalid("bad json", repair_hint="answer with JSON only"))
    step = scheduler.complete(
        conn, config, job, None, Completion.failed(step.task.id, 1, err), claim_next=True
    )
    assert step.task.task_key == "intent" and step.task.attempt == 2
    assert step.task.repair_hint == "answer with JSON only"


def test_exhausted_retries_cancel_downstream_and_stop_the_independent_branch(
    conn, config, make_job
):
    """The outcome is decided at the failure: downstream tasks are upstream_failed and
    the independent branch (asset, running at that moment) is stopped in the same
    transaction, so the final fallback is the last event and no model call follows."""
    job = make_job()
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs(codegen=with_failures("codegen", 5)))
    st = statuses(conn, job)
    assert st["codegen"] == "failed"
    assert st["asset"] == "canceled"  # stopped: nothing is spent after the fallback
    for key in ("qa_review", "fix", "publish_prep"):
        assert st[key] == "canceled"
    rows = tasks(conn, job)
    assert rows["qa_review"]["error_code"] == "upstream_failed"
    assert rows["publish_prep"]["error_message"] == "Canceled: upstream task codegen failed"
    assert rows["asset"]["error_code"] == "v2_task_failed"
    run = job_row(conn, job)
    assert run["status"] == "failed" and run["error_code"] == "v2_task_failed"
    assert run["fallback_triggered"] is True and run["finished_at"] is not None
    assert public_job_status(conn, job) == "pending"
    assert not [a for a in attempts(conn, job) if a["status"] == "running"]
    ev = events(conn, job)
    types = [e["event_type"] for e in ev]
    i = types.index("taskFailed")
    # taskFailed, the cancellations, jobFailed and fallback are one transaction.
    assert types[i:] == ["taskFailed"] + ["taskCanceled"] * 4 + ["jobFailed", "fallback"]
    assert ev[-1]["data"]["final"] is True
    assert ev[-1]["data"] == {
        "type": "fallback", "error_code": "v2_task_failed", "job_id": job, "final": True,
    }  # fmt: skip
    assert types.count("jobFailed") == 1
    assert [a["status"] for a in attempts(conn, job) if a["task_key"] == "codegen"] == [
        "failed",
        "failed",
    ]
    assert all(a["status"] != "running" for a in attempts(conn, job))
    assert set(st.values()) <= TERMINAL


def test_non_retryable_error_fails_at_once_with_its_job_code(conn, config, make_job):
    job = make_job()
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs(intent=lambda a: classify(ValueError("kaput"))))
    assert len(attempts(conn, job)) == 1
    run = job_row(conn, job)
    assert run["status"] == "failed" and run["error_code"] == "v2_task_failed"
    assert set(statuses(conn, job).values()) == {"failed", "canceled"}


# ---------------------------------------------------------------- deadlock (8.6)


@pytest.mark.parametrize(
    ("edges", "stuck"),
    [
        ([["a", "b"], ["b", "c"], ["c", "b"]], ["b", "c"]),  # cycle
        ([["a", "b"], ["ghost", "c"]], ["c"]),  # dangling predecessor
        ([["a", "b"], ["c", "c"]], ["c"]),  # self-edge
    ],
)
def test_deadlock_is_detected_and_fails_the_job(conn, config, make_job, edges, stuck):
    job = make_job()
    wf = Workflow.from_dict({"tasks": [{"key": k} for k in "abc"], "dependencies": edges})
    with pytest.raises(DagDeadlock):
        wf.validate()
    scheduler.materialize(conn, job, wf, validate=False)
    drive(conn, config, job, lambda k, a: {"ok": True}, workflow=wf)
    run = job_row(conn, job)
    assert run["status"] == "failed" and run["error_code"] == "v2_dag_deadlock"
    assert run["fallback_triggered"] is True
    st = statuses(conn, job)
    assert [k for k, v in st.items() if v == "canceled"] == stuck
    assert set(st.values()) <= TERMINAL
    dead = [e["data"] for e in events(conn, job) if e["event_type"] == "dagDeadlock"]
    assert dead and dead[0]["stuck"] == stuck and dead[0]["error_code"] == "v2_dag_deadlock"
    assert tasks(conn, job)[stuck[0]]["error_code"] == "v2_dag_deadlock"


# ---------------------------------------------------------------- fencing


def test_stale_worker_writes_are_rejected(conn, config, make_job, caplog):
    job = make_job()
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'A' WHERE job_id = %s", (job,))
    scheduler.materialize(conn, job)
    first = scheduler.claim(conn, config, job, "B")
    assert first.stale and first.task is None  # claims are fenced on the owner
    first = scheduler.claim(conn, config, job, "A")
    assert first.task.attempt == 1
    # A's lease expires; B takes over and recovers the attempt A left running.
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'B' WHERE job_id = %s", (job,))
    late = scheduler.complete(
        conn, config, job, "A", Completion.succeeded(first.task.id, 1, {"intent": "chat"})
    )
    assert late.stale and late.reason == "owner"
    rec = scheduler.recover_job(conn, job, "B", config)
    assert rec.extra["retried"] == 1
    second = scheduler.claim(conn, config, job, "B")
    assert second.task.id == first.task.id and second.task.attempt == 2
    seq = job_row(conn, job)["event_seq"]
    caplog.set_level("WARNING")
    for owner in ("A", "B"):  # the old attempt number is fenced even with the right owner
        stale = scheduler.complete(
            conn, config, job, owner, Completion.succeeded(first.task.id, 1, {"intent": "chat"})
        )
        assert stale.stale
    assert any(getattr(r, "action", None) == "stale_write_rejected" for r in caplog.records)
    assert job_row(conn, job)["event_seq"] == seq
    row = tasks(conn, job)["intent"]
    assert row["status"] == "running" and row["output"] == {}
    ok = scheduler.complete(
        conn, config, job, "B", Completion.succeeded(first.task.id, 2, {"intent": "edit"})
    )
    assert ok.result == "ok"
    assert tasks(conn, job)["intent"]["output"] == {"intent": "edit"}
    att = [a for a in attempts(conn, job) if a["task_key"] == "intent"]
    assert [(a["attempt_no"], a["status"]) for a in att] == [(1, "failed"), (2, "succeeded")]
    assert att[0]["error"]["code"] == "worker_lost"


# ---------------------------------------------------------------- recover, cancel, retry


def test_recover_job_requeues_or_fails_what_the_dead_owner_left_running(conn, config, make_job):
    job = make_job(options={"mode": "shadow"})
    scheduler.materialize(conn, job)
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'A' WHERE job_id = %s", (job,))

    def complete(task, output):
        return scheduler.complete(
            conn, config, job, "A", Completion.succeeded(task.id, task.attempt, output)
        )

    for key in ("intent", "plan"):
        t = scheduler.claim(conn, config, job, "A").task
        assert t.task_key == key
        complete(t, GOOD_OUTPUTS[key])
    codegen = scheduler.claim(conn, config, job, "A").task
    asset = scheduler.claim(conn, config, job, "A").task
    complete(codegen, GOOD_OUTPUTS["codegen"])
    qa = scheduler.claim(conn, config, job, "A").task
    assert {codegen.task_key, asset.task_key, qa.task_key} == {"codegen", "asset", "qa_review"}
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'B' WHERE job_id = %s", (job,))
    assert scheduler.recover_job(conn, job, "A").stale
    step = scheduler.recover_job(conn, job, "B", config)
    # A lost attempt is not a failed one: both go back to ready with their budget intact
    # (qa_review has max_attempts 1 and still runs again).
    assert step.extra == {"retried": 2, "failed": 0, "canceled": 0}
    rows = tasks(conn, job)
    assert rows["asset"]["status"] == rows["qa_review"]["status"] == "ready"
    assert rows["qa_review"]["max_attempts"] == 2 and rows["qa_review"]["takeovers"] == 1
    assert not [a for a in attempts(conn, job) if a["status"] == "running"]
    lost = [a for a in attempts(conn, job) if a["error"] and a["error"]["code"] == "worker_lost"]
    assert {a["task_key"] for a in lost} == {"asset", "qa_review"}  # history is kept
    drive(conn, config, job, outputs(), owner="B")
    assert job_row(conn, job)["status"] == "succeeded"


def test_recover_job_bounds_a_crash_loop_with_max_takeovers(conn, config, make_job):
    """daemon.max_takeovers per task: the (n+1)-th loss of the same task fails the job
    with v2_scheduler_error instead of re-running it forever."""
    job = make_job(options={"mode": "shadow"})
    scheduler.materialize(conn, job)
    owners = iter(f"D{i}" for i in range(10))
    owner = next(owners)
    conn.execute("UPDATE engine_v2.job_runs SET owner = %s WHERE job_id = %s", (owner, job))
    t = scheduler.claim(conn, config, job, owner).task
    assert t.task_key == "intent"
    for lost in range(config.daemon.max_takeovers + 1):
        owner = next(owners)
        conn.execute("UPDATE engine_v2.job_runs SET owner = %s WHERE job_id = %s", (owner, job))
        step = scheduler.recover_job(conn, job, owner, config)
        if lost < config.daemon.max_takeovers:
            assert step.extra["retried"] == 1
            assert scheduler.claim(conn, config, job, owner).task.task_key == "intent"
    run = job_row(conn, job)
    assert (run["status"], run["error_code"]) == ("failed", "v2_scheduler_error")
    assert tasks(conn, job)["intent"]["takeovers"] == config.daemon.max_takeovers
    assert events(conn, job)[-1]["event_type"] == "fallback"


def test_cancel_job(conn, config, make_job):
    job = make_job()
    scheduler.materialize(conn, job)
    t = scheduler.claim(conn, config, job, None).task
    assert scheduler.cancel_job(conn, job, reason="operator", cfg=config) == "canceled"
    assert scheduler.cancel_job(conn, job, reason="again") == "canceled"  # idempotent
    run = job_row(conn, job)
    assert (run["status"], run["error_code"], run["cancel_requested"]) == (
        "canceled",
        "canceled",
        True,
    )
    assert run["fallback_triggered"] is True and run["finished_at"] is not None
    # Every task stopped in the cancel's transaction, the running one included.
    assert set(statuses(conn, job).values()) == {"canceled"}
    assert {r["error_code"] for r in tasks(conn, job).values()} == {"canceled"}
    assert [a["status"] for a in attempts(conn, job)] == ["canceled"]
    n_events = len(events(conn, job))
    # The running attempt reports late (even a success): fenced off, nothing follows.
    step = scheduler.complete(
        conn, config, job, None, Completion.succeeded(t.id, 1, {"intent": "edit"}), claim_next=True
    )
    assert step.stale and step.task is None
    assert len(events(conn, job)) == n_events
    ev = events(conn, job)
    assert [e["event_type"] for e in ev[-2:]] == ["fallback", "jobCanceled"]
    assert ev[-1]["data"]["final"] is True and "final" not in ev[-2]["data"]
    assert ev[-2]["data"] == {"type": "fallback", "error_code": "canceled", "job_id": job}
    assert public_job_status(conn, job) == "pending"


def test_cancel_job_after_success_answers_completed(conn, config, make_job):
    job = make_job(options={"mode": "shadow"})
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs())
    assert job_row(conn, job)["status"] == "succeeded"
    n = len(events(conn, job))
    assert scheduler.cancel_job(conn, job, reason="deadline") == "completed"
    assert job_row(conn, job)["status"] == "succeeded" and len(events(conn, job)) == n
    ev = events(conn, job)
    assert ev[-1]["event_type"] == "jobCompleted" and ev[-1]["data"]["final"] is True


def test_retry_job_reruns_a_failed_shadow_job_from_failed_tasks(conn, db_url, config, make_job):
    job = make_job(options={"mode": "shadow"})
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs(codegen=with_failures("codegen", 2)))
    assert job_row(conn, job)["status"] == "failed"
    assert scheduler.retry_job(conn, job) is True
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN engine_v2_jobs")
        conn.execute(
            "UPDATE engine_v2.job_runs SET status = 'failed' WHERE job_id = %s", (job,)
        )  # back to failed to retry again, this time while listening
        assert scheduler.retry_job(conn, job) is True
        notes = list(listener.notifies(timeout=2.0, stop_after=1))
    # byte-exact, as submit_job (0002) sends it
    assert notes and notes[0].payload == f'{{"job_id": "{job}"}}'
    assert json.loads(notes[0].payload) == {"job_id": job}
    run = job_row(conn, job)
    assert run["status"] == "running" and run["error_code"] is None
    assert run["finished_at"] is None and run["owner"] is None
    rows = tasks(conn, job)
    assert rows["codegen"]["status"] == "ready"
    assert rows["codegen"]["max_attempts"] == 4  # 2 used + a fresh budget of 2
    # asset was stopped by the failure (canceled): it runs again too
    assert rows["qa_review"]["status"] == "pending" and rows["asset"]["status"] == "ready"
    assert "jobRetried" in event_types(conn, job)
    assert scheduler.retry_job(conn, job) is False  # running: nothing to retry
    drive(conn, config, job, outputs())
    assert job_row(conn, job)["status"] == "succeeded"
    assert [a["attempt_no"] for a in attempts(conn, job) if a["task_key"] == "codegen"] == [1, 2, 3]


def test_retry_job_refuses_a_live_job_that_fell_back(conn, config, make_job):
    """v1 owns a live job once v2 signalled fallback: a retry would publish and complete
    public.jobs a second time."""
    job = make_job()
    scheduler.materialize(conn, job)
    drive(conn, config, job, outputs(codegen=with_failures("codegen", 2)))
    before = (job_row(conn, job), statuses(conn, job), len(events(conn, job)))
    with pytest.raises(SchedulerError, match="fell back to v1, which owns it now"):
        scheduler.retry_job(conn, job)
    assert (job_row(conn, job), statuses(conn, job), len(events(conn, job))) == before


# ---------------------------------------------------------------- events


def test_events_gapless_progress_monotonic_and_one_notify_per_transaction(
    conn, db_url, config, make_job
):
    job = make_job()
    scheduler.materialize(conn, job)
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN engine_v2_events")
        step = scheduler.claim(conn, config, job, None)  # transaction 1: taskStarted
        seq1 = job_row(conn, job)["event_seq"]
        # transaction 2: taskDone + taskStarted(plan) + progress updates
        nxt = scheduler.complete(
            conn,
            config,
            job,
            None,
            Completion.succeeded(step.task.id, 1, {"intent": "edit"}),
            claim_next=True,
        )
        seq2 = job_row(conn, job)["event_seq"]
        assert seq2 - seq1 == 2
        got = [n.payload for n in drain_notifies(listener, db_url, "engine_v2_events")]

    # One notification per committing transaction, naming the job with its last seq.
    payloads = [json.loads(p) for p in got]
    assert payloads == [{"jobs": {job: seq1}}, {"jobs": {job: seq2}}]
    assert all(len(p) < 8000 for p in got)
    scheduler.complete(
        conn, config, job, None, Completion.succeeded(nxt.task.id, 1, GOOD_OUTPUTS["plan"])
    )
    drive(conn, config, job, outputs(codegen=with_failures("codegen", 1)))
    ev = events(conn, job)
    assert [e["seq"] for e in ev] == list(range(1, len(ev) + 1))
    prog = [e["data"]["progress"] for e in ev if "progress" in e["data"]]
    assert prog == sorted(prog) and prog[-1] == 100
    assert all("type" in e["data"] and e["data"]["type"] == e["event_type"] for e in ev)
    assert [e["seq"] for e in events_after(conn, job, 5)] == list(range(6, len(ev) + 1))


def test_task_progress_is_fenced_and_never_follows_the_last_event(conn, config, make_job):
    job = make_job()
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'A' WHERE job_id = %s", (job,))
    scheduler.materialize(conn, job)
    t = scheduler.claim(conn, config, job, "A").task
    data = {"bytes": 1200, "tokens": 300}
    assert scheduler.task_progress(conn, job, "A", t.id, t.attempt, data)
    assert not scheduler.task_progress(conn, job, "B", t.id, t.attempt, data)  # not the owner
    assert not scheduler.task_progress(conn, job, "A", t.id, t.attempt + 1, data)  # not it
    ev = events(conn, job)[-1]
    assert ev["event_type"] == "taskProgress"
    assert {k: ev["data"][k] for k in ("task_key", "attempt", "bytes", "tokens")} == {
        "task_key": "intent", "attempt": 1, "bytes": 1200, "tokens": 300,
    }  # fmt: skip
    assert scheduler.cancel_job(conn, job, "server deadline") == "canceled"
    n = len(events(conn, job))
    assert not scheduler.task_progress(conn, job, "A", t.id, t.attempt, data)
    assert len(events(conn, job)) == n and events(conn, job)[-1]["data"]["final"] is True
