"""The Grafana dashboard charts every SLO against the design's target, with real names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from enginev2d import metrics
from enginev2d.slo import SLO_KEYS

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "enginev2-slo.json"

# Gauges exported by the SLO collector (they only exist once a snapshot is there).
SLO_FAMILIES = {f"enginev2_slo_{k}" for k in SLO_KEYS} | {
    "enginev2_slo_up",
    "enginev2_slo_v1_up",
    "enginev2_slo_jobs_finished",
    "enginev2_slo_window_seconds",
    "enginev2_slo_last_success_timestamp_seconds",
}

TARGETS = {
    "success_rate": '>= bool max(enginev2_slo_success_rate{engine="v1"})',
    "latency_p50_seconds": '<= bool max(enginev2_slo_latency_p50_seconds{engine="v1"})',
    "latency_p95_seconds": '<= bool 1.2 * max(enginev2_slo_latency_p95_seconds{engine="v1"})',
    "cost_per_job_usd": '<= bool 1.5 * max(enginev2_slo_cost_per_job_usd{engine="v1"})',
    "retry_rate": '< bool max(enginev2_slo_retry_rate{engine="v1"})',
    "fallback_rate": "< bool 0.05",
}


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def exprs(panel: dict) -> list[str]:
    return [t["expr"] for t in panel.get("targets", [])]


def test_dashboard_shape():
    d = load()
    assert d["uid"] == "enginev2-slo" and d["panels"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))


def test_every_slo_has_a_pass_fail_stat_and_a_chart_with_its_target():
    panels = load()["panels"]
    for key, target in TARGETS.items():
        stats = [p for p in panels if p["type"] == "stat" and any(key in e for e in exprs(p))]
        assert len(stats) == 1, key
        assert any(target in e and "enginev2_slo_up" in e for e in exprs(stats[0])), key
        charts = [
            p
            for p in panels
            if p["type"] == "timeseries"
            and any(f'enginev2_slo_{key}{{engine="v2"}}' in e for e in exprs(p))
        ]
        assert len(charts) == 1, key
        legends = {t["legendFormat"] for t in charts[0]["targets"]}
        if key == "fallback_rate":  # v1 has no fallback (design 18: "-"): nothing to chart
            assert legends == {"v2", "target"}
            assert not any('{engine="v1"}' in e for e in exprs(charts[0]))
        else:
            assert legends == {"v2", "v1 baseline", "target"}


def test_every_metric_name_exists():
    m = metrics.Metrics()
    families = {f.name for f in m.registry.collect()}
    known = set()
    for name in families:
        known |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    known |= SLO_FAMILIES
    used = {
        n for p in load()["panels"] for e in exprs(p) for n in re.findall(r"enginev2_[a-z0-9_]+", e)
    }
    assert used - known == set()
    assert {f"enginev2_slo_{k}" for k in SLO_KEYS} <= used


def test_the_kill_switch_is_charted():
    used = {e for p in load()["panels"] for e in exprs(p)}
    assert "min by (switch) (enginev2_engine_enabled)" in used
    assert "sum(increase(enginev2_disabled_failovers_total[1h]))" in used
