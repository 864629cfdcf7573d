"""/metrics over HTTP: SLO gauges from real rows, and a scrape with the database down."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from enginev2d import metrics
from enginev2d.config import Config, load_config
from tests.integration.test_slo import seed_job


def scrape(url: str, timeout: float = 5.0) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def fresh_metrics() -> Iterator[metrics.Metrics]:
    yield metrics.reset()
    metrics.reset()


def _serve(config: Config, **metrics_cfg: object) -> metrics.MetricsServer:
    cfg = config.replace(metrics={"enabled": True, "port": 0, "refresh_s": 3600.0, **metrics_cfg})
    return metrics.start_http_server(cfg, refresh_in_background=False)


def test_slo_gauges_from_rows(conn, make_job, config, fresh_metrics):
    seed_job(conn, make_job, duration_s=10)
    seed_job(
        conn, make_job, duration_s=30, attempts={"intent": [("failed", 0.01), ("succeeded", 0.02)]}
    )
    seed_job(conn, make_job, status="failed", duration_s=3, attempts={"intent": [("failed", 0.0)]})
    server = _serve(
        config, v1_baseline_query="SELECT 0.9 AS success_rate, 15 AS latency_p50_seconds"
    )
    try:
        assert server.refresher is not None
        assert server.refresher.refresh_once() is True  # deterministic, not a sleep
        s = scrape(server.url)
    finally:
        server.shutdown()
    assert value(s, "enginev2_slo_up") == 1
    assert value(s, "enginev2_slo_v1_up") == 1
    assert value(s, "enginev2_slo_jobs_finished") == 3
    assert value(s, "enginev2_slo_success_rate", engine="v2") == pytest.approx(2 / 3)
    assert value(s, "enginev2_slo_success_rate", engine="v1") == pytest.approx(0.9)
    assert value(s, "enginev2_slo_latency_p50_seconds", engine="v2") == pytest.approx(20, abs=0.5)
    assert value(s, "enginev2_slo_latency_p50_seconds", engine="v1") == 15
    assert value(s, "enginev2_slo_latency_p95_seconds", engine="v2") == pytest.approx(29, abs=0.5)
    assert value(s, "enginev2_slo_cost_per_job_usd", engine="v2") == pytest.approx(
        (0.007 + 0.01 + 0.02) / 3
    )
    assert value(s, "enginev2_slo_retry_rate", engine="v2") == pytest.approx(1 / 9)
    assert value(s, "enginev2_slo_fallback_rate", engine="v2") == pytest.approx(1 / 3)
    assert value(s, "enginev2_slo_window_seconds") == 86400
    # The process families are there (zero-valued children of the fixed label sets).
    assert value(s, "enginev2_jobs_total", outcome="succeeded") == 0
    assert value(s, "enginev2_fallback_total", error_code="v2_timeout") == 0
    assert value(s, "enginev2_running_jobs") == 0


def test_refresh_respects_the_statement_timeout(config, fresh_metrics, conn, make_job):
    seed_job(conn, make_job)
    server = _serve(
        config, query_timeout_ms=200, v1_baseline_query="SELECT pg_sleep(5), 1.0 AS success_rate"
    )
    try:
        assert server.refresher is not None
        started = time.monotonic()
        assert server.refresher.refresh_once() is True  # v2 figures fine, baseline timed out
        assert time.monotonic() - started < 3
        s = scrape(server.url)
    finally:
        server.shutdown()
    assert value(s, "enginev2_slo_up") == 1
    assert value(s, "enginev2_slo_v1_up") == 0
    assert value(s, "enginev2_slo_success_rate", engine="v1") is None
    assert value(s, "enginev2_slo_success_rate", engine="v2") == 1


def test_scrape_answers_with_the_database_stopped(own_cluster, tmp_path, fresh_metrics):
    dsn = own_cluster.dsn()
    cfg = load_config(
        env={},
        overrides={
            "database": {"url": dsn, "ssl": False, "connect_timeout_s": 1.0},
            "metrics": {"port": 0, "refresh_s": 3600.0, "query_timeout_ms": 1000},
        },
    )
    server = metrics.start_http_server(cfg, refresh_in_background=False)
    try:
        assert server.refresher is not None
        assert server.refresher.refresh_once() is True
        up = scrape(server.url)
        assert value(up, "enginev2_slo_up") == 1
        assert value(up, "enginev2_slo_jobs_finished") == 0

        own_cluster.stop()
        metrics.job_finished("failed", 2.0, error_code="v2_timeout")
        started = time.monotonic()
        assert server.refresher.refresh_once() is False
        down = scrape(server.url, timeout=2.0)
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()
    assert value(down, "enginev2_slo_up") == 0
    assert value(down, "enginev2_slo_last_success_timestamp_seconds") == value(
        up, "enginev2_slo_last_success_timestamp_seconds"
    )
    assert value(down, "enginev2_fallback_total", error_code="v2_timeout") == 1
    assert value(down, "enginev2_jobs_total", outcome="failed") == 1


def test_background_refresher_feeds_the_gauges(conn, make_job, config, fresh_metrics):
    seed_job(conn, make_job, duration_s=12)
    server = _serve(config)  # background thread does the first refresh at once
    server.refresher.start()
    try:
        assert server.refresher.wait_refreshes(1, timeout=10)
        s = scrape(server.url)
    finally:
        server.shutdown()
    assert value(s, "enginev2_slo_up") == 1
    assert value(s, "enginev2_slo_latency_p50_seconds", engine="v2") == pytest.approx(12, abs=0.5)
