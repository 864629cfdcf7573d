"""Group completion (issue 17): batches of known composition written by the completer
on real PostgreSQL, and the completer under the real job runner."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import psycopg
import pytest

from enginev2d import fallback, metrics, scheduler
from enginev2d.completer import Completer, Item
from enginev2d.completion import Completion
from enginev2d.workflow import DEFAULT_WORKFLOW
from tests.integration.test_scheduler_support import (
    GOOD_OUTPUTS,
    TERMINAL,
    artifacts_for,
    events,
    noop_executor,
    statuses,
    tasks,
)
from tests.waiting import drain_notifies, wait_for

OWNER = "daemon-A"


@pytest.fixture
def completer(config, pool):
    c = Completer(config, pool, slots=1).start()
    yield c
    c.stop()


@pytest.fixture
def listener(db_url):
    c = psycopg.connect(db_url, autocommit=True)
    c.execute("LISTEN engine_v2_events")
    yield c
    c.close()


def own(conn, job: str) -> str:
    conn.execute("UPDATE engine_v2.job_runs SET owner = %s WHERE job_id = %s", (OWNER, job))
    return job


def started(conn, config, job: str) -> scheduler.ClaimedTask:
    step = scheduler.start(conn, config, own(conn, job), OWNER)
    assert step.task is not None and step.task.task_key == "intent"
    return step.task


def success(task: scheduler.ClaimedTask, *, attempt: int | None = None, **kw: Any) -> Completion:
    out = GOOD_OUTPUTS[task.task_key]
    kw.setdefault("artifacts", artifacts_for(out))
    return Completion.succeeded(
        task.id, task.attempt if attempt is None else attempt, out, usage={"latency_ms": 1},
        skip=DEFAULT_WORKFLOW.skips_after(task.task_key, out), **kw,
    )  # fmt: skip


def item(job: str, c: Completion, *, owner: str = OWNER) -> Item:
    return Item.completion(job, owner, c, claim=True, more=2)


def until(conn, config, job: str, key: str) -> scheduler.ClaimedTask:
    """Run the job single-threaded until ``key`` is claimed; return that claim."""
    step = scheduler.start(conn, config, own(conn, job), OWNER)
    queue = [t for t in (step.task, *step.more) if t is not None]
    while queue:
        task = queue.pop(0)
        if task.task_key == key:
            return task
        step = scheduler.complete(conn, config, job, OWNER, success(task), claim_next=True)
        queue += [t for t in (step.task, *step.more) if t is not None]
    raise AssertionError(f"{key} never claimed: {statuses(conn, job)}")


def notifications(listener, db_url: str) -> list[dict[str, Any]]:
    """Everything committed so far on engine_v2_events (a sentinel ends the wait)."""
    return [json.loads(n.payload) for n in drain_notifies(listener, db_url, "engine_v2_events")]


def gapless(conn, job: str) -> list[str]:
    ev = events(conn, job)
    assert [e["seq"] for e in ev] == list(range(1, len(ev) + 1))
    return [e["event_type"] for e in ev]


def test_a_batch_records_a_cost_without_tokens_so_that_it_is_never_charged_again(
    conn, config, make_job, completer
):
    """Money once, on the batch's set-based path too: a completion whose usage has a
    cost but no tokens still marks its attempt as recorded, so the charge of a refused
    repeat (its first try committed unacknowledged) adds nothing."""
    jobs = [make_job(), make_job()]
    firsts = [started(conn, config, j) for j in jobs]
    usage = {"latency_ms": 3, "cost_usd": 0.25}
    items = [
        item(j, Completion.succeeded(t.id, t.attempt, GOOD_OUTPUTS["intent"], usage=usage))
        for j, t in zip(jobs, firsts, strict=True)
    ]
    completer.write_batch(items)
    assert [i.step.result for i in items] == ["ok", "ok"]
    for t in firsts:
        assert not scheduler.charge(conn, t.id, t.attempt, usage)
    costs = conn.execute(
        "SELECT cost_usd FROM engine_v2.job_task_attempts WHERE task_id = ANY(%s::uuid[])",
        ([t.id for t in firsts],),
    ).fetchall()
    assert sorted(float(r["cost_usd"]) for r in costs) == [0.25, 0.25]


def test_a_fenced_middle_item_is_refused_and_the_others_commit(
    conn, config, make_job, completer, listener, db_url
):
    a, b, c = (make_job() for _ in range(3))
    ta, tb, tc = (started(conn, config, j) for j in (a, b, c))
    notifications(listener, db_url)  # what the starts sent
    items = [
        item(a, success(ta)),
        item(b, success(tb, attempt=tb.attempt + 1)),
        item(c, success(tc)),
    ]
    completer.write_batch(items)
    steps = [i.step for i in items]
    assert [s.result for s in steps] == ["ok", "stale", "ok"]
    assert steps[1].reason == "attempt"
    assert steps[0].task.task_key == steps[2].task.task_key == "plan"  # claimed in the batch
    assert statuses(conn, a)["intent"] == statuses(conn, c)["intent"] == "succeeded"
    assert statuses(conn, b)["intent"] == "running"  # still its attempt's, untouched
    assert tasks(conn, b)["intent"]["attempt_count"] == 1
    assert gapless(conn, b)[-1] == "taskStarted"
    for job in (a, c):
        assert gapless(conn, job)[-2:] == ["taskDone", "taskStarted"]
    # One commit, one notification, naming exactly the jobs it wrote, with their last seq.
    [note] = notifications(listener, db_url)
    assert note == {"jobs": {a: len(events(conn, a)), c: len(events(conn, c))}}


def test_a_set_based_path_that_raises_falls_back_to_one_by_one_and_says_so(
    conn, config, make_job, completer, caplog
):
    """A bug in the set-based path (simulated: the function raises) costs speed, not
    correctness: the same batch is recorded item by item, and the completer logs it."""
    conn.execute(
        """CREATE OR REPLACE FUNCTION engine_v2._batch_successes(p_items jsonb, p_fast int[])
           RETURNS jsonb LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'set-based bug'; END $$"""
    )
    a, b = make_job(), make_job()
    ta, tb = started(conn, config, a), started(conn, config, b)
    items = [item(a, success(ta)), item(b, success(tb))]
    completer.write_batch(items)
    assert [i.step.result for i in items] == ["ok", "ok"]
    assert [i.step.task.task_key for i in items] == ["plan", "plan"]
    for job in (a, b):
        assert statuses(conn, job)["intent"] == "succeeded"
        assert gapless(conn, job)[-2:] == ["taskDone", "taskStarted"]
    [warning] = [r for r in caplog.records if getattr(r, "action", "") == "batch_set_based_failed"]
    assert "set-based bug" in warning.getMessage()


def test_an_item_of_another_owner_is_refused_alone(conn, config, make_job, completer):
    a, b = make_job(), make_job()
    ta, tb = started(conn, config, a), started(conn, config, b)
    items = [item(a, success(ta)), item(b, success(tb), owner="daemon-B")]
    completer.write_batch(items)
    assert (items[0].step.result, items[1].step.result) == ("ok", "stale")
    assert items[1].step.reason == "owner"
    assert statuses(conn, b)["intent"] == "running"


def test_an_item_that_raises_gets_its_own_transaction_and_the_rest_commit(
    conn, config, make_job, completer, caplog
):
    a, b, c = (make_job() for _ in range(3))
    ta, tb, tc = (started(conn, config, j) for j in (a, b, c))
    broken = success(tb, artifacts=[{"id": "not-a-uuid", "kind": "code", "content": {}}])
    items = [item(a, success(ta)), item(b, broken), item(c, success(tc))]
    m = metrics.reset()
    completer.write_batch(items)
    assert items[0].step.result == items[2].step.result == "ok"
    assert isinstance(items[1].error, psycopg.errors.InvalidTextRepresentation)
    # the other two went set-based when written again without it; it committed nothing
    assert _items_by_path(m) == (2, 0)
    # the bad item explains why the set-based path raised: no warning of a bug in it
    assert not [r for r in caplog.records if getattr(r, "action", "") == "batch_set_based_failed"]
    assert statuses(conn, a)["intent"] == statuses(conn, c)["intent"] == "succeeded"
    assert statuses(conn, b)["intent"] == "running"  # nothing of it was written
    # Its worker may report the attempt again (e.g. as failed): the fence still holds.
    again = Item.completion(
        b, OWNER, Completion.failed(tb.id, tb.attempt, {"code": "v2_task_failed"}),
        claim=False, more=0,
    )  # fmt: skip
    completer.write_batch([again])
    assert again.step.result == "ok" and statuses(conn, b)["intent"] == "failed"
    assert _items_by_path(m) == (2, 1)


def test_one_jobs_last_task_and_another_jobs_first_share_one_commit(
    conn, config, make_job, completer, listener, db_url
):
    done = make_job(options={"mode": "live"})
    last = until(conn, config, done, "publish_prep")
    fresh = own(conn, make_job())
    notifications(listener, db_url)
    items = [
        item(done, success(last)),
        Item.start(fresh, OWNER, DEFAULT_WORKFLOW, more=2),
    ]
    completer.write_batch(items)
    end, first = items[0].step, items[1].step
    assert end.ended == "succeeded" and end.job_status == "succeeded"  # finalized in it
    assert first.task is not None and first.task.task_key == "intent"
    assert gapless(conn, done)[-1] == "jobCompleted"
    assert events(conn, done)[-1]["data"]["final"] is True
    status = conn.execute("SELECT status FROM public.jobs WHERE id = %s", (done,)).fetchone()
    assert status["status"] == "completed"  # design 9, in the same transaction
    assert gapless(conn, fresh)[-1] == "taskStarted"
    [note] = notifications(listener, db_url)  # one commit wrote both
    assert note == {"jobs": {done: len(events(conn, done)), fresh: len(events(conn, fresh))}}


def test_two_items_of_one_job_in_one_batch_see_each_other(conn, config, make_job, completer):
    """codegen and asset finishing together: recorded in item order like two calls in a
    row (codegen's item claims qa_review), the job's events gapless; both set-based, the
    second in a second round."""
    job = make_job()
    codegen = until(conn, config, job, "codegen")
    asset = next(t for t in tasks(conn, job).values() if t["task_key"] == "asset")
    if asset["status"] != "running":
        step = scheduler.claim(conn, config, job, OWNER)
        assert step.task is not None and step.task.task_key == "asset"
        asset_task = step.task
    else:
        asset_task = scheduler.ClaimedTask(asset["id"], "asset", asset["attempt_count"])
    items = [item(job, success(codegen)), item(job, success(asset_task))]
    m = metrics.reset()
    completer.write_batch(items)
    assert [i.step.result for i in items] == ["ok", "ok"]
    assert _items_by_path(m) == (2, 0)
    claimed = [t.task_key for i in items for t in (i.step.task, *i.step.more) if t]
    assert claimed == ["qa_review"]  # claimed once, by the first item that could
    gapless(conn, job)
    tail = [(e["event_type"], e["data"].get("task_key")) for e in events(conn, job)[-3:]]
    assert tail == [("taskDone", "codegen"), ("taskStarted", "qa_review"), ("taskDone", "asset")]
    assert items[1].step.running == 1 and items[1].step.ready == 0  # asset saw qa_review run


def test_many_jobs_through_the_runner_share_commits(config, pool, make_job, conn):
    """The real runner, many jobs at once through one completer lane: every job
    succeeds, every task reaches one terminal state, commits carry several hand-offs."""
    from enginev2d.worker import JobRunner

    completer = Completer(config, pool, slots=1).start()
    jobs = [make_job() for _ in range(12)]
    rows = [
        conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (j,)).fetchone()
        for j in jobs
    ]
    outcomes: dict[str, str] = {}

    def run(row):
        r = JobRunner(config, pool, row, owner=None, executor=noop_executor(), completer=completer)
        outcomes[str(row["job_id"])] = r.run().status

    threads = [threading.Thread(target=run, args=(r,)) for r in rows]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: len(outcomes) == len(jobs), 60, "every job ran")
    finally:
        for t in threads:
            t.join(10)
        completer.stop()
    assert set(outcomes.values()) == {"succeeded"}
    for job in jobs:
        assert set(statuses(conn, job).values()) <= TERMINAL
        assert gapless(conn, job)[-1] == "jobCompleted"
    per_commit = conn.execute(
        "SELECT count(*) AS n FROM engine_v2.job_task_attempts a"
        " JOIN engine_v2.job_tasks t ON t.id = a.task_id WHERE t.job_id = ANY(%s::uuid[])"
        " GROUP BY a.xmin::text ORDER BY n DESC LIMIT 1",
        (jobs,),
    ).fetchone()
    assert per_commit["n"] > 1  # 12 jobs at once: some commit carried several hand-offs


# ---------------------------------------------------------------- a batch = one by one

QA_CLEAN = {"issues": 0, "findings": []}


def _norm_step(step: scheduler.Step) -> dict[str, Any]:
    claims = [(t.task_key, t.attempt) for t in (step.task, *step.more) if t is not None]
    return {
        "result": step.result, "reason": step.reason, "claims": claims, "ready": step.ready,
        "running": step.running, "active": step.active, "job_status": step.job_status,
        "progress": step.progress, "finalize": step.finalize, "intent": step.intent,
        "ended": step.ended, "skipped": step.skipped, "completed": step.extra.get("completed"),
    }  # fmt: skip


def _norm_job(conn, job: str) -> dict[str, Any]:
    keys = {t["id"]: k for k, t in tasks(conn, job).items()}
    ev = [
        (e["seq"], e["event_type"], keys.get(e["task_id"]),
         {k: v for k, v in e["data"].items() if k not in ("latency_ms", "job_id")})
        for e in events(conn, job)
    ]  # fmt: skip
    rows = {
        k: (t["status"], t["attempt_count"], t["skip_reason"]) for k, t in tasks(conn, job).items()
    }
    run = conn.execute(
        "SELECT status, event_seq, progress, error_code FROM engine_v2.job_runs WHERE job_id = %s",
        (job,),
    ).fetchone()
    return {"events": ev, "tasks": rows, "run": dict(run)}


def _drive(conn, config, job: str, plan: dict[str, Any], steps: int, more: int) -> None:
    """Start the job and complete ``steps`` attempts one by one (first running first)."""
    scheduler.start(conn, config, own(conn, job), OWNER, more=more)
    for _ in range(steps):
        running = [t for t in tasks(conn, job).values() if t["status"] == "running"]
        if not running:
            return
        t = running[0]
        task = scheduler.ClaimedTask(str(t["id"]), t["task_key"], t["attempt_count"])
        scheduler.complete(
            conn, config, job, OWNER, _success_of(task, plan), claim_next=True, more=more
        )


def _success_of(task: scheduler.ClaimedTask, plan: dict[str, Any], attempt: int | None = None):
    out = plan.get(task.task_key, GOOD_OUTPUTS[task.task_key])
    partial = {"files": out["files"], "ref": None} if "files" in out else None
    return Completion.succeeded(
        task.id, task.attempt if attempt is None else attempt, out, usage={"latency_ms": 3},
        artifacts=artifacts_for(out), skip=DEFAULT_WORKFLOW.skips_after(task.task_key, out),
        partial=partial,
    )  # fmt: skip


def _live(conn, jobs: list[str]) -> dict[str, bool]:
    """Running and not draining, by job: what the set-based path may take."""
    rows = conn.execute(
        "SELECT job_id::text AS job_id, status = 'running' AND NOT draining AS live"
        " FROM engine_v2.job_runs WHERE job_id = ANY (%s::uuid[])",
        (jobs,),
    ).fetchall()
    return {r["job_id"]: r["live"] for r in rows}


def _set_based_expected(
    items: list[tuple[str, Completion, bool, int]], live: dict[str, bool], steps
) -> int:
    """How many of ``items`` the set-based path takes (45_batch.sql, _batch_steps): a
    success without skip marks of a job running and not draining (``live``, read before
    the batch), the job's first item or the next after one taken so that left the job
    running with work left (``steps``: the batch's, where the completer has replaced a
    step that finalized with the job's end). A lone item is written by its own call
    (completer.py), never set-based."""
    if len(items) < 2:
        return 0
    last: dict[str, int] = {}  # job -> its previous item's index
    taken: set[int] = set()
    for i, (job, c, _claim, _more) in enumerate(items):
        prev = last.get(job)
        last[job] = i
        if c.outcome != "succeeded" or c.skip:
            continue
        first_or_follows = prev is None or (prev in taken and steps[prev].job_status == "running")
        if first_or_follows and live[job]:
            taken.add(i)
    return len(taken)


def _items_by_path(m: metrics.Metrics) -> tuple[float | None, float | None]:
    return tuple(  # type: ignore[return-value]
        m.registry.get_sample_value("enginev2_completer_items_total", {"path": p})
        for p in metrics.COMPLETER_PATHS
    )


def _running(conn, config, job: str, want: int) -> list[dict[str, Any]]:
    """``want`` running tasks of ``job`` to hand items for: the running ones, then
    ready ones claimed, then a running one again (its item stale: ``again``)."""
    running = [t for t in tasks(conn, job).values() if t["status"] == "running"]
    while len(running) < want:
        step = scheduler.claim(conn, config, job, OWNER)
        if step.task is None:
            break
        running = [t for t in tasks(conn, job).values() if t["status"] == "running"]
    return (running + [{**t, "again": True} for t in running])[:want]


def _interleave(items: list[Any], rnd: Any) -> list[Any]:
    """``items`` (job first) in a random order that keeps each job's items in theirs."""
    queues: dict[str, list[Any]] = {}
    for it in items:
        queues.setdefault(it[0], []).append(it)
    out = []
    while queues:
        job = rnd.choice(list(queues))  # in first-appearance order: the same for twins
        out.append(queues[job].pop(0))
        if not queues[job]:
            del queues[job]
    return out


@pytest.mark.parametrize("seed", range(40))
def test_a_batch_records_exactly_what_one_call_per_item_records(
    conn, config, pool, make_job, seed, caplog
):
    """Twins: the same jobs driven to the same points (random plans, skips, chat, up to
    three items of one job, stale attempts, failures, claims on and off, interleaved),
    then the same hand-offs recorded one call each and as one batch: same steps, same
    rows, same events (seq, type, data, progress)."""
    import random

    rnd = random.Random(seed)
    n_jobs = rnd.randint(2, 5)
    specs = []
    for _ in range(n_jobs):
        plan = {}
        if rnd.random() < 0.3:
            plan["qa_review"] = QA_CLEAN  # fix gets skipped
        if rnd.random() < 0.15:
            plan["intent"] = {"intent": "chat", "reply": "hi"}
        # per item of the job (up to three): claims?, stale attempt?, more, failed?
        each = [
            (rnd.random() < 0.8, rnd.random() < 0.1, rnd.choice([0, 1, 2]), rnd.random() < 0.1)
            for _ in range(3)
        ]
        n_items = 1 + (rnd.random() < 0.5) + (rnd.random() < 0.25)
        specs.append((plan, rnd.randint(0, 6), rnd.choice([0, 1, 2]), each[:n_items]))
    mix = rnd.random()  # how the jobs' items interleave, each job's in its order
    results = {}
    for twin in ("one", "batch"):
        jobs = [make_job(options={"mode": "live"}) for _ in specs]
        items: list[tuple[str, Completion, bool, int]] = []
        for job, (plan, steps, more, each) in zip(jobs, specs, strict=True):
            _drive(conn, config, job, plan, steps, more)
            running = _running(conn, config, job, len(each))
            for t, (claim, stale, more_i, fails) in zip(running, each, strict=False):
                task = scheduler.ClaimedTask(str(t["id"]), t["task_key"], t["attempt_count"])
                attempt = task.attempt + 1 if stale or t.get("again") else task.attempt
                c = (
                    Completion.failed(task.id, attempt, {"code": "v2_task_failed"})
                    if fails
                    else _success_of(task, plan, attempt=attempt)
                )
                items.append((job, c, claim, more_i))
        items = _interleave(items, random.Random(mix))
        if twin == "one":
            steps_ = [
                scheduler.complete(conn, config, j, OWNER, c, claim_next=cl, more=m)
                for j, c, cl, m in items
            ]
        else:
            live = _live(conn, jobs)
            batch = [Item.completion(j, OWNER, c, claim=cl, more=m) for j, c, cl, m in items]
            c = Completer(config, pool, slots=1).start()
            m = metrics.reset()
            try:
                c.write_batch(batch)
            finally:
                c.stop()
            assert all(i.error is None for i in batch), [i.error for i in batch]
            steps_ = [i.step for i in batch]
            expected = _set_based_expected(items, live, steps_)
            # the fast path took exactly the items it may take (none taken would pass the
            # comparison below too: the per-item path gives the same rows)
            assert _items_by_path(m) == (expected, len(batch) - expected)
        results[twin] = (
            [_norm_step(s) for s in steps_],
            [_norm_job(conn, j) for j in jobs],
        )
    assert results["batch"][0] == results["one"][0]
    assert results["batch"][1] == results["one"][1]
    # the set-based path recorded its items itself (no fallback to one by one)
    assert not [r for r in caplog.records if getattr(r, "action", "") == "batch_set_based_failed"]


class _Held:
    """A daemon's runner that holds its job until released (the daemon's own threads)."""

    release = threading.Event()

    made: ClassVar[list[_Held]] = []

    def __init__(self, cfg, pool, job_row, *, owner, takeover) -> None:
        self.job_id = str(job_row["job_id"])
        self.stopped = threading.Event()
        self.made.append(self)

    def run(self) -> Any:
        self.release.wait(30)
        return None

    def request_stop(self) -> None:
        self.stopped.set()

    def abort(self, reason: BaseException) -> None: ...


def held_daemon(config, pool, factory: type[_Held], *, start_workflow=None) -> Iterator[Any]:
    """(a fixture's body) A daemon (not running its loop) of ``factory``'s runners, whose
    intake the completer claims through (and starts what it claims, given the
    workflow), and a completer wired to it as ``enginev2d run`` wires them."""
    from enginev2d.daemon import Daemon

    _Held.release = threading.Event()
    d = Daemon(config.replace(daemon={"max_concurrent_jobs": 2}), pool=pool,
               runner_factory=factory)  # fmt: skip
    d.intake.claiming = True
    d.start_workflow = start_workflow
    c = Completer(d.cfg, pool, slots=1, claimer=d.intake).start()
    yield d, c
    c.stop()
    _Held.release.set()
    for rj in list(d._jobs.values()):
        rj.thread.join(10)


@pytest.fixture
def claiming_daemon(config, pool):
    yield from held_daemon(config, pool, _Held)


def _ending_batch(conn, config, d, make_job) -> tuple[list[str], list[Item]]:
    """Two jobs of ``d`` at their last task (its runners hold them: both slots taken)."""
    ended = [make_job(options={"mode": "live"}) for _ in range(2)]
    last = [until(conn, config, j, "publish_prep") for j in ended]
    conn.execute("UPDATE engine_v2.job_runs SET owner = %s WHERE job_id = ANY(%s::uuid[])",
                 (d.daemon_id, ended))  # fmt: skip
    for j in ended:
        d.start_job({"job_id": j}, takeover=False)
    return ended, [Item.completion(j, d.daemon_id, success(t), claim=True, more=2)
                   for j, t in zip(ended, last, strict=True)]  # fmt: skip


def test_a_batch_that_ends_jobs_claims_queued_ones_for_their_slots_in_its_commit(
    conn, config, make_job, claiming_daemon
):
    d, completer = claiming_daemon
    ended, items = _ending_batch(conn, config, d, make_job)
    queued = [make_job() for _ in range(3)]
    assert d.intake.claiming and sorted(d.running_job_ids()) == sorted(ended)  # full
    m = metrics.reset()
    completer.write_batch(items)
    assert [i.step.ended for i in items] == ["succeeded", "succeeded"]
    runs = {r["job_id"]: r for r in conn.execute(
        "SELECT job_id::text, owner, claimed_at, finished_at FROM engine_v2.job_runs"
        " WHERE job_id = ANY(%s::uuid[])", (ended + queued,))}  # fmt: skip
    taken = [j for j in queued if runs[j]["owner"] == d.daemon_id]
    assert taken == queued[:2]  # the oldest, one per slot the batch freed
    assert runs[queued[2]]["owner"] is None
    # one transaction: its now() is both the ended jobs' end and the new jobs' claim
    assert {runs[j]["claimed_at"] for j in taken} == {runs[j]["finished_at"] for j in ended}
    assert set(taken) <= set(d.running_job_ids())  # started before the ended ones' workers
    assert m.registry.get_sample_value("enginev2_jobs_claimed_total", {"via": "capacity"}) == 2
    assert d.intake.polls == 0


@pytest.mark.parametrize("off", ["switch", "stop"])
def test_a_batch_claims_nothing_while_claiming_is_off_or_the_daemon_stops(
    conn, config, make_job, claiming_daemon, off
):
    d, completer = claiming_daemon
    _, items = _ending_batch(conn, config, d, make_job)
    queued = make_job()
    if off == "switch":
        d.intake.claiming = False
    else:
        d.stop_event.set()
    completer.write_batch(items)
    assert [i.step.ended for i in items] == ["succeeded", "succeeded"]
    owner = conn.execute(
        "SELECT owner FROM engine_v2.job_runs WHERE job_id = %s", (queued,)
    ).fetchone()["owner"]
    assert owner is None and queued not in d.running_job_ids()


def test_a_batch_never_claims_beyond_max_concurrent_jobs(conn, config, make_job, claiming_daemon):
    d, completer = claiming_daemon
    _, items = _ending_batch(conn, config, d, make_job)
    d.cfg = d.cfg.replace(daemon={"max_concurrent_jobs": 1})  # an operator lowered it
    queued = [make_job() for _ in range(2)]
    completer.write_batch(items)
    owners = [r["owner"] for r in conn.execute(
        "SELECT owner FROM engine_v2.job_runs WHERE job_id = ANY(%s::uuid[]) ORDER BY created_at",
        (queued,))]  # fmt: skip
    assert owners == [d.daemon_id, None]  # once the two ended ones exit: 1 running


def test_a_job_a_batch_starts_as_the_daemon_stops_is_asked_to_stop(
    conn, config, make_job, claiming_daemon
):
    """The completer's thread may start a claimed job after shutdown listed the running
    ones: start_job asks it to stop itself (it claims nothing; its lease is released)."""
    d, _ = claiming_daemon
    _Held.made = []
    d.start_job({"job_id": make_job()}, takeover=False)
    d.stop_event.set()
    d.start_job({"job_id": make_job()}, takeover=False)
    assert [h.stopped.is_set() for h in _Held.made] == [False, True]


# --------------------------------------------------------------------------- ending jobs


def _at_last_task(conn, config, make_job, mode: str = "live") -> tuple[str, Item]:
    """A job at its last task, and the batch item that completes it."""
    job = make_job(options={"mode": mode})
    return job, item(job, success(until(conn, config, job, "publish_prep")))


def _chat_at_its_end(conn, config, make_job) -> tuple[str, Item]:
    """A chat message at its intent task, whose success skips every other task."""
    job = make_job("hello!", options={"mode": "live"})
    intent = until(conn, config, job, "intent")
    out = {"intent": "chat", "reply": "hi there", "language": "en"}
    done = Completion.succeeded(
        intent.id, intent.attempt, out, usage={"latency_ms": 1},
        skip=DEFAULT_WORKFLOW.skips_after("intent", out),
    )  # fmt: skip
    return job, item(job, done)


def _result_reads(monkeypatch, fail_with: str | None = None) -> list[list[str]]:
    """Every read of job results (the job ids of each); a read that includes
    ``fail_with`` fails in PostgreSQL, as a broken artifact would."""
    calls: list[list[str]] = []
    real = fallback.job_result_rows

    def spy(conn, job_ids):
        calls.append(list(job_ids))
        if fail_with in job_ids:
            conn.execute("SELECT 1 / 0")
        return real(conn, job_ids)

    monkeypatch.setattr(fallback, "job_result_rows", spy)
    return calls


def _runs(conn, jobs: list[str]) -> dict[str, dict[str, Any]]:
    return {r["job_id"]: r for r in conn.execute(
        "SELECT r.job_id::text, r.status, r.error_code, r.result, r.finished_at,"
        "       p.status AS public_status"
        "  FROM engine_v2.job_runs r JOIN public.jobs p ON p.id = r.job_id"
        " WHERE r.job_id = ANY(%s::uuid[])", (jobs,))}  # fmt: skip


def test_a_batch_that_ends_several_jobs_reads_their_results_once_and_gives_each_its_own_end(
    conn, config, make_job, completer, monkeypatch
):
    live, a = _at_last_task(conn, config, make_job)
    broken, b = _at_last_task(conn, config, make_job)
    conn.execute(  # its files gone: its result fails design 14's validation
        "DELETE FROM engine_v2.job_task_artifacts WHERE job_id = %s AND kind = 'code'", (broken,)
    )
    chat, c = _chat_at_its_end(conn, config, make_job)
    shadow, d = _at_last_task(conn, config, make_job, mode="shadow")
    reads = _result_reads(monkeypatch)
    completer.write_batch([a, b, c, d])
    assert [i.step.ended for i in (a, b, c, d)] == ["succeeded", "failed", "succeeded", "succeeded"]
    assert reads == [[live, broken, shadow]]  # one read for every non-chat job
    runs = _runs(conn, [live, broken, chat, shadow])
    assert runs[live]["result"]["type"] == "completed" and runs[live]["result"]["files"]
    assert runs[broken]["error_code"] == "v2_output_invalid"
    assert runs[chat]["result"] == {"type": "chat", "intent": "chat", "reply": "hi there"}
    assert runs[shadow]["result"]["type"] == "completed"
    # design 9: only the live job that succeeded completes the host's row
    assert {j: r["public_status"] for j, r in runs.items()} == {
        live: "completed",
        broken: "pending",
        chat: "pending",
        shadow: "pending",
    }
    assert len({r["finished_at"] for r in runs.values()}) == 1  # one transaction
    assert gapless(conn, live)[-1] == "jobCompleted" and "fallback" in gapless(conn, broken)


def test_a_failed_result_read_reads_each_job_alone_and_fails_only_the_one_it_fails_on(
    conn, config, make_job, completer, monkeypatch
):
    good, a = _at_last_task(conn, config, make_job)
    bad, b = _at_last_task(conn, config, make_job)
    reads = _result_reads(monkeypatch, fail_with=bad)
    completer.write_batch([a, b])
    assert reads == [[good, bad], [good], [bad]]
    assert (a.step.ended, b.step.ended) == ("succeeded", "failed")
    runs = _runs(conn, [good, bad])
    assert runs[good]["status"] == "succeeded" and runs[good]["public_status"] == "completed"
    assert runs[bad]["status"] == "failed" and runs[bad]["error_code"] == "v2_task_failed"
    assert runs[bad]["public_status"] == "pending"  # v1 takes it
