"""Group completion (issue 17): one completer per daemon commits the hand-offs of all
its jobs together.

A worker thread that finished an attempt (or a runner starting its job) hands an
:class:`Item` to :meth:`Completer.submit` and waits for its :class:`~enginev2d.scheduler.Step`.
The completer has no thread of its own (leader/follower, like PostgreSQL's WAL group
commit) and ``daemon.completer_slots`` commit slots, each with one connection. A hand-off
that finds a slot free is written at once by its own thread, with the per-item call of
before (a lone job waits for nobody). Hand-offs that arrive while every slot writes wait
in one queue; the first slot to finish takes them all (at most ``daemon.batch_max``) as
one batch, written by the first waiting item's thread with one call of
``engine_v2.complete_batch`` (``sql/functions/45_batch.sql``: each item recorded exactly
as its own call would be, same fences, events, promotion and claims), every job it
completed finished in the same transaction: one commit, one round trip, one NOTIFY for
the lot. There is no timer; a worker waits for its step before it runs anything else,
which is the backpressure.

One item never fails the others: when an item raises inside the batch, the function
reports which one and rolls the items back (one subtransaction); the rest are written
again without it, and it gets its own transaction through the per-item path, whose
error reaches its worker as before. Anything else failing the batch's transaction (a
finalize that raised) sends every item down the per-item path. A broken connection is
replaced and the batch retried (every item is fenced, so a repeat is harmless); when the
first try had committed with its acknowledgement lost, the repeat finds its items
recorded, and their steps, claims included, are recovered (``scheduler.landed``). A crash
of the whole process mid-batch commits nothing: the attempts stay running and the
takeover re-runs them uncharged (30_takeover.sql).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from . import metrics, scheduler
from .completion import Completion, jsonb_params
from .config import Config
from .db import Repeats, column, give_back, retry_broken
from .sql import load_queries
from .workflow import Workflow

logger = logging.getLogger(__name__)

Q = load_queries("scheduler")

T = TypeVar("T")


@dataclass
class Item:
    """One hand-off: the SQL function's arguments by name (plain values), written as one
    entry of a batch or, alone, as the named query's parameters."""

    job_id: str
    owner: str | None
    kind: str  # succeeded | failed | canceled | start (complete_batch's item kinds)
    args: dict[str, Any]
    may_finish: bool = False  # could end its job: the batch is then one transaction
    wake: threading.Event = field(default_factory=threading.Event)
    handed: tuple[_Slot, list[Item]] | None = None  # a batch this item's thread leads
    # (set under the completer's lock before ``wake``: it is read once after the wake)
    step: scheduler.Step | None = None
    error: BaseException | None = None

    @classmethod
    def completion(
        cls,
        job_id: str,
        owner: str | None,
        c: Completion,
        *,
        claim: bool,
        more: int,
        may_finish: bool = True,  # unknown: the safe guess, one transaction
    ) -> Item:
        args = c.arguments(job_id, owner, claim=claim, more=more)
        return cls(job_id, owner, c.outcome, args, may_finish)

    @classmethod
    def start(cls, job_id: str, owner: str | None, workflow: Workflow, *, more: int) -> Item:
        args = {
            "job_id": job_id,
            "owner": owner,
            "tasks": workflow.task_rows(),
            "edges": workflow.edge_rows(),
            "more": more,
        }
        return cls(job_id, owner, "start", args)

    @property
    def query(self) -> str:
        """The named query that writes this item alone (the per-item path)."""
        return "start_job" if self.kind == "start" else f"task_{self.kind}"

    @property
    def entry(self) -> dict[str, Any]:
        """The batch entry: ``kind`` and the arguments given (absent ones default)."""
        return {"kind": self.kind, **{k: v for k, v in self.args.items() if v is not None}}

    @property
    def resolved(self) -> bool:
        return self.step is not None or self.error is not None

    def resolve(self, step: scheduler.Step | None, error: BaseException | None = None) -> None:
        self.step, self.error = step, error
        self.wake.set()

    def hand(self, job: tuple[_Slot, list[Item]]) -> None:
        """Let this item's thread lead ``job`` (of which it is the first item)."""
        self.handed = job
        self.wake.set()


@dataclass
class _Written:
    """What one batch write recorded: a step per item (by ``id(item)``), the items left
    for a transaction of their own, and how many steps the set-based path wrote."""

    steps: dict[int, scheduler.Step] = field(default_factory=dict)
    alone: list[Item] = field(default_factory=list)
    set_based: int = 0


class Claimer(Protocol):
    """Who takes queued jobs into a batch's commit (the daemon's intake)."""

    def claim_in(self, conn: psycopg.Connection[Any], ended: int) -> list[dict[str, Any]]:
        """(inside the batch's transaction, which ended ``ended`` jobs) Claim queued jobs
        for the slots those jobs free; they commit with the batch."""
        ...

    def start_claimed(self, rows: list[dict[str, Any]]) -> None:
        """(after the commit) Start a runner for each job ``claim_in`` claimed."""
        ...


def _rehearse_crash(cfg: Config, items: int) -> None:
    """``testing.crash_in_batch = N`` (with allow_inject): SIGKILL this daemon once a
    batch of at least N items is written, before its commit. Never in production."""
    testing = cfg.testing
    if testing.allow_inject and 0 < testing.crash_in_batch <= items:
        logger.warning(
            "inject: SIGKILL inside a batch of %d", items, extra={"action": "inject_crash"}
        )
        os.kill(os.getpid(), signal.SIGKILL)


class Completer:
    """The daemon's group completer: one queue of hand-offs and ``slots`` commits in
    flight at once (``daemon.completer_slots``), each slot with its own connection.

    No thread of its own (leader/follower, like PostgreSQL's WAL group commit): a thread
    that submits while a slot is free writes at once with it (a lone job pays no hand-off
    between threads); items submitted while every slot writes wait in the queue, and the
    first slot to finish takes all of them (up to ``batch_max``) as the next batch, led
    by the first item's thread. Two batches in flight may hold items of one job (its
    parallel branches): they serialise on the job's row lock, as two calls would.
    Lifecycle: :meth:`start`, :meth:`submit` from any thread, :meth:`stop` last."""

    def __init__(
        self,
        cfg: Config,
        pool: ConnectionPool,
        *,
        batch_max: int | None = None,
        slots: int | None = None,
        claimer: Claimer | None = None,
    ) -> None:
        self.cfg = cfg
        self.pool = pool
        self.batch_max = max(1, batch_max or cfg.daemon.batch_max)
        self.slots = max(1, slots or cfg.completer_slots)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: list[Item] = []
        self._free = [_Slot(cfg, pool, claimer) for _ in range(self.slots)]
        self._running = False

    def start(self) -> Completer:
        self._running = True
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Refuse new items, let the writes in flight end, give the connections back."""
        self._running = False
        with self._lock:
            self._idle.wait_for(lambda: len(self._free) == self.slots, timeout)
            slots = list(self._free)
        for slot in slots:
            slot.release()

    def write_batch(self, items: list[Item]) -> None:
        """Write exactly ``items`` as one batch now and resolve them (for tests and tools
        that need a batch of known composition)."""
        with self._lock:
            self._idle.wait_for(lambda: bool(self._free))
            slot = self._free.pop()
        slot.flush(items)
        with self._lock:
            job = self._next(slot)
        if job is not None:  # items queued meanwhile: their first leads them
            job[1][0].hand(job)

    def submit(self, item: Item) -> scheduler.Step:
        """Write ``item`` with whatever else is waiting and return its step (the
        caller's thread blocks until the commit: that is the backpressure)."""
        if not self._running:
            raise RuntimeError("completer is not running")
        with self._lock:
            self._queue.append(item)
            # a free slot means an empty queue: the batch is this item alone
            job = self._next(self._free.pop()) if self._free else None
        if job is None:
            item.wake.wait()  # resolved by another batch's leader, or handed one to lead
            job = item.handed
        if job is not None:  # a batch led by this item (its first), so it resolves it
            slot, batch = job
            slot.flush(batch)
            with self._lock:
                following = self._next(slot)
            if following is not None:  # queued meanwhile: their first leads them
                following[1][0].hand(following)
        if item.error is not None:
            raise item.error
        assert item.step is not None
        return item.step

    def _next(self, slot: _Slot) -> tuple[_Slot, list[Item]] | None:
        """(under the lock) The next batch for ``slot``, or the slot goes free."""
        if self._queue:
            batch = self._queue[: self.batch_max]
            del self._queue[: self.batch_max]
            return slot, batch
        self._free.append(slot)
        self._idle.notify_all()
        return None


class _Slot:
    """One commit in flight: its connection, and how it writes a batch."""

    def __init__(self, cfg: Config, pool: ConnectionPool, claimer: Claimer | None = None) -> None:
        self.cfg = cfg
        self.pool = pool
        self.claimer = claimer
        self._conn: psycopg.Connection[Any] | None = None

    def flush(self, batch: list[Item]) -> None:
        """Write ``batch`` and resolve every item of it, whatever happens."""
        try:
            self._flush(batch)
        except BaseException as exc:  # never leave a follower waiting
            logger.exception("completer failed a batch", extra={"action": "batch_failed"})
            for other in batch:
                if not other.resolved:
                    other.resolve(None, exc)

    def release(self) -> None:
        conn, self._conn = self._conn, None
        give_back(self.pool, conn)

    def _flush(self, batch: list[Item]) -> None:
        t0 = monotonic()
        if len(batch) == 1 and not self.cfg.testing.crash_in_batch:
            self._flush_alone(batch[0], t0)  # a lone hand-off: its own call, nothing to share
            return
        try:
            written, repeated = self._repeatable(lambda conn: self._write(conn, batch))
            if repeated:
                self._land(batch, written.steps)
        except psycopg.OperationalError as exc:
            for item in batch:
                item.resolve(None, exc)
            return
        except Exception:
            logger.warning(
                "batch of %d failed as a whole: every item in its own transaction",
                len(batch),
                exc_info=True,
                extra={"action": "batch_split"},
            )
            written = _Written(alone=list(batch))
        steps, alone = written.steps, written.alone
        metrics.batch_committed(len(steps), monotonic() - t0, set_based=written.set_based)
        for item in batch:
            step = steps.get(id(item))
            if step is not None and step.finalize:  # committed in autocommit: finish now
                try:
                    step = self._retrying(
                        lambda c, i=item, s=step: scheduler.finish_locked(
                            c, self.cfg, i.job_id, i.owner, s
                        )
                    )
                except Exception:
                    logger.exception(
                        "finishing the job failed: a takeover will",
                        extra={"action": "finish_failed", "job_id": item.job_id},
                    )
            if step is not None:
                item.resolve(step)
        for item in alone:
            self._flush_alone(item, monotonic(), atomic=True)

    def _flush_alone(self, item: Item, t0: float, *, atomic: bool | None = None) -> None:
        """:meth:`_flush_one`, counted as a commit of one hand-off when it committed."""
        self._flush_one(item, atomic=atomic)
        if item.step is not None:
            metrics.batch_committed(1, monotonic() - t0)

    def _write(self, conn: psycopg.Connection[Any], batch: list[Item]) -> _Written:
        """The batch, one commit; items that raised are left for their own. A batch
        that cannot end a job (no item ``may_finish``) is one autocommit statement: one
        round trip. A job it ended after all is finished in a second transaction that
        locks it first (the state in between, every task done and the job running, is
        what a takeover finalizes too)."""
        if not conn.autocommit or conn.info.transaction_status:
            raise RuntimeError("completer connection must be idle in autocommit")
        atomic = any(i.may_finish for i in batch) or self.cfg.testing.crash_in_batch > 0
        if not atomic:
            return self._record(conn, batch)  # finalize: scheduler.finish_locked, after
        claimed: list[dict[str, Any]] = []
        with conn.transaction():
            written = self._record(conn, batch)
            steps = written.steps
            ending = [i for i in batch if (s := steps.get(id(i))) is not None and s.finalize]
            endings = [scheduler.Ending(i.job_id, i.owner, steps[id(i)]) for i in ending]
            done = scheduler.finalize_steps(conn, self.cfg, endings) if endings else []
            steps.update((id(i), step) for i, step in zip(ending, done, strict=True))
            ended = sum(bool(step.ended) for step in done)
            if ended and self.claimer is not None:  # their slots: the next jobs, same commit
                claimed = self.claimer.claim_in(conn, ended)
            _rehearse_crash(self.cfg, len(steps))
        if claimed:  # before the ended jobs' workers wake: their slots are taken
            assert self.claimer is not None
            try:
                self.claimer.start_claimed(claimed)
            except Exception:  # the batch committed: its items' steps stand
                logger.exception(
                    "starting the jobs a batch claimed failed: their leases expire",
                    extra={"action": "job_start_failed"},
                )
        return written

    def _record(self, conn: psycopg.Connection[Any], batch: list[Item]) -> _Written:
        """``complete_batch`` until no item raises: the items that did are left out."""
        pending, alone = list(batch), []
        while pending:
            entries = Jsonb([item.entry for item in pending])
            res = conn.execute(Q["complete_batch"], {"items": entries}).fetchone()
            out: Mapping[str, Any] = column(res, "result")
            if out.get("set_based_error") and "failed" not in out:
                # recorded one by one: correct, slower; a bug (when an item raised, that
                # item explains it: the others are written again without it)
                logger.warning(
                    "set-based batch path failed (%s): items recorded one by one",
                    out["set_based_error"],
                    extra={"action": "batch_set_based_failed"},
                )
            if "failed" not in out:
                steps = map(scheduler.Step.from_json, out["steps"])
                recorded = {id(i): s for i, s in zip(pending, steps, strict=True)}
                return _Written(recorded, alone, int(out.get("set_based") or 0))
            bad = pending.pop(int(out["failed"]))
            logger.info(
                "batch item raised (%s: %s): it gets its own transaction",
                out.get("sqlstate"),
                out.get("message"),
                extra={"action": "batch_item_alone", "job_id": bad.job_id},
            )
            alone.append(bad)
        return _Written(alone=alone)

    def _flush_one(self, item: Item, *, atomic: bool | None = None) -> None:
        """One item: the per-item call itself (autocommit unless it may end its job),
        exactly what a worker did before group completion."""
        atomic = item.may_finish if atomic is None else atomic
        try:
            step, repeated = self._repeatable(
                lambda conn: self._write_alone(conn, item, atomic=atomic)
            )
            if repeated:
                landed = {id(item): step}
                self._land([item], landed)
                step = landed[id(item)]
            item.resolve(step)
        except BaseException as exc:
            item.resolve(None, exc)

    def _land(self, items: list[Item], steps: dict[int, scheduler.Step]) -> None:
        """The write was repeated after a broken connection: an item it found already
        recorded may be the first try's, committed unacknowledged. Its step, claims
        included, is recovered (:func:`scheduler.landed`) in place."""
        landed = []
        for item in items:
            step = steps.get(id(item))
            if step is None or not scheduler.in_doubt(item.kind, step):
                continue
            step = self._retrying(
                lambda conn, i=item: scheduler.landed(
                    conn, self.cfg, i.job_id, i.owner, i.kind, task_id=i.args.get("task_id"),
                    attempt=i.args.get("attempt"),
                )
            )  # fmt: skip
            steps[id(item)] = step
            landed.append(step)
        scheduler.hand_once(landed)

    def _write_alone(
        self, conn: psycopg.Connection[Any], item: Item, *, atomic: bool
    ) -> scheduler.Step:
        params = jsonb_params(item.args)
        return scheduler.call(
            conn, self.cfg, item.job_id, item.owner, item.query, params, atomic=atomic
        )

    # ------------------------------------------------------------------ connection
    def _repeatable(self, fn: Callable[[psycopg.Connection[Any]], T]) -> tuple[T, bool]:
        """:meth:`_retrying`, and whether ``fn`` ran more than once (its first try may
        then have committed with the acknowledgement lost)."""
        write = Repeats(fn)
        return self._retrying(write), write.repeated

    def _retrying(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``fn(conn)`` on the slot's connection; a broken one is replaced and the call
        repeated (:func:`~enginev2d.db.retry_broken`)."""

        def call() -> T:
            conn = self._connection()
            try:
                return fn(conn)
            except BaseException as exc:
                if (
                    isinstance(exc, psycopg.OperationalError)
                    or conn.broken
                    or conn.info.transaction_status != TransactionStatus.IDLE
                ):
                    self._discard(conn)
                raise

        return retry_broken(call, who="completer")

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            self._conn = self.pool.getconn()
        return self._conn

    def _discard(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = None
        give_back(self.pool, conn)
