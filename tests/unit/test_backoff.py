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


def _flaky(failures: list[Exception]):
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if failures:
            raise failures.pop(0)
        return "ok"

    return call, calls


def test_retry_retries_what_it_may_then_returns():
    from enginev2d.backoff import retry

    call, calls = _flaky([OSError("a"), OSError("b")])
    waits: list[float] = []
    seen: list[int] = []
    out = retry(
        call,
        retries=2,
        backoff=Backoff(initial_s=1.0, jitter=0.0),
        should_retry=lambda e: isinstance(e, OSError),
        wait=lambda s: waits.append(s) or True,
        on_retry=lambda e, n, d: seen.append(n),
    )
    assert out == "ok" and calls["n"] == 3 and waits == [1.0, 2.0] and seen == [1, 2]


def test_retry_gives_up_honours_hints_and_stops():
    import pytest

    from enginev2d.backoff import retry

    call, calls = _flaky([OSError("a"), OSError("b"), OSError("c")])
    waits: list[float] = []
    with pytest.raises(OSError, match="b"):  # one retry allowed: the second failure stands
        retry(
            call,
            retries=1,
            backoff=Backoff(jitter=0.0),
            should_retry=lambda e: True,
            hint_s=lambda e: 99.0,
            max_hint_s=7.0,
            wait=lambda s: waits.append(s) or True,
        )
    assert waits == [7.0] and calls["n"] == 2
    call, _ = _flaky([ValueError("no")])
    with pytest.raises(ValueError):  # not retryable: raised at once
        retry(call, retries=5, backoff=Backoff(), should_retry=lambda e: False)
    call, _ = _flaky([OSError("x")])
    with pytest.raises(RuntimeError, match="stopped"):
        retry(
            call,
            retries=5,
            backoff=Backoff(),
            should_retry=lambda e: True,
            wait=lambda s: False,
            on_stop=lambda e: RuntimeError("stopped"),
        )
