"""All Prometheus metrics in one module.

The engine and the daemon call the hook functions below; they never raise and never
block (a failure inside a hook is logged at DEBUG and swallowed). Every metric lives on
one dedicated :class:`CollectorRegistry` held by a :class:`Metrics` object, never on the
global default registry, so tests can start from a fresh one (:func:`reset`).

Labels are bounded: task keys (the seven, else ``other``), outcomes, the section 15
error codes, ``via`` in notify|poll|takeover, and model names known in ``cfg.pricing``
(else ``other``). Never job ids, prompts or error text.

Process metrics (this daemon, since it started):

* ``enginev2_jobs_total{outcome}``                  succeeded | failed | canceled
* ``enginev2_job_duration_seconds{outcome}``        histogram, created -> finished
* ``enginev2_tasks_total{task_key,outcome}``        one per attempt end: succeeded |
  failed | retry | canceled, and ``skipped`` for conditional skips
* ``enginev2_task_duration_seconds{task_key}``      histogram, one per attempt
* ``enginev2_task_attempts_total{task_key}``
* ``enginev2_fallback_total{error_code}``           failed jobs, by section 15 code
* ``enginev2_tokens_total{model,direction}``        direction in | out
* ``enginev2_images_total{model}``                  generated images (asset task)
* ``enginev2_cost_usd_total{task_key}``
* ``enginev2_running_jobs``                         gauge
* ``enginev2_jobs_claimed_total{via}``              notify | poll | capacity | takeover
* ``enginev2_pickup_latency_seconds{via}``          histogram, submit -> first claim
* ``enginev2_lease_takeovers_total``
* ``enginev2_listener_reconnects_total``
* ``enginev2_notifications_missed_total``           work found by polling, not NOTIFY
* ``enginev2_engine_enabled{switch}``               env | fleet | effective: 1 on, 0 off
* ``enginev2_disabled_failovers_total``             jobs failed over because v2 is off

Every bounded label combination exists from the start with value 0 (task keys x
outcomes, the priced models x directions, error codes, claim paths), so ``rate()`` and
``increase()`` see the first event of every series, after every restart too.

Fleet-wide SLO gauges (design 18, from the database, see :mod:`enginev2d.slo`), each
with label ``engine="v2"`` and, when ``metrics.v1_baseline_query`` is set, ``engine="v1"``:
``enginev2_slo_success_rate``, ``enginev2_slo_latency_p50_seconds``,
``enginev2_slo_latency_p95_seconds``, ``enginev2_slo_cost_per_job_usd``,
``enginev2_slo_retry_rate``, ``enginev2_slo_fallback_rate``; plus
``enginev2_slo_jobs_finished`` (the window's denominator), ``enginev2_slo_window_seconds``,
``enginev2_slo_up`` (1 when the figures are fresh), ``enginev2_slo_v1_up`` (1 when the
baseline query answered) and ``enginev2_slo_last_success_timestamp_seconds``.
A figure without data (no finished job in the window) is left out rather than exported
as NaN. The figures are computed by :class:`SloRefresher` on a background thread every
``metrics.refresh_s`` with ``statement_timeout = metrics.query_timeout_ms``; a scrape only
reads the last snapshot, so it answers at once even with the database down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .config import TASK_KEYS, Config, ModelPrice, _default_pricing
from .errors import DESIGN_CODES, V2_UNKNOWN
from .status import RUN_TERMINAL

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from .slo import SloReport

logger = logging.getLogger(__name__)

# Model calls take seconds to minutes: buckets up to 10 minutes.
TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600)
JOB_BUCKETS = (1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1800)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
PICKUP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

JOB_OUTCOMES = frozenset(s.value for s in RUN_TERMINAL)
TASK_OUTCOMES = frozenset({"succeeded", "failed", "retry", "canceled", "skipped"})
CLAIM_VIA = frozenset({"notify", "poll", "capacity", "takeover"})
PICKUP_VIA = CLAIM_VIA - {"takeover"}  # a takeover has no pickup latency
DIRECTIONS = ("in", "out")
SWITCHES = ("env", "fleet", "effective")
COMPLETER_PATHS = ("set_based", "one_by_one")  # enginev2_completer_items{path}
OTHER = "other"


def _bounded(value: str | None, allowed: Iterable[str], default: str = OTHER) -> str:
    return value if value is not None and value in allowed else default


class Metrics:
    """The process metrics on their own registry, plus the known model names."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.known_models: frozenset[str] = frozenset(_default_pricing())
        r = self.registry
        self.jobs = Counter("enginev2_jobs", "Jobs finished, by outcome.", ["outcome"], registry=r)
        self.job_duration = Histogram(
            "enginev2_job_duration_seconds",
            "Job duration from submission to its end, by outcome.",
            ["outcome"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.tasks = Counter(
            "enginev2_tasks",
            "Task attempt ends (succeeded|failed|retry|canceled) and skips, by task key.",
            ["task_key", "outcome"],
            registry=r,
        )
        self.task_duration = Histogram(
            "enginev2_task_duration_seconds",
            "Duration of one task attempt.",
            ["task_key"],
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.task_attempts = Counter(
            "enginev2_task_attempts", "Task attempts run.", ["task_key"], registry=r
        )
        self.fallbacks = Counter(
            "enginev2_fallback",
            "Jobs handed back to v1 (failed), by section 15 error code.",
            ["error_code"],
            registry=r,
        )
        self.tokens = Counter(
            "enginev2_tokens",
            "Model tokens, by model (known in pricing, else other) and direction (in|out).",
            ["model", "direction"],
            registry=r,
        )
        self.images = Counter(
            "enginev2_images", "Images generated, by model.", ["model"], registry=r
        )
        self.cost = Counter(
            "enginev2_cost_usd", "Model cost in USD, by task key.", ["task_key"], registry=r
        )
        self.running = Gauge(
            "enginev2_running_jobs", "Jobs this daemon is running now.", registry=r
        )
        self.claims = Counter(
            "enginev2_jobs_claimed",
            "Jobs claimed by this daemon, by how the work was found (notify|poll|takeover).",
            ["via"],
            registry=r,
        )
        self.pickup = Histogram(
            "enginev2_pickup_latency_seconds",
            "Submission commit to first claim of a job.",
            ["via"],
            buckets=PICKUP_BUCKETS,
            registry=r,
        )
        self.takeovers = Counter(
            "enginev2_lease_takeovers",
            "Jobs taken over from a daemon whose lease expired.",
            registry=r,
        )
        self.reconnects = Counter(
            "enginev2_listener_reconnects",
            "Re-established LISTEN connections.",
            registry=r,
        )
        self.missed = Counter(
            "enginev2_notifications_missed",
            "Jobs found by the safety poll instead of a NOTIFY.",
            registry=r,
        )
        self.engine_enabled = Gauge(
            "enginev2_engine_enabled",
            "1 while v2 is on for this daemon: env (ENGINE_V2_ENABLED), fleet (enginev2d"
            " enable/disable), effective (both).",
            ["switch"],
            registry=r,
        )
        self.disabled_failovers = Counter(
            "enginev2_disabled_failovers",
            "Jobs this daemon failed over to v1 because v2 is switched off.",
            registry=r,
        )
        self.batch_items = Histogram(
            "enginev2_completer_batch_items",
            "Hand-offs committed together by the group completer (issue 17), per commit.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.completer_items = Counter(
            "enginev2_completer_items",
            "Hand-offs the group completer committed, by how they were recorded: set_based"
            " (together, in one statement per kind of row) or one_by_one (each by its own"
            " function call, in a batch or alone).",
            ["path"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "enginev2_completer_commit_seconds",
            "Time the group completer took to write and commit one batch.",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.slo: SloCollector | None = None
        self._zero_fixed()
        self._zero_models(_default_pricing())

    def _zero_fixed(self) -> None:
        """Every child of the fixed label sets exists from the start with value 0."""
        for outcome in sorted(JOB_OUTCOMES):
            self.jobs.labels(outcome)
            self.job_duration.labels(outcome)
        for key in TASK_KEYS:
            for outcome in sorted(TASK_OUTCOMES):
                self.tasks.labels(key, outcome)
            self.task_duration.labels(key)
            self.task_attempts.labels(key)
            self.cost.labels(key)
        for code in sorted(DESIGN_CODES):
            self.fallbacks.labels(code)
        for via in sorted(CLAIM_VIA):
            self.claims.labels(via)
        for via in sorted(PICKUP_VIA):
            self.pickup.labels(via)
        for switch in SWITCHES:
            self.engine_enabled.labels(switch)
        for path in COMPLETER_PATHS:
            self.completer_items.labels(path)

    def _zero_models(self, pricing: Mapping[str, ModelPrice]) -> None:
        """Token series for every priced model and direction, image series for the image
        models: created at 0 so the cost and token panels count from the first call."""
        for model, price in sorted(pricing.items()):
            for direction in DIRECTIONS:
                self.tokens.labels(model, direction)
            if price.per_image:
                self.images.labels(model)

    def configure(self, cfg: Config) -> None:
        """Bound the model label to the models priced in this config."""
        self.known_models = frozenset(cfg.pricing)
        self._zero_models(cfg.pricing)

    def model_label(self, model: str | None) -> str:
        return _bounded(model, self.known_models)


_current = Metrics()
_lock = threading.Lock()


def current() -> Metrics:
    return _current


def reset(registry: CollectorRegistry | None = None) -> Metrics:
    """Start from fresh metrics (tests); the hooks write to the new object from now on."""
    global _current
    with _lock:
        _current = Metrics(registry)
    return _current


def configure(cfg: Config) -> Metrics:
    _current.configure(cfg)
    return _current


def _guard(action: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # a metrics bug must never break a job
        logger.debug("metrics hook failed", exc_info=True, extra={"action": action})


# --------------------------------------------------------------------------- hooks


def task_attempt_finished(
    task_key: str,
    outcome: str,  # succeeded | failed | retry | canceled
    duration_s: float,
    *,
    model: str | None = None,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost_usd: float = 0.0,
) -> None:
    """One attempt of a task ended."""

    def do() -> None:
        m = _current
        key = _bounded(task_key, TASK_KEYS)
        m.tasks.labels(key, _bounded(outcome, TASK_OUTCOMES)).inc()
        m.task_attempts.labels(key).inc()
        m.task_duration.labels(key).observe(max(0.0, float(duration_s)))
        if tokens_in or tokens_out:
            label = m.model_label(model)
            if tokens_in:
                m.tokens.labels(label, "in").inc(max(0, int(tokens_in)))
            if tokens_out:
                m.tokens.labels(label, "out").inc(max(0, int(tokens_out)))
        if cost_usd:
            m.cost.labels(key).inc(max(0.0, float(cost_usd)))

    _guard("metrics_task_attempt", do)


def images_generated(model: str | None, count: int) -> None:
    """Images produced by an image model (the asset task)."""

    def do() -> None:
        if count > 0:
            _current.images.labels(_current.model_label(model)).inc(count)

    _guard("metrics_images", do)


def batch_committed(items: int, seconds: float, *, set_based: int = 0) -> None:
    """The group completer committed ``items`` hand-offs in one transaction, of which
    ``set_based`` were recorded by the set-based path."""

    def do() -> None:
        if items > 0:
            _current.batch_items.observe(items)
            _current.batch_seconds.observe(max(0.0, seconds))
            fast = min(max(0, set_based), items)
            set_path, one_path = COMPLETER_PATHS
            _current.completer_items.labels(set_path).inc(fast)
            _current.completer_items.labels(one_path).inc(items - fast)

    _guard("metrics_batch", do)


def task_skipped(task_key: str) -> None:
    """A task was skipped by a conditional rule (design 7.4)."""
    _guard(
        "metrics_task_skipped",
        lambda: _current.tasks.labels(_bounded(task_key, TASK_KEYS), "skipped").inc(),
    )


def job_finished(outcome: str, duration_s: float, *, error_code: str | None = None) -> None:
    """A job reached succeeded/failed/canceled; failures count as fallbacks by error_code."""

    def do() -> None:
        m = _current
        label = _bounded(outcome, JOB_OUTCOMES)
        m.jobs.labels(label).inc()
        m.job_duration.labels(label).observe(max(0.0, float(duration_s)))
        if outcome == "failed":
            m.fallbacks.labels(_bounded(error_code, DESIGN_CODES, V2_UNKNOWN)).inc()

    _guard("metrics_job_finished", do)


def job_claimed(pickup_latency_s: float | None, *, takeover: bool, via: str) -> None:
    """A daemon claimed a job (via = notify | poll | capacity | takeover).

    Only ``poll`` counts as a missed notification: ``capacity`` is a job that waited
    for a free slot after its NOTIFY arrived."""

    def do() -> None:
        m = _current
        label = "takeover" if takeover else _bounded(via, CLAIM_VIA, "poll")
        m.claims.labels(label).inc()
        if takeover:
            m.takeovers.inc()
        elif label == "poll":
            m.missed.inc()
        if pickup_latency_s is not None and not takeover:
            m.pickup.labels(label).observe(max(0.0, float(pickup_latency_s)))

    _guard("metrics_job_claimed", do)


def running_jobs(count: int) -> None:
    """Jobs this daemon is running now."""
    _guard("metrics_running_jobs", lambda: _current.running.set(count))


def listener_reconnected() -> None:
    """The LISTEN connection was re-established."""
    _guard("metrics_listener_reconnected", lambda: _current.reconnects.inc())


def engine_switch(*, env: bool, fleet: bool) -> None:
    """The daemon's view of the two switches (effective = both on)."""

    def do() -> None:
        g = _current.engine_enabled
        g.labels("env").set(int(env))
        g.labels("fleet").set(int(fleet))
        g.labels("effective").set(int(env and fleet))

    _guard("metrics_engine_switch", do)


def disabled_failover() -> None:
    """A job was failed over to v1 because v2 is switched off."""
    _guard("metrics_disabled_failover", lambda: _current.disabled_failovers.inc())


# --------------------------------------------------------------------------- SLO gauges


@dataclass(frozen=True)
class SloSnapshot:
    report: SloReport | None  # None until the first successful refresh
    ok: bool  # the last refresh succeeded
    at: float  # time.time() of the last successful refresh (0 = never)


class SloCollector(Collector):
    """Exports the last SLO snapshot. Never touches the database, never raises."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._snapshot = SloSnapshot(None, False, 0.0)
        self._lock = threading.Lock()

    def update(self, snapshot: SloSnapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    @property
    def snapshot(self) -> SloSnapshot:
        with self._lock:
            return self._snapshot

    def fresh(self, snap: SloSnapshot, now: float | None = None) -> bool:
        """Fresh: the last refresh succeeded, and not longer ago than three periods."""
        now = time.time() if now is None else now
        max_age = 3 * self.cfg.metrics.refresh_s + self.cfg.metrics.query_timeout_ms / 1000
        return snap.ok and snap.report is not None and now - snap.at <= max_age

    def describe(self) -> list[Metric]:
        return []  # registration must never call collect() (the database may be down)

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._collect()
        except Exception:
            logger.warning("SLO collector failed", exc_info=True, extra={"action": "slo_collect"})
            up = GaugeMetricFamily("enginev2_slo_up", "1 when the SLO gauges are fresh.")
            up.add_metric([], 0)
            yield up

    def _collect(self) -> Iterator[Metric]:
        from .slo import SLO_KEYS

        snap = self.snapshot
        up = GaugeMetricFamily(
            "enginev2_slo_up", "1 when the SLO gauges are fresh (last DB refresh succeeded)."
        )
        up.add_metric([], 1 if self.fresh(snap) else 0)
        yield up
        last = GaugeMetricFamily(
            "enginev2_slo_last_success_timestamp_seconds",
            "Unix time of the last successful SLO refresh (0 = never).",
        )
        last.add_metric([], snap.at)
        yield last
        window = GaugeMetricFamily(
            "enginev2_slo_window_seconds", "Window the SLO gauges cover (jobs finished in it)."
        )
        window.add_metric([], self.cfg.metrics.slo_window_s)
        yield window
        report = snap.report
        if report is None:
            return
        if self.cfg.metrics.v1_baseline_query.strip():
            v1_up = GaugeMetricFamily(
                "enginev2_slo_v1_up", "1 when the v1 baseline query answered at the last refresh."
            )
            v1_up.add_metric([], 1 if report.v1 is not None else 0)
            yield v1_up
        finished = GaugeMetricFamily(
            "enginev2_slo_jobs_finished",
            "v2 jobs that finished (succeeded or failed) in the SLO window.",
        )
        finished.add_metric([], report.counts.get("jobs_finished", 0))
        yield finished
        helps = {
            "success_rate": "Succeeded / finished jobs in the window.",
            "latency_p50_seconds": "Median submission-to-finish time of succeeded jobs.",
            "latency_p95_seconds": "95th percentile submission-to-finish time of succeeded jobs.",
            "cost_per_job_usd": "Model cost (sum of attempts) per finished job, USD.",
            "retry_rate": "Attempts beyond each task's first / tasks run.",
            "fallback_rate": "Jobs handed back to v1 / finished jobs.",
        }
        for key in SLO_KEYS:
            fam = GaugeMetricFamily(f"enginev2_slo_{key}", helps[key], labels=["engine"])
            v2 = report.v2.get(key)
            if v2 is not None:
                fam.add_metric(["v2"], v2)
            v1 = None if report.v1 is None else report.v1.get(key)
            if v1 is not None:
                fam.add_metric(["v1"], v1)
            yield fam


class SloRefresher:
    """Recomputes the SLO snapshot on a daemon thread every ``metrics.refresh_s``.

    Each refresh opens a short-lived connection whose ``statement_timeout`` is
    ``metrics.query_timeout_ms``: a slow or absent database only makes the figures stale
    (``enginev2_slo_up 0``), never a scrape slow.
    """

    def __init__(self, cfg: Config, collector: SloCollector) -> None:
        self.cfg = cfg
        self.collector = collector
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Condition()
        self.refreshes = 0  # refreshes finished (succeeded or not)

    def connect_kwargs(self) -> dict[str, Any]:
        from .db import connect_kwargs

        kw = connect_kwargs(self.cfg, application_name="enginev2d-metrics")
        timeout = self.cfg.metrics.query_timeout_ms
        kw["options"] = (
            f"-c statement_timeout={timeout} -c idle_in_transaction_session_timeout={timeout * 2}"
        )
        kw["connect_timeout"] = max(1, min(kw["connect_timeout"], round(timeout / 1000) or 1))
        return kw

    def refresh_once(self) -> bool:
        """One refresh, synchronously; True when it succeeded. Never raises."""
        try:
            return self._refresh()
        finally:
            with self._done:
                self.refreshes += 1
                self._done.notify_all()

    def wait_refreshes(self, count: int, timeout: float) -> bool:
        """Block until ``count`` refreshes have finished (tests, start-up checks)."""
        with self._done:
            return self._done.wait_for(lambda: self.refreshes >= count, timeout)

    def _refresh(self) -> bool:
        import psycopg
        from psycopg.rows import dict_row

        from .slo import compute

        prev = self.collector.snapshot
        try:
            with psycopg.connect(
                self.cfg.database.url,
                autocommit=True,
                row_factory=dict_row,
                **self.connect_kwargs(),
            ) as conn:
                report = compute(
                    conn,
                    self.cfg.metrics.slo_window_s,
                    v1_query=self.cfg.metrics.v1_baseline_query,
                )
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            logger.warning(
                "SLO refresh failed: %s",
                first,
                extra={"action": "slo_refresh_failed"},
            )
            self.collector.update(SloSnapshot(prev.report, False, prev.at))
            return False
        if report.v1_error:
            logger.warning(report.v1_error, extra={"action": "slo_v1_baseline_failed"})
        self.collector.update(SloSnapshot(report, True, time.time()))
        logger.debug("SLO figures refreshed", extra={"action": "slo_refresh"})
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.refresh_once()
            self._stop.wait(self.cfg.metrics.refresh_s)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="enginev2d-slo-refresh", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def install_slo(cfg: Config, metrics: Metrics | None = None) -> SloRefresher:
    """Register the SLO collector on the metrics' registry (once); return its refresher."""
    m = metrics or _current
    if m.slo is None:
        m.slo = SloCollector(cfg)
        m.registry.register(m.slo)
    else:
        m.slo.cfg = cfg
    return SloRefresher(cfg, m.slo)


# --------------------------------------------------------------------------- HTTP


class MetricsServer:
    """``/metrics`` on a daemon thread, plus the SLO refresher feeding it."""

    def __init__(
        self,
        server: WSGIServer,
        thread: threading.Thread,
        refresher: SloRefresher | None,
        metrics: Metrics,
    ) -> None:
        self.server = server
        self.thread = thread
        self.refresher = refresher
        self.metrics = metrics

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def shutdown(self) -> None:
        if self.refresher is not None:
            self.refresher.stop(timeout=5)
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        logger.info("metrics server stopped", extra={"action": "metrics_stop"})

    close = shutdown


def start_http_server(
    cfg: Config,
    *,
    metrics: Metrics | None = None,
    slo: bool = True,
    refresh_in_background: bool = True,
) -> MetricsServer:
    """Serve ``/metrics`` on ``cfg.metrics.host:port`` (port 0 picks a free one).

    Configures the model label from ``cfg.pricing``, registers the SLO collector and
    starts its background refresher (``slo=False`` leaves both out;
    ``refresh_in_background=False`` leaves refreshing to ``server.refresher.refresh_once``).
    """
    from prometheus_client import start_http_server as prom_start

    m = metrics or _current
    m.configure(cfg)
    refresher = install_slo(cfg, m) if slo else None
    server, thread = prom_start(cfg.metrics.port, addr=cfg.metrics.host, registry=m.registry)
    if refresher is not None and refresh_in_background:
        refresher.start()
    result = MetricsServer(server, thread, refresher, m)
    logger.info(
        "metrics on %s",
        result.url,
        extra={"action": "metrics_start", "port": result.port},
    )
    return result
