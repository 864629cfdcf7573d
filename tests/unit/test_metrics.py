"""Process metrics hooks, label bounds and the SLO collector, without a database."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from enginev2d import metrics
from enginev2d.config import load_config
from enginev2d.slo import SloError, SloReport, judge, parse_duration


@pytest.fixture
def m() -> metrics.Metrics:
    fresh = metrics.reset()
    yield fresh
    metrics.reset()


def sample(m: metrics.Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_hooks_fill_the_families(m):
    metrics.task_attempt_finished(
        "codegen",
        "retry",
        2.5,
        model="gemini-2.0-flash",
        tokens_in=100,
        tokens_out=40,
        cost_usd=0.01,
    )
    metrics.task_attempt_finished(
        "codegen", "succeeded", 3.0, model="gemini-2.0-flash", tokens_in=50, cost_usd=0.02
    )
    metrics.task_skipped("fix")
    metrics.job_finished("succeeded", 42.0)
    metrics.job_finished("failed", 7.0, error_code="v2_timeout")
    metrics.job_claimed(0.004, takeover=False, via="notify")
    metrics.job_claimed(1.5, takeover=False, via="poll")
    metrics.job_claimed(None, takeover=True, via="takeover")
    metrics.running_jobs(3)
    metrics.listener_reconnected()
    metrics.images_generated("imagen-3.0-generate-002", 2)

    assert sample(m, "enginev2_tasks_total", task_key="codegen", outcome="retry") == 1
    assert sample(m, "enginev2_tasks_total", task_key="codegen", outcome="succeeded") == 1
    assert sample(m, "enginev2_tasks_total", task_key="fix", outcome="skipped") == 1
    assert sample(m, "enginev2_task_attempts_total", task_key="codegen") == 2
    assert sample(m, "enginev2_task_duration_seconds_count", task_key="codegen") == 2
    assert sample(m, "enginev2_task_duration_seconds_sum", task_key="codegen") == 5.5
    assert sample(m, "enginev2_tokens_total", model="gemini-2.0-flash", direction="in") == 150
    assert sample(m, "enginev2_tokens_total", model="gemini-2.0-flash", direction="out") == 40
    assert sample(m, "enginev2_cost_usd_total", task_key="codegen") == pytest.approx(0.03)
    assert sample(m, "enginev2_jobs_total", outcome="succeeded") == 1
    assert sample(m, "enginev2_jobs_total", outcome="failed") == 1
    assert sample(m, "enginev2_jobs_total", outcome="canceled") == 0
    assert sample(m, "enginev2_job_duration_seconds_count", outcome="succeeded") == 1
    assert sample(m, "enginev2_fallback_total", error_code="v2_timeout") == 1
    assert sample(m, "enginev2_fallback_total", error_code="v2_task_failed") == 0
    assert sample(m, "enginev2_jobs_claimed_total", via="notify") == 1
    assert sample(m, "enginev2_jobs_claimed_total", via="takeover") == 1
    assert sample(m, "enginev2_notifications_missed_total") == 1
    assert sample(m, "enginev2_lease_takeovers_total") == 1
    assert sample(m, "enginev2_pickup_latency_seconds_count", via="notify") == 1
    assert sample(m, "enginev2_pickup_latency_seconds_count", via="poll") == 1
    assert sample(m, "enginev2_running_jobs") == 3
    assert sample(m, "enginev2_listener_reconnects_total") == 1
    assert sample(m, "enginev2_images_total", model="imagen-3.0-generate-002") == 2
    # Buckets reach minutes, not the library's 10 s default.
    le = {
        s.labels["le"]
        for f in text_string_to_metric_families(generate_latest(m.registry).decode())
        if f.name == "enginev2_task_duration_seconds"
        for s in f.samples
        if "le" in s.labels
    }
    assert "300.0" in le and "600.0" in le


def test_labels_are_bounded(m):
    cfg = load_config(env={}, require_database=False, overrides={"pricing": {"my-model": {}}})
    metrics.configure(cfg)
    metrics.task_attempt_finished(
        "task-" + "x" * 40, "weird", 1.0, model="gpt-secret-prompt", tokens_in=5
    )
    metrics.task_attempt_finished("plan", "succeeded", 1.0, model="my-model", tokens_out=1)
    metrics.job_finished("exploded", 1.0)
    metrics.job_finished("failed", 1.0, error_code="Traceback: something went wrong")
    assert sample(m, "enginev2_tasks_total", task_key="other", outcome="other") == 1
    assert sample(m, "enginev2_tokens_total", model="other", direction="in") == 5
    assert sample(m, "enginev2_tokens_total", model="my-model", direction="out") == 1
    assert sample(m, "enginev2_jobs_total", outcome="other") == 1
    assert sample(m, "enginev2_fallback_total", error_code="v2_unknown") == 1


def test_hooks_never_raise(m):
    metrics.task_attempt_finished("plan", "succeeded", "not a number")  # type: ignore[arg-type]
    metrics.job_finished("failed", None)  # type: ignore[arg-type]
    metrics.running_jobs("x")  # type: ignore[arg-type]
    metrics.job_claimed("soon", takeover=False, via="notify")  # type: ignore[arg-type]


def test_fresh_registry_per_reset():
    a = metrics.reset()
    metrics.listener_reconnected()
    b = metrics.reset()
    assert a.registry is not b.registry
    assert b.registry.get_sample_value("enginev2_listener_reconnects_total") == 0
    assert a.registry.get_sample_value("enginev2_listener_reconnects_total") == 1
    metrics.reset()


def _report(v2: dict, v1: dict | None = None) -> SloReport:
    from enginev2d.slo import SLO_KEYS

    full = dict.fromkeys(SLO_KEYS)
    full.update(v2)
    v1full = None
    if v1 is not None:
        v1full = dict.fromkeys(SLO_KEYS)
        v1full.update(v1)
    return SloReport(3600.0, full, {"jobs_finished": 4}, v1full)


def test_slo_collector_exports_snapshot_and_freshness(m):
    cfg = load_config(
        env={},
        require_database=False,
        overrides={"metrics": {"refresh_s": 10.0, "v1_baseline_query": "SELECT 1"}},
    )
    collector = metrics.SloCollector(cfg)
    assert collector.describe() == []
    m.registry.register(collector)
    assert sample(m, "enginev2_slo_up") == 0  # nothing refreshed yet
    assert sample(m, "enginev2_slo_success_rate", engine="v2") is None

    report = _report({"success_rate": 0.75, "latency_p50_seconds": 12.0}, {"success_rate": 0.8})
    collector.update(metrics.SloSnapshot(report, True, time.time()))
    assert sample(m, "enginev2_slo_up") == 1
    assert sample(m, "enginev2_slo_success_rate", engine="v2") == 0.75
    assert sample(m, "enginev2_slo_success_rate", engine="v1") == 0.8
    assert sample(m, "enginev2_slo_latency_p50_seconds", engine="v2") == 12.0
    assert sample(m, "enginev2_slo_latency_p50_seconds", engine="v1") is None
    assert sample(m, "enginev2_slo_jobs_finished") == 4
    assert sample(m, "enginev2_slo_v1_up") == 1
    # A failed refresh keeps the last figures but says they are stale.
    collector.update(metrics.SloSnapshot(report, False, time.time()))
    assert sample(m, "enginev2_slo_up") == 0
    assert sample(m, "enginev2_slo_success_rate", engine="v2") == 0.75
    # Too old counts as stale as well.
    collector.update(metrics.SloSnapshot(report, True, time.time() - 3600))
    assert sample(m, "enginev2_slo_up") == 0


def test_slo_collector_never_raises(m):
    cfg = load_config(env={}, require_database=False)
    collector = metrics.SloCollector(cfg)
    m.registry.register(collector)
    collector.update(metrics.SloSnapshot("garbage", True, time.time()))  # type: ignore[arg-type]
    text = generate_latest(m.registry).decode()
    assert "enginev2_slo_up 0.0" in text


def test_http_server_on_port_zero_without_database(m):
    cfg = load_config(
        env={},
        overrides={
            "database": {"url": "postgresql://nobody@127.0.0.1:1/none", "ssl": False},
            "metrics": {"port": 0, "refresh_s": 3600.0, "query_timeout_ms": 500},
        },
    )
    server = metrics.start_http_server(cfg)
    try:
        assert server.port > 0
        assert server.refresher is not None
        assert server.refresher.refresh_once() is False
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            assert resp.status == 200
            body = resp.read().decode()
        assert "enginev2_slo_up 0.0" in body
        assert "enginev2_jobs_total" in body
    finally:
        server.shutdown()


def test_judge_targets():
    assert judge("success_rate", 0.9, 0.85) == (">= v1", True)
    assert judge("latency_p95_seconds", 119.0, 100.0) == ("<= v1 x 1.2", True)
    assert judge("latency_p95_seconds", 121.0, 100.0)[1] is False
    assert judge("cost_per_job_usd", 0.15, 0.1) == ("<= v1 x 1.5", True)
    assert judge("retry_rate", 0.1, 0.1)[1] is False
    assert judge("fallback_rate", 0.04, None) == ("< 0.05", True)
    assert judge("fallback_rate", 0.05, None)[1] is False
    assert judge("latency_p50_seconds", 10.0, None) == ("<= v1", None)
    assert judge("latency_p50_seconds", None, 10.0)[1] is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("24h", 86400), ("30m", 1800), ("7d", 604800), ("90s", 90), ("120", 120), ("1.5h", 5400)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "yesterday", "-1h", "0", "5y", "h"])
def test_parse_duration_rejects(text):
    with pytest.raises(SloError):
        parse_duration(text)


def test_a_claim_that_waited_for_capacity_is_not_a_missed_notification():
    m = metrics.reset()
    metrics.job_claimed(0.01, takeover=False, via="capacity")
    metrics.job_claimed(0.01, takeover=False, via="poll")
    text = generate_latest(m.registry).decode()
    assert 'enginev2_jobs_claimed_total{via="capacity"} 1.0' in text
    assert "enginev2_notifications_missed_total 1.0" in text
