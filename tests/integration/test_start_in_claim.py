"""Starts in the claim's commit (issue 17, item 4): the fresh jobs a daemon claims are
started by the claim (``engine_v2.start_jobs``, ``Intake._start_fresh``), and their
runners take that first step instead of a start hand-off of their own."""

from __future__ import annotations

import functools
import logging
from typing import Any, ClassVar

import psycopg
import pytest

from enginev2d import scheduler
from enginev2d.completer import Completer
from enginev2d.daemon import Daemon
from enginev2d.workflow import DEFAULT_WORKFLOW, TaskSpec, Workflow
from tests.integration.test_group_completion import (
    OWNER,
    _ending_batch,
    _Held,
    _norm_job,
    _norm_step,
    gapless,
    held_daemon,
    own,
)
from tests.integration.test_scheduler_support import noop_executor, tasks
from tests.waiting import wait_for


def _rows_of(conn, job: str) -> dict[str, Any]:
    """Every row a start writes, ids and clocks left out (a clock only as set or not)."""
    task_rows = conn.execute(
        "SELECT to_jsonb(t) - ARRAY['id', 'job_id', 'created_at', 'updated_at', 'started_at']"
        "       || jsonb_build_object('started', t.started_at IS NOT NULL) AS row"
        "  FROM engine_v2.job_tasks t WHERE t.job_id = %s ORDER BY t.task_key",
        (job,),
    ).fetchall()
    attempts = conn.execute(
        "SELECT t.task_key, a.attempt_no, a.status, a.started_at IS NOT NULL AS started,"
        "       a.ended_at, a.error, a.tokens_in, a.tokens_out, a.cost_usd"
        "  FROM engine_v2.job_task_attempts a JOIN engine_v2.job_tasks t ON t.id = a.task_id"
        " WHERE t.job_id = %s ORDER BY t.task_key",
        (job,),
    ).fetchall()
    edges = conn.execute(
        "SELECT p.task_key AS pred, s.task_key AS succ FROM engine_v2.job_task_dependencies d"
        "  JOIN engine_v2.job_tasks p ON p.id = d.predecessor_task_id"
        "  JOIN engine_v2.job_tasks s ON s.id = d.successor_task_id"
        " WHERE p.job_id = %s ORDER BY 1, 2",
        (job,),
    ).fetchall()
    run = conn.execute(
        "SELECT to_jsonb(r) - ARRAY['job_id', 'created_at', 'updated_at', 'claimed_at',"
        "                           'lease_expires_at', 'user_id', 'message'] AS row"
        "  FROM engine_v2.job_runs r WHERE r.job_id = %s",
        (job,),
    ).fetchone()
    return {
        "tasks": [r["row"] for r in task_rows],
        "attempts": attempts,
        "edges": edges,
        "run": run["row"],
    }


def _start_rows(conn, jobs: list[str]) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT r.job_id::text, r.claimed_at, t.started_at AS first_started_at"
        "  FROM engine_v2.job_runs r"
        "  LEFT JOIN engine_v2.job_tasks t ON t.job_id = r.job_id AND t.task_key = 'intent'"
        " WHERE r.job_id = ANY(%s::uuid[])",
        (jobs,),
    )
    return {r["job_id"]: r for r in rows}


# three roots, so that how many a start claims (1 + more) shows
FANNED = Workflow(
    (TaskSpec("a", "r", weight=2), TaskSpec("b", "r"), TaskSpec("c", "r"), TaskSpec("d", "r")),
    (("a", "d"), ("b", "d"), ("c", "d")),
)


@pytest.mark.parametrize(
    "n_jobs,more,workflow",
    [(1, 0, DEFAULT_WORKFLOW), (3, 2, DEFAULT_WORKFLOW), (1, 0, FANNED), (3, 1, FANNED),
     (4, 2, FANNED)],
)  # fmt: skip
def test_start_jobs_records_exactly_what_start_job_records_for_each(
    conn, config, make_job, n_jobs, more, workflow
):
    """Twins: jobs started one start_job call each, and the same number started by one
    start_jobs call: same steps, same rows, same events."""
    results = {}
    for twin in ("one", "many"):
        jobs = [own(conn, make_job()) for _ in range(n_jobs)]
        if twin == "one":
            steps = [scheduler.start(conn, config, j, OWNER, workflow, more=more) for j in jobs]
        else:
            started = scheduler.start_many(conn, config, jobs, OWNER, workflow, more=more)
            assert started.errors == {}
            steps = [started.steps[j] for j in jobs]
        roots = min(1 + more, 3) if workflow is FANNED else 1
        assert all(len([s.task, *s.more]) == roots for s in steps)
        results[twin] = (
            [_norm_step(s) for s in steps],
            [_norm_job(conn, j) for j in jobs],
            [_rows_of(conn, j) for j in jobs],
            [{k: s.extra.get(k) for k in ("created", "outputs")} for s in steps],
        )
        for j in jobs:
            assert gapless(conn, j)
        if twin == "many":  # the fast path took them all (else this compares start_job
            assert started.set_based == n_jobs  # with itself)
    assert results["many"] == results["one"]


def test_a_job_whose_start_raises_is_left_out_and_the_others_start(conn, config, make_job):
    good = [own(conn, make_job()) for _ in range(2)]
    gone = make_job()
    conn.execute("DELETE FROM engine_v2.job_runs WHERE job_id = %s", (gone,))  # start raises
    started = scheduler.start_many(conn, config, [good[0], gone, good[1]], OWNER, DEFAULT_WORKFLOW)
    assert set(started.steps) == set(good)
    assert list(started.errors) == [gone]
    assert started.errors[gone].startswith("23503: ")  # materialize_job: no job_runs row
    assert all(len(tasks(conn, j)) == len(DEFAULT_WORKFLOW.keys) for j in good)
    assert tasks(conn, gone) == {}  # its subtransaction left nothing


def test_a_set_based_start_that_raises_falls_back_to_start_job_and_says_so(
    conn, config, make_job, caplog, starting_daemon
):
    """A bug in the set-based path (simulated: the function raises) costs speed, not
    correctness: every job is started by start_job, and the intake logs it."""
    conn.execute(
        """CREATE OR REPLACE FUNCTION engine_v2._start_fresh(
             p_jobs uuid[], p_tasks jsonb, p_edges jsonb, p_n int)
           RETURNS jsonb LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'set-based bug'; END $$"""
    )
    d, _ = starting_daemon
    jobs = [own(conn, make_job()) for _ in range(2)]
    started = scheduler.start_many(conn, config, jobs, OWNER, DEFAULT_WORKFLOW)
    assert started.set_based == 0 and "set-based bug" in (started.set_based_error or "")
    assert {j: s.task.task_key for j, s in started.steps.items()} == dict.fromkeys(jobs, "intent")
    assert all(gapless(conn, j)[-1] == "taskStarted" for j in jobs)
    conn.execute(
        "UPDATE engine_v2.job_runs SET owner = NULL WHERE job_id = ANY(%s::uuid[])", (jobs,)
    )
    conn.execute("DELETE FROM engine_v2.job_tasks WHERE job_id = ANY(%s::uuid[])", (jobs,))
    d.intake.poll_once()  # the intake says so
    [warning] = [r for r in caplog.records if getattr(r, "action", "") == "start_set_based_failed"]
    assert "set-based bug" in warning.getMessage()


# ------------------------------------------------------------------ in a batch's commit


class _HeldStarted(_Held):
    """``_Held``, keeping the first step the daemon hands it."""

    steps: ClassVar[dict[str, scheduler.Step | None]] = {}

    def __init__(self, cfg, pool, job_row, *, owner, takeover, started=None) -> None:
        super().__init__(cfg, pool, job_row, owner=owner, takeover=takeover)
        self.takeover = takeover
        self.steps[self.job_id] = started


@pytest.fixture
def starting_daemon(config, pool):
    """``claiming_daemon`` whose intake starts what it claims (the daemon's default
    runner: it knows the workflow)."""
    _HeldStarted.steps = {}
    yield from held_daemon(config, pool, _HeldStarted, start_workflow=DEFAULT_WORKFLOW)


def test_a_batch_starts_the_fresh_jobs_it_claims_in_its_commit(
    conn, config, make_job, starting_daemon
):
    d, completer = starting_daemon
    ended, items = _ending_batch(conn, config, d, make_job)
    _HeldStarted.steps.clear()
    fresh = make_job()
    resumed = make_job()  # ran before: its claim is a takeover, never a start
    conn.execute(
        "UPDATE engine_v2.job_runs SET claimed_at = now() - interval '1 hour',"
        " created_at = now() - interval '1 hour' WHERE job_id = %s",
        (resumed,),
    )
    completer.write_batch(items)
    assert [i.step.ended for i in items] == ["succeeded", "succeeded"]
    assert set(_HeldStarted.steps) == {fresh, resumed}
    assert _HeldStarted.steps[resumed] is None and tasks(conn, resumed) == {}
    first = _HeldStarted.steps[fresh]
    assert first is not None and first.task is not None and first.task.task_key == "intent"
    assert [t.task_key for t in first.more] == []  # intent alone is ready at the start
    rows = _start_rows(conn, [fresh])
    ends = conn.execute(
        "SELECT DISTINCT finished_at FROM engine_v2.job_runs WHERE job_id = ANY(%s::uuid[])",
        (ended,),
    ).fetchall()
    # one transaction: its now() is the ended jobs' end, the claim and the first task's start
    assert [e["finished_at"] for e in ends] == [rows[fresh]["claimed_at"]]
    assert rows[fresh]["first_started_at"] == rows[fresh]["claimed_at"]
    assert gapless(conn, fresh)[-1] == "taskStarted"


def test_a_runner_factory_that_does_not_know_the_workflow_starts_its_own_jobs(
    conn, config, make_job, starting_daemon
):
    d, completer = starting_daemon
    d.start_workflow = None  # a runner factory of the host's: the claim only claims
    _, items = _ending_batch(conn, config, d, make_job)
    _HeldStarted.steps.clear()
    queued = make_job()
    completer.write_batch(items)
    assert _HeldStarted.steps == {queued: None}
    assert tasks(conn, queued) == {}


# ------------------------------------------------------------------ the intake's poll


@pytest.fixture
def polling_daemon(config, pool):
    """A daemon (its loop not running) with the real runner and no-op task bodies, whose
    polls start what they claim."""
    from enginev2d.worker import JobRunner

    completer = Completer(config, pool, slots=1).start()
    d = Daemon(config, pool=pool, runner_factory=functools.partial(
        JobRunner, executor=noop_executor(), completer=completer))  # fmt: skip
    d.start_workflow = DEFAULT_WORKFLOW
    yield d
    for rj in list(d._jobs.values()):
        rj.thread.join(30)
    completer.stop()


def _succeeded(conn, job: str) -> bool:
    row = conn.execute("SELECT status FROM engine_v2.job_runs WHERE job_id = %s", (job,)).fetchone()
    return row["status"] == "succeeded"


def _claims(caplog) -> list[dict[str, Any]]:
    return [
        {"takeover": r.takeover, "started": r.started}
        for r in caplog.records
        if getattr(r, "action", "") == "job_claimed"
    ]


def test_a_poll_starts_what_it_claims_and_the_job_runs_to_its_end(
    conn, make_job, polling_daemon, caplog
):
    caplog.set_level(logging.INFO)
    job = make_job()
    assert polling_daemon.intake.poll_once() is None
    wait_for(lambda: _succeeded(conn, job), 30, "the job succeeded")
    assert _claims(caplog) == [{"takeover": False, "started": True}]
    attempts = conn.execute(
        "SELECT count(*) AS n FROM engine_v2.job_task_attempts a"
        "  JOIN engine_v2.job_tasks t ON t.id = a.task_id WHERE t.job_id = %s",
        (job,),
    ).fetchone()
    assert attempts["n"] == len(DEFAULT_WORKFLOW.keys)  # every task once


@pytest.mark.parametrize("failure", ["lost_ack", "statement", "after_the_statement"])
def test_a_start_that_fails_after_the_poll_claimed_leaves_no_job_behind(
    conn, make_job, polling_daemon, caplog, monkeypatch, failure
):
    """The claim committed; the start's acknowledgement is lost or reading it failed (it
    committed: the runner recovers the job, its first attempt re-run uncharged), or its
    statement failed (nothing committed: the runner starts the job itself). Either way
    the job runs to its end, every task succeeded once."""
    caplog.set_level(logging.INFO)
    real = scheduler.start_many

    def failing(conn_, *args: Any, **kw: Any) -> scheduler.Started:
        if failure == "lost_ack":
            real(conn_, *args, **kw)  # committed (autocommit), then the answer is lost
            raise psycopg.OperationalError("consuming input failed: server closed the connection")
        if failure == "after_the_statement":
            real(conn_, *args, **kw)  # committed, then reading the answer failed
            raise KeyError("steps")
        raise psycopg.errors.RaiseException("start_jobs failed")

    monkeypatch.setattr(scheduler, "start_many", failing)
    job = make_job()
    assert polling_daemon.intake.poll_once() is None
    wait_for(lambda: _succeeded(conn, job), 30, "the job succeeded")
    in_doubt = failure != "statement"
    assert _claims(caplog) == [{"takeover": in_doubt, "started": False}]
    counts = conn.execute(
        "SELECT t.task_key, count(*) FILTER (WHERE a.status = 'succeeded') AS ok,"
        "       count(*) FILTER (WHERE a.error->>'code' = 'worker_lost') AS lost"
        "  FROM engine_v2.job_tasks t JOIN engine_v2.job_task_attempts a ON a.task_id = t.id"
        " WHERE t.job_id = %s GROUP BY t.task_key",
        (job,),
    ).fetchall()
    assert {c["task_key"]: c["ok"] for c in counts} == dict.fromkeys(DEFAULT_WORKFLOW.keys, 1)
    assert {c["task_key"] for c in counts if c["lost"]} == ({"intent"} if in_doubt else set())
