"""The completer's lanes without a database: leader/follower hand-over, batch limits,
order within a job, errors reaching their own workers."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from enginev2d import scheduler
from enginev2d.completer import Completer, Item, _Slot
from enginev2d.config import Config
from tests.waiting import wait_for


def make_item(job: str, n: int) -> Item:
    return Item(job, "A", "succeeded", {"n": n})


@pytest.fixture
def recorded(monkeypatch):
    """_Slot._flush replaced: records each batch, resolves its items (an item whose
    entry says ``raise`` gets an error), and can be held to let others queue up."""
    batches: list[list[tuple[str, int]]] = []
    gate = threading.Event()
    gate.set()
    entered = threading.Event()

    def flush(self: _Slot, batch: list[Item]) -> None:
        entered.set()
        gate.wait(10)
        batches.append([(i.job_id, i.entry["n"]) for i in batch])
        for i in batch:
            if i.entry.get("raise"):
                i.resolve(None, RuntimeError(f"item {i.entry['n']}"))
            else:
                i.resolve(scheduler.Step("ok", progress=i.entry["n"]))

    monkeypatch.setattr(_Slot, "_flush", flush)
    return batches, gate, entered


def test_an_idle_lane_writes_the_first_item_at_once_alone(recorded):
    batches, _gate, _entered = recorded
    c = Completer(Config(), pool=None, slots=1).start()  # type: ignore[arg-type]
    assert c.submit(make_item("j1", 7)).progress == 7
    assert batches == [[("j1", 7)]]


def test_items_arriving_during_a_commit_share_the_next_and_respect_batch_max(recorded):
    batches, gate, entered = recorded
    c = Completer(Config(), pool=None, slots=1, batch_max=4).start()  # type: ignore[arg-type]
    gate.clear()
    results: dict[int, Any] = {}

    def worker(n: int) -> None:
        results[n] = c.submit(make_item(f"j{n}", n)).progress

    first = threading.Thread(target=worker, args=(0,))
    first.start()
    assert entered.wait(5)  # the first item is being written: the lane is busy
    others = [threading.Thread(target=worker, args=(n,)) for n in range(1, 11)]
    for t in others:
        t.start()
    wait_for(lambda: len(c._queue) == 10, 10, "ten items queued behind the first")
    gate.set()
    for t in (first, *others):
        t.join(10)
    assert results == {n: n for n in range(11)}  # every worker got its own step
    assert batches[0] == [("j0", 0)]
    assert [len(b) for b in batches[1:]] == [4, 4, 2]  # queued ten, at most four a commit
    assert sorted(n for b in batches for _j, n in b) == list(range(11))  # each once
    assert len(c._free) == 1 and not c._queue


def test_an_error_reaches_only_its_own_worker(recorded):
    c = Completer(Config(), pool=None, slots=1).start()  # type: ignore[arg-type]
    bad = Item("j1", "A", "succeeded", {"n": 1, "raise": True})
    with pytest.raises(RuntimeError, match="item 1"):
        c.submit(bad)
    assert c.submit(make_item("j2", 2)).progress == 2


def test_two_slots_write_two_batches_at_once_and_every_item_once(recorded):
    batches, gate, _entered = recorded
    c = Completer(Config(), pool=None, slots=2, batch_max=64).start()  # type: ignore[arg-type]
    gate.clear()
    results: dict[int, Any] = {}

    def worker(n: int) -> None:
        results[n] = c.submit(make_item(f"j{n % 3}", n)).progress

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    wait_for(lambda: not c._free, 10, "both slots writing")  # two lone items, at once
    more = [threading.Thread(target=worker, args=(n,)) for n in range(2, 30)]
    for t in more:
        t.start()
    wait_for(lambda: len(c._queue) == 28, 10, "the rest queued")
    gate.set()
    for t in (*threads, *more):
        t.join(10)
    assert results == {n: n for n in range(30)}
    assert sorted(n for b in batches for _j, n in b) == list(range(30))  # each once
    assert sorted(len(b) for b in batches)[:2] == [1, 1]
    assert len(batches) == 3  # the 28 waiting ones went together, with the first free slot
    assert len(c._free) == 2 and not c._queue


def test_a_stopped_completer_refuses_new_items(recorded):
    c = Completer(Config(), pool=None, slots=1).start()  # type: ignore[arg-type]
    c.stop()
    with pytest.raises(RuntimeError, match="not running"):
        c.submit(make_item("j1", 1))
