"""A freshly started daemon exports every bounded label combination at 0 (issue 16 item
2), so Prometheus' rate() and increase() count the first event of every series."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from enginev2d.config import TASK_KEYS, _default_pricing
from enginev2d.errors import DESIGN_CODES
from enginev2d.metrics import CLAIM_VIA, JOB_OUTCOMES, PICKUP_VIA, TASK_OUTCOMES
from tests.integration.test_metrics_scrape import scrape, value

from .harness import DaemonProc, daemon_sections, write_config

pytestmark = pytest.mark.slow


def test_fresh_daemon_has_every_series_at_zero(db_url: str, tmp_path: Path):
    sections = daemon_sections(db_url, tmp_path)
    sections["metrics"] = {"enabled": True, "port": 0, "refresh_s": 3600.0}
    d = DaemonProc(write_config(tmp_path / "d.toml", sections), tmp_path / "d.log")
    try:
        d.wait_ready()
        port = d.wait_action("metrics_start")["port"]
        s = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        d.signal(signal.SIGTERM)
        d.wait(20)
        d.close()
    expected = []
    for key in TASK_KEYS:
        expected += [
            ("enginev2_tasks_total", {"task_key": key, "outcome": o}) for o in TASK_OUTCOMES
        ]
        expected += [
            ("enginev2_task_attempts_total", {"task_key": key}),
            ("enginev2_cost_usd_total", {"task_key": key}),
            ("enginev2_task_duration_seconds_count", {"task_key": key}),
        ]
    for model, price in _default_pricing().items():
        expected += [
            ("enginev2_tokens_total", {"model": model, "direction": d}) for d in ("in", "out")
        ]
        if price.per_image:
            expected.append(("enginev2_images_total", {"model": model}))
    expected += [("enginev2_fallback_total", {"error_code": c}) for c in DESIGN_CODES]
    expected += [("enginev2_jobs_claimed_total", {"via": v}) for v in CLAIM_VIA]
    expected += [("enginev2_pickup_latency_seconds_count", {"via": v}) for v in PICKUP_VIA]
    for outcome in JOB_OUTCOMES:
        expected += [
            ("enginev2_jobs_total", {"outcome": outcome}),
            ("enginev2_job_duration_seconds_count", {"outcome": outcome}),
        ]
    expected += [
        ("enginev2_lease_takeovers_total", {}),
        ("enginev2_notifications_missed_total", {}),
        ("enginev2_disabled_failovers_total", {}),
    ]
    missing = [(n, lab) for n, lab in expected if value(s, n, **lab) is None]
    assert missing == []
    assert all(value(s, n, **lab) == 0 for n, lab in expected)
    assert len(expected) > 90
    for switch in ("env", "fleet", "effective"):  # the daemon read both switches: on
        assert value(s, "enginev2_engine_enabled", switch=switch) == 1
