"""The job watch (``enginev2d.watch``): one read per tick for every running job, each
job's deadline once, and no callback after a job stopped being watched."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from time import monotonic
from typing import Any

import pytest
from psycopg_pool import PoolTimeout

from enginev2d.watch import JobWatch, next_tick
from tests.waiting import wait_for

POLL_S = 0.05


class Job:
    def __init__(self, job_id: str, *, block: threading.Event | None = None) -> None:
        self.job_id = job_id
        self.states: list[Mapping[str, Any]] = []
        self.deadlines = 0
        self.block = block
        self.inside = threading.Event()

    def on_state(self, state: Mapping[str, Any]) -> None:
        self.inside.set()
        if self.block is not None:
            self.block.wait(10)
        self.states.append(state)

    def on_deadline(self) -> None:
        self.deadlines += 1


def test_every_job_is_read_with_one_query_per_tick(conn, pool, make_job):
    w = JobWatch(idle_exit_s=1.0)
    jobs = [Job(make_job()) for _ in range(20)]
    conn.execute(
        "UPDATE engine_v2.job_runs SET owner = 'd1', cancel_requested = true WHERE job_id = %s",
        (jobs[3].job_id,),
    )
    handles = [w.add(j, pool, poll_s=POLL_S, deadline=monotonic() + 60) for j in jobs]
    try:
        wait_for(lambda: all(len(j.states) >= 3 for j in jobs), what="three reads of every job")
        reads = w.reads
        assert reads <= min(len(j.states) for j in jobs) + 2  # not 20 per tick
        assert jobs[3].states[-1]["owner"] == "d1" and jobs[3].states[-1]["cancel_requested"]
        assert not jobs[0].states[-1]["owner"] and not jobs[0].states[-1]["cancel_requested"]
    finally:
        for h in handles:
            w.remove(h)
    assert all(j.deadlines == 0 for j in jobs)


def test_a_deadline_is_called_once_and_the_job_is_read_no_more(pool, make_job):
    w = JobWatch(idle_exit_s=1.0)
    job, other = Job(make_job()), Job(make_job())
    h = w.add(job, pool, poll_s=POLL_S, deadline=monotonic() + 0.12)
    h2 = w.add(other, pool, poll_s=POLL_S, deadline=monotonic() + 60)
    try:
        wait_for(lambda: job.deadlines == 1, what="the deadline")
        reads_at_deadline = len(job.states)
        wait_for(lambda: len(other.states) >= reads_at_deadline + 3, what="later ticks")
        assert job.deadlines == 1 and len(job.states) == reads_at_deadline
    finally:
        w.remove(h)
        w.remove(h2)


class _SlowDeadline(Job):
    def __init__(self, job_id: str, release: threading.Event) -> None:
        super().__init__(job_id)
        self.release = release

    def on_deadline(self) -> None:
        self.inside.set()
        self.release.wait(10)  # e.g. recording the timeout while the database is slow
        super().on_deadline()


def test_a_slow_timeout_does_not_hold_up_the_other_jobs(pool, make_job):
    w = JobWatch(idle_exit_s=1.0)
    release = threading.Event()
    slow, other = _SlowDeadline(make_job(), release), Job(make_job())
    h = w.add(slow, pool, poll_s=POLL_S, deadline=monotonic() + 0.05)
    h2 = w.add(other, pool, poll_s=POLL_S, deadline=monotonic() + 60)
    try:
        assert slow.inside.wait(10)
        seen = len(other.states)
        wait_for(lambda: len(other.states) >= seen + 3, what="reads while a timeout is recorded")
        assert slow.deadlines == 0
    finally:
        release.set()
        w.remove(h)  # waits for the deadline callback to end
        w.remove(h2)
    assert slow.deadlines == 1


def test_a_deadline_already_past_is_called_at_once(pool, make_job):
    w = JobWatch(idle_exit_s=1.0)
    job = Job(make_job())
    h = w.add(job, pool, poll_s=30.0, deadline=monotonic() - 1)
    try:
        wait_for(lambda: job.deadlines == 1, timeout=2.0, what="the past deadline")
    finally:
        w.remove(h)


def test_remove_waits_for_a_callback_inside_the_job_and_none_follows(pool, make_job):
    w = JobWatch(idle_exit_s=1.0)
    release = threading.Event()
    job = Job(make_job(), block=release)
    h = w.add(job, pool, poll_s=POLL_S, deadline=monotonic() + 60)
    assert job.inside.wait(10)
    removed = threading.Event()
    remover = threading.Thread(target=lambda: (w.remove(h), removed.set()))
    remover.start()
    assert not removed.wait(0.2)  # the callback still runs: remove waits for it
    release.set()
    assert removed.wait(10)
    remover.join(10)
    seen = len(job.states)
    assert seen == 1
    job.inside.clear()
    assert not job.inside.wait(4 * POLL_S)  # no callback after remove
    assert len(job.states) == seen


class _Unreachable:
    """A pool whose database is down (PoolTimeout), until ``up``."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.up = False
        self.tries = 0

    def connection(self, timeout: float) -> Any:
        self.tries += 1
        if not self.up:
            raise self.error
        return self.real.connection(timeout=timeout)

    error: BaseException = PoolTimeout("down")


@pytest.mark.parametrize("error", [PoolTimeout("down"), RuntimeError("a bug")])
def test_a_failed_read_calls_nothing_and_the_next_tick_reads_again(pool, make_job, error):
    w = JobWatch(idle_exit_s=1.0)
    job = Job(make_job())
    down = _Unreachable(pool)
    down.error = error  # an unexpected error must not end the thread that watches every job
    h = w.add(job, down, poll_s=POLL_S, deadline=monotonic() + 60)  # type: ignore[arg-type]
    try:
        wait_for(lambda: down.tries >= 3, what="reads while the database is down")
        assert job.states == []
        down.up = True
        wait_for(lambda: job.states, what="a read once it is back")
    finally:
        w.remove(h)


def test_the_thread_ends_when_nothing_is_watched(pool, make_job):
    w = JobWatch(idle_exit_s=0.1)
    h = w.add(Job(make_job()), pool, poll_s=POLL_S, deadline=monotonic() + 60)
    thread = w._thread
    assert thread is not None and thread.is_alive()
    w.remove(h)
    thread.join(5)
    assert not thread.is_alive() and w._thread is None
    h = w.add(Job(make_job()), pool, poll_s=POLL_S, deadline=monotonic() + 60)  # restarts
    assert w._thread is not None and w._thread.is_alive()
    w.remove(h)


def test_ticks_are_on_one_grid_so_jobs_sharing_an_interval_are_read_together():
    for now in (0.0, 0.049, 0.05, 12.3456, 1e6 + 0.01):
        t = next_tick(now, POLL_S)
        assert now < t <= now + POLL_S + 1e-9
        assert abs(t / POLL_S - round(t / POLL_S)) < 1e-6
    assert next_tick(0.01, POLL_S) == next_tick(0.04, POLL_S)
