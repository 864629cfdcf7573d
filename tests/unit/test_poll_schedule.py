"""The main loop's poll schedule (``daemon.next_poll_at``): a fixed rate, so the time a
poll takes never stretches the polling-only pickup beyond the interval."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from enginev2d.daemon import next_poll_at

times = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
intervals = st.floats(min_value=0.01, max_value=60.0, allow_nan=False)


@given(scheduled=times, late=st.floats(0.0, 1e4), poll_s=intervals)
def test_a_timed_poll_keeps_the_grid_and_is_due_within_one_interval(scheduled, late, poll_s):
    now = scheduled + late
    nxt = next_poll_at(scheduled, now, poll_s, None, timed=True)
    assert now < nxt <= now + poll_s * (1 + 1e-9)
    k = (nxt - scheduled) / poll_s
    assert math.isclose(k, round(k), abs_tol=1e-6)  # on the grid: missed ticks skipped


def test_the_time_a_poll_takes_does_not_add_to_the_interval():
    # polls due at 0.0, 0.2, 0.4 ... each taking 30 ms: the next is still due at 0.2
    assert next_poll_at(0.0, 0.030, 0.2, None, timed=True) == 0.2
    assert next_poll_at(0.2, 0.230, 0.2, None, timed=True) == 0.4


def test_a_stalled_loop_skips_the_ticks_it_missed_instead_of_polling_back_to_back():
    assert math.isclose(next_poll_at(0.0, 0.95, 0.2, None, timed=True), 1.0)


@given(scheduled=times, now=times, poll_s=intervals)
def test_a_woken_poll_leaves_the_schedule_alone(scheduled, now, poll_s):
    assert next_poll_at(scheduled, now, poll_s, None, timed=False) == scheduled


@given(scheduled=times, now=times, poll_s=intervals, delay=st.floats(0.0, 120.0))
def test_after_a_failed_poll_the_next_comes_after_the_backoff_at_most_one_interval(
    scheduled, now, poll_s, delay
):
    for timed in (True, False):
        assert next_poll_at(scheduled, now, poll_s, delay, timed=timed) == now + min(poll_s, delay)
