"""A completion whose commit lands while its acknowledgement is lost (the connection dies
between COMMIT and the reply), through a relay that drops exactly that reply
(tests/fakes/pgproxy.py) in front of the real PostgreSQL.

The write is repeated on a new connection and every item of it comes back stale: its
attempt was closed by the first try. What that try claimed must still reach a worker
(scheduler.landed): otherwise those tasks stay running with nobody on them until the job
times out."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from enginev2d import scheduler
from enginev2d.completer import Completer, Item
from enginev2d.config import Config
from enginev2d.db import make_pool, retry_broken
from enginev2d.errors import Canceled, ProviderUnavailable
from enginev2d.workflow import DEFAULT_WORKFLOW
from tests.fakes.pgproxy import AckLosingProxy
from tests.integration.test_group_completion import (
    OWNER,
    gapless,
    item,
    started,
    success,
    until,
)
from tests.integration.test_scheduler_support import noop_executor, statuses, tasks
from tests.waiting import wait_for


@pytest.fixture
def proxy(db_url: str) -> Iterator[AckLosingProxy]:
    p = AckLosingProxy(db_url)
    yield p
    p.close()


@pytest.fixture
def relayed(config: Config, proxy: AckLosingProxy) -> Config:
    """The test's config with its database reached through the relay."""
    return dataclasses.replace(config, database=dataclasses.replace(config.database, url=proxy.url))


@pytest.fixture
def completer(relayed: Config) -> Iterator[Completer]:
    pool = make_pool(relayed, min_size=1, max_size=4, name="relayed")
    c = Completer(relayed, pool, slots=1).start()
    yield c
    c.stop()
    pool.close()


def attempts(conn, job: str) -> dict[str, list[tuple[int, str]]]:
    rows = conn.execute(
        "SELECT t.task_key, a.attempt_no, a.status FROM engine_v2.job_task_attempts a"
        " JOIN engine_v2.job_tasks t ON t.id = a.task_id WHERE t.job_id = %s"
        " ORDER BY t.task_key, a.attempt_no",
        (job,),
    ).fetchall()
    out: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        out.setdefault(r["task_key"], []).append((r["attempt_no"], r["status"]))
    return out


def test_a_batch_whose_commit_ack_is_lost_gets_back_the_claims_it_made(
    conn, config, make_job, completer, proxy
):
    a, b, c = (make_job() for _ in range(3))
    ta, tb, tc = (started(conn, config, j) for j in (a, b, c))
    items = [
        item(a, success(ta)),
        item(b, success(tb, attempt=tb.attempt + 1)),
        item(c, success(tc)),
    ]
    proxy.arm(b"complete_batch")
    completer.write_batch(items)
    assert proxy.lost == 1
    steps = [i.step for i in items]
    assert [(s.result, s.reason) for s in steps] == [
        ("ok", None),
        ("stale", "attempt"),
        ("ok", None),
    ]
    for job, step in ((a, steps[0]), (c, steps[2])):
        assert step.task is not None and step.task.task_key == "plan" and step.task.attempt == 1
        assert step.extra.get("completed") == "succeeded" and step.job_status == "running"
        # recorded once, claimed once: the repeat changed nothing
        assert attempts(conn, job) == {"intent": [(1, "succeeded")], "plan": [(1, "running")]}
        assert gapless(conn, job)[-2:] == ["taskDone", "taskStarted"]
    assert statuses(conn, b)["intent"] == "running"  # the fenced item: stale, and untouched
    assert attempts(conn, b) == {"intent": [(1, "running")]}


def test_a_lone_completion_whose_ack_is_lost_gets_its_step(
    conn, config, make_job, completer, proxy
):
    job = make_job()
    first = started(conn, config, job)
    proxy.arm(b"task_succeeded")
    step = completer.submit(item(job, success(first)))  # alone: the per-item call
    assert proxy.lost == 1
    assert step.result == "ok" and step.task is not None and step.task.task_key == "plan"
    assert attempts(conn, job) == {"intent": [(1, "succeeded")], "plan": [(1, "running")]}


def test_two_items_of_one_job_share_their_recovered_claims_once(
    conn, config, make_job, completer, proxy
):
    job = make_job()
    codegen = until(conn, config, job, "codegen")
    asset_row = tasks(conn, job)["asset"]
    if asset_row["status"] != "running":
        claimed = scheduler.claim(conn, config, job, OWNER).task
        assert claimed is not None and claimed.task_key == "asset"
    asset = scheduler.ClaimedTask(str(asset_row["id"]), "asset", 1)
    items = [item(job, success(codegen)), item(job, success(asset))]
    proxy.arm(b"complete_batch")
    completer.write_batch(items)
    assert proxy.lost == 1
    assert [i.step.result for i in items] == ["ok", "ok"]
    handed = [t.task_key for i in items for t in (i.step.task, *i.step.more) if t]
    assert handed == ["qa_review"]  # one worker gets it, not two
    assert attempts(conn, job)["qa_review"] == [(1, "running")]


def test_the_jobs_last_completion_lost_ack_reports_the_end_once(
    conn, config, make_job, completer, proxy
):
    job = make_job(options={"mode": "live"})
    last = until(conn, config, job, "publish_prep")
    other = make_job()
    proxy.arm(b"complete_batch")
    items = [
        item(job, success(last)),
        Item.start(own_job(conn, other), OWNER, DEFAULT_WORKFLOW, more=2),
    ]
    completer.write_batch(items)
    assert proxy.lost == 1
    end = items[0].step
    assert end.result == "ok" and end.ended == "succeeded" and end.job_status == "succeeded"
    done = conn.execute("SELECT status FROM public.jobs WHERE id = %s", (job,)).fetchone()
    assert done["status"] == "completed"
    assert gapless(conn, job).count("jobCompleted") == 1
    # the start of the other job in that batch was repeated: its first claim is not lost
    first = items[1].step
    assert first.task is not None and first.task.task_key == "intent"
    assert attempts(conn, other) == {"intent": [(1, "running")]}


def own_job(conn, job: str) -> str:
    conn.execute("UPDATE engine_v2.job_runs SET owner = %s WHERE job_id = %s", (OWNER, job))
    return job


def run_to_end(runner) -> list[str]:
    """Run a JobRunner in its own thread; its outcome's status, once it ended (well
    before the job's 60 s timeout: 20 s at most), else the runner is aborted."""
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(runner.run().status))
    t.start()
    try:
        wait_for(lambda: bool(result), 20, "the job ended")
    finally:
        if t.is_alive():
            runner.abort(Canceled("the test is over"))
        t.join(10)
    return result


def failing_once(key: str):
    """The no-op executor, but ``key``'s first attempt fails retryably."""
    inner = noop_executor()

    def execute(ctx):
        if ctx.task_key == key and ctx.attempt == 1:
            raise ProviderUnavailable("fake: overloaded")
        return inner(ctx)

    return execute


@pytest.mark.parametrize("marker", [b"start_job", b"task_succeeded", b"task_failed"])
@pytest.mark.parametrize("grouped", [True, False], ids=["completer", "per-call"])
def test_a_job_survives_a_lost_ack_without_waiting_for_its_timeout(
    conn, relayed, make_job, proxy, marker, grouped
):
    """The real runner, with and without the group completer: the acknowledgement of
    the job's start, of its first success or of a failure (retried) is lost, and the
    job still ends well before its timeout (60 s), no attempt run twice."""
    from enginev2d.worker import JobRunner

    pool = make_pool(relayed, min_size=1, max_size=6, name="relayed")
    completer = Completer(relayed, pool, slots=1).start() if grouped else None
    executor = failing_once("plan") if marker == b"task_failed" else noop_executor()
    try:
        job = make_job()
        row = conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job,)).fetchone()
        proxy.arm(marker)
        runner = JobRunner(relayed, pool, row, owner=None, executor=executor, completer=completer)
        result = run_to_end(runner)
    finally:
        if completer is not None:
            completer.stop()
        pool.close()
    assert result == ["succeeded"] and proxy.lost == 1
    runs = attempts(conn, job)
    expected = {k: [(1, "succeeded")] for k in runs}
    if marker == b"task_failed":
        expected["plan"] = [(1, "failed"), (2, "succeeded")]
    assert runs == expected


def test_landed_recovers_only_a_commit_of_the_callers_own(conn, config, make_job):
    """completion_landed, directly: the first try's step when the attempt was closed
    with the caller's outcome, the repeat's stale answer otherwise."""
    job = make_job()
    first = started(conn, config, job)

    def landed(kind: str, owner: str = OWNER) -> scheduler.Step:
        return scheduler.landed(
            conn, config, job, owner, kind, task_id=first.id, attempt=first.attempt
        )

    assert (landed("succeeded").result, landed("succeeded").reason) == ("stale", "attempt")
    original = scheduler.complete(conn, config, job, OWNER, success(first), claim_next=True, more=2)
    again = landed("succeeded")
    assert again.result == "ok" and again.extra.get("completed") == "succeeded"
    assert [(t.id, t.attempt) for t in (again.task, *again.more) if t] == [
        (t.id, t.attempt) for t in (original.task, *original.more) if t
    ]
    assert landed("failed").reason == "attempt"  # closed, but not with that outcome
    assert landed("succeeded", owner="daemon-B").reason == "owner"
    # once the claimed task has finished too, nothing of that transaction is running
    plan = original.task
    assert plan is not None
    scheduler.complete(conn, config, job, OWNER, success(plan))
    assert landed("succeeded").task is None and landed("succeeded").more == []


def _relayed_claim(proxy: AckLosingProxy, claim: scheduler.Claim) -> scheduler.Step:
    """``claim`` in the runners' retry loop, a new connection through the relay per try."""

    def call() -> scheduler.Step:
        with psycopg.connect(proxy.url, autocommit=True, row_factory=dict_row) as c:
            return claim(c)

    return retry_broken(call, who="test")


def test_a_claim_whose_ack_is_lost_gets_the_tasks_it_claimed(
    conn, config, relayed, make_job, proxy
):
    """An idle worker's claim (scheduler.Claim): its transaction committed, the reply
    was lost. The repeat asks whether that try committed and returns its claims; it
    claims nothing again (else the tasks would wait, held by nobody, for the timeout)."""
    job = make_job()
    intent = started(conn, config, job)
    scheduler.complete(conn, config, job, OWNER, success(intent))  # plan ready, unclaimed
    claim = scheduler.Claim(relayed, job, OWNER, more=2)
    proxy.arm(b"claim_task")
    step = _relayed_claim(proxy, claim)
    assert proxy.lost == 1 and len(claim.tries) == 1
    assert step.result == "ok" and step.extra.get("landed") is True
    assert step.task is not None and (step.task.task_key, step.task.attempt) == ("plan", 1)
    assert attempts(conn, job)["plan"] == [(1, "running")]
    assert gapless(conn, job).count("taskStarted") == 2  # intent's and plan's, once each


def test_a_claim_whose_first_try_did_not_commit_claims_anew(conn, config, make_job):
    """claim_landed answers 'not landed' for a try that rolled back (or never got a
    transaction id far enough to claim), and the claim is made as usual."""
    job = make_job()
    intent = started(conn, config, job)
    scheduler.complete(conn, config, job, OWNER, success(intent))
    with conn.transaction():
        rolled = conn.execute("SELECT txid_current() AS txid").fetchone()["txid"]
        conn.execute("SELECT engine_v2.claim_task(%s, %s, 0)", (job, OWNER))
        raise psycopg.Rollback()
    claim = scheduler.Claim(config, job, OWNER)
    claim.tries.append(int(rolled))  # as if a try had broken after reading it
    step = claim(conn)
    assert step.extra.get("landed") is None  # a claim of its own, not a recovered one
    assert step.task is not None and (step.task.task_key, step.task.attempt) == ("plan", 1)
    assert attempts(conn, job)["plan"] == [(1, "running")]
    assert len(claim.tries) == 2


def test_a_claim_that_raises_leaves_its_connection_idle(conn, config):
    """The claim and its COMMIT go as one query: when the claim raises, the COMMIT never
    ran and the transaction the claim opened is rolled back, not left to the pool."""
    claim = scheduler.Claim(config, "not-a-job-id", OWNER)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        claim(conn)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert len(claim.tries) == 1  # it had opened its transaction


def test_claim_landed_is_fenced_on_the_owner(conn, config, make_job):
    job = make_job()
    started(conn, config, job)
    txid = conn.execute("SELECT txid_current() AS txid").fetchone()["txid"]  # committed
    foreign = scheduler.Claim(config, job, "daemon-B")
    foreign.tries.append(int(txid))
    step = foreign(conn)
    assert (step.result, step.reason) == ("stale", "owner")


def test_a_takeover_whose_first_claim_ack_is_lost_still_finishes_at_once(
    conn, relayed, make_job, proxy
):
    """The real runner taking a job over (its first claims are a Claim): the claim's
    acknowledgement is lost, and the job still ends well before its timeout, no attempt
    run twice."""
    from enginev2d.worker import JobRunner

    job = make_job()
    conn.execute("UPDATE engine_v2.job_runs SET owner = 'dead' WHERE job_id = %s", (job,))
    scheduler.materialize(conn, job)
    intent = scheduler.claim(conn, relayed, job, "dead").task
    assert intent is not None
    scheduler.complete(conn, relayed, job, "dead", success(intent))  # plan ready, unclaimed
    conn.execute("UPDATE engine_v2.job_runs SET owner = %s WHERE job_id = %s", (OWNER, job))
    row = conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job,)).fetchone()
    pool = make_pool(relayed, min_size=1, max_size=4, name="relayed")
    try:
        proxy.arm(b"claim_task")
        runner = JobRunner(relayed, pool, row, owner=OWNER, takeover=True, executor=noop_executor())
        result = run_to_end(runner)
    finally:
        pool.close()
    assert result == ["succeeded"] and proxy.lost == 1
    assert attempts(conn, job) == {k: [(1, "succeeded")] for k in attempts(conn, job)}
