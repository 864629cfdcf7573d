"""The three ownership bugs the chaos run found (bench/chaos/repro.py), replayed with
real daemons: a lost lease must not charge an attempt, a swap must not happen after the
abort (or be failed over), and a daemon that lost a job must not delete the new owner's
staging. Each scenario returns True when the bug shows."""

from __future__ import annotations

import pytest

from bench.chaos import repro

pytestmark = pytest.mark.slow


def test_the_chaos_runs_ownership_bugs_stay_fixed():
    assert repro.main([]) == 0
