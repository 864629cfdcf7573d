import random

import pytest

from enginev2d.backoff import Backoff


def test_grows_exponentially_up_to_max(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Backoff, "INITIAL_S", 1.0)
    monkeypatch.setattr(Backoff, "MAX_S", 5.0)
    monkeypatch.setattr(Backoff, "JITTER", 0.0)
    b = Backoff()
    assert [b.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert b.failing


def test_reset_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Backoff, "JITTER", 0.0)
    b = Backoff()
    b.next_delay()
    b.next_delay()
    b.reset()
    assert not b.failing
    assert b.next_delay() == Backoff.INITIAL_S


def test_jitter_stays_within_bounds() -> None:
    b = Backoff(rng=random.Random(1))
    for _ in range(50):
        d = b.next_delay()
        assert 0 <= d <= Backoff.MAX_S
    b.reset()
    first = b.next_delay()
    lo = Backoff.INITIAL_S * (1 - Backoff.JITTER)
    hi = Backoff.INITIAL_S * (1 + Backoff.JITTER)
    assert lo <= first <= hi
