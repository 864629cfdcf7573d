"""One watcher for every running job of the process: cancels, lost ownership, timeouts.

While its attempts run, a job must notice an operator's or the server's cancel, its run
taken by another daemon, and ``daemon.job_timeout_s``. The transaction that cancels or
takes over already fences every write of ours; watching only stops what is still
spending (model calls) early, and records the timeout.

One thread for the whole process reads the state of every watched job with one query per
connection pool and tick, on a grid of ``daemon.poll_interval_s`` (jobs that share an
interval are read together), and calls a job's ``on_deadline`` once its deadline passes
(in a thread of its own: recording a timeout may wait on the database).
It replaces a thread and a query per job and interval (issue 17: ~1 ms of daemon CPU per
job, 12 % of ``make bench``'s throughput, at 32 jobs and a 0.2 s interval).

Lifecycle: :meth:`JobWatch.add` returns a handle, :meth:`JobWatch.remove` takes it back
at the job's end and waits while the thread is inside that job's callback. The thread
starts with the first job and ends ``idle_exit_s`` after the last.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from . import logsetup, scheduler

logger = logsetup.context_logger(__name__)


class Watched(Protocol):
    """What the watch needs of a running job (:class:`enginev2d.worker.JobRunner`)."""

    job_id: str

    def on_state(self, state: Mapping[str, Any]) -> None:
        """The job's ``job_runs`` row as read at a tick (not called when it is missing
        or the read failed: the next tick reads again)."""

    def on_deadline(self) -> None:
        """The job's deadline passed (called once; the job is read no more after it)."""


@dataclass(eq=False)
class _Entry:
    job: Watched
    pool: ConnectionPool
    poll_s: float
    deadline: float
    due: float  # the next read, on the grid of poll_s
    busy: threading.Lock = field(default_factory=threading.Lock)  # held inside a callback
    removed: bool = False
    expired: bool = False  # on_deadline called

    def next_event(self) -> float:
        return math.inf if self.expired else min(self.due, self.deadline)


def next_tick(now: float, poll_s: float) -> float:
    """The first grid point of ``poll_s`` after ``now``: jobs sharing an interval are due
    at the same instants, so one query reads all of them."""
    tick = (math.floor(now / poll_s) + 1) * poll_s
    return tick if tick > now else tick + poll_s


class JobWatch:
    def __init__(self, *, idle_exit_s: float = 30.0) -> None:
        self.idle_exit_s = idle_exit_s
        self._cond = threading.Condition()
        self._entries: set[_Entry] = set()
        self._thread: threading.Thread | None = None
        self._sleeps_until = math.inf  # what the thread waits for (under _cond)
        self.reads = 0  # queries made (tests, benchmarks)

    def add(self, job: Watched, pool: ConnectionPool, *, poll_s: float, deadline: float) -> _Entry:
        poll_s = max(0.05, poll_s)
        entry = _Entry(job, pool, poll_s, deadline, next_tick(monotonic(), poll_s))
        with self._cond:
            self._entries.add(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ev2-watch", daemon=True)
                self._thread.start()
            elif entry.next_event() < self._sleeps_until:
                self._cond.notify()  # due before what the thread sleeps for
        return entry

    def remove(self, entry: _Entry, timeout: float = 5.0) -> None:
        """Stop watching; returns once no callback of the job runs (at most ``timeout``)."""
        with self._cond:
            entry.removed = True
            self._entries.discard(entry)
        if entry.busy.acquire(timeout=timeout):
            entry.busy.release()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._entries:
                    self._cond.wait(self.idle_exit_s)  # woken by add() (_sleeps_until inf)
                    if not self._entries:
                        self._thread = None
                        return
                    continue
                now = monotonic()
                wake = min(e.next_event() for e in self._entries)
                if wake > now:
                    self._sleeps_until = min(wake, now + self.idle_exit_s)
                    self._cond.wait(self._sleeps_until - now)
                    self._sleeps_until = math.inf
                    continue
                expired = [e for e in self._entries if not e.expired and e.deadline <= now]
                for e in expired:
                    e.expired = True
                reads: dict[ConnectionPool, list[_Entry]] = {}
                for e in self._entries:
                    if not e.expired and e.due <= now:
                        e.due = next_tick(now, e.poll_s)
                        reads.setdefault(e.pool, []).append(e)
            try:  # the thread must outlive anything a tick meets: it watches every job
                self._tick(expired, reads)
            except Exception:
                logger.exception("job watch tick failed", extra={"action": "watch_failed"})

    def _tick(self, expired: list[_Entry], reads: dict[ConnectionPool, list[_Entry]]) -> None:
        for e in expired:  # recording a timeout may wait on the database: not here
            threading.Thread(
                target=self._call, args=(e, e.job.on_deadline), daemon=True,
                name=f"ev2-timeout-{e.job.job_id[:8]}",
            ).start()  # fmt: skip
        for pool, entries in reads.items():
            self._read(pool, entries)

    def _read(self, pool: ConnectionPool, entries: list[_Entry]) -> None:
        ids = [e.job.job_id for e in entries]
        self.reads += 1
        try:
            with pool.connection(timeout=max(1.0, entries[0].poll_s)) as conn:
                states = scheduler.job_states(conn, ids)
        except (psycopg.Error, PoolTimeout) as exc:  # the next tick reads again
            logger.debug("job watch read failed: %s", exc, extra={"action": "watch_failed"})
            return
        for e in entries:
            state = states.get(e.job.job_id)
            if state is not None:
                self._call(e, lambda e=e, state=state: e.job.on_state(state))

    def _call(self, entry: _Entry, fn: Any) -> None:
        with entry.busy:
            if entry.removed:
                return
            with logsetup.bind(job_id=entry.job.job_id):
                try:
                    fn()
                except Exception:
                    logger.exception("job watch callback failed", extra={"action": "watch_failed"})


WATCH = JobWatch()
