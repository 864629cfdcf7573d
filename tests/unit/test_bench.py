"""The benchmark harness's pure parts: statistics, CPU accounting, options, config."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.common import (
    DAG_EDGES,
    SCALED_LATENCY_MS,
    TASK_KEYS,
    CpuMeter,
    ProcTimes,
    critical_path_ms,
    dag_shape,
    inject_options,
    parse_stat,
    percentile,
    ready_successors,
    summarize,
    tree_ticks,
)
from bench.daemonproc import make_config, to_toml
from enginev2d.config import load_config


def test_percentile_interpolates_like_numpy() -> None:
    data = [float(x) for x in range(1, 101)]  # 1..100
    assert percentile(data, 50) == pytest.approx(50.5)
    assert percentile(data, 99) == pytest.approx(99.01)
    assert percentile(data, 0) == 1.0
    assert percentile(data, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # unsorted input
    assert percentile([], 50) != percentile([], 50)  # nan
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s["n"] == 4 and s["min"] == 1.0 and s["max"] == 4.0 and s["mean"] == 2.5
    assert summarize([]) == {"n": 0}


def test_critical_path_of_the_scaled_dag_is_280_ms() -> None:
    assert critical_path_ms(SCALED_LATENCY_MS) == 280
    # asset longer than the codegen branch moves the path
    assert critical_path_ms({**SCALED_LATENCY_MS, "asset": 500}) == 10 + 30 + 500 + 10


def test_parse_stat_with_spaces_and_parens_in_comm() -> None:
    fields = ["S", "7", "1", "1", "0", "-1", "0", "0", "0", "0", "0"]
    tail = " ".join([*fields, "120", "30", "5", "6", "20", "0"])
    pt = parse_stat(f"4242 (postgres: a (b) c) {tail}")
    assert pt == ProcTimes(pid=4242, ppid=7, utime=120, stime=30, cutime=5, cstime=6)


def test_parse_stat_of_this_process() -> None:
    pt = parse_stat(Path(f"/proc/{os.getpid()}/stat").read_text())
    assert pt.pid == os.getpid() and pt.ppid == os.getppid()


def test_tree_ticks_counts_reaped_and_live_descendants_once() -> None:
    procs = [
        ProcTimes(1, 0, 100, 100, 0, 0),  # unrelated
        ProcTimes(10, 1, 5, 5, 40, 10),  # postmaster: own 10, reaped children 50
        ProcTimes(11, 10, 20, 10, 0, 0),  # live backend
        ProcTimes(12, 10, 3, 2, 1, 0),  # live backend with a reaped child
        ProcTimes(13, 12, 1, 1, 0, 0),  # grandchild
    ]
    assert tree_ticks(10, procs) == 10 + 50 + 30 + 6 + 2
    assert tree_ticks(99, procs) == 0


def test_cpu_meter_subtracts_excluded_backends() -> None:
    meter = CpuMeter({"self": os.getpid()}, [os.getpid()], "self")
    a = meter.snapshot()
    sum(i * i for i in range(200_000))
    b = meter.snapshot()
    d = meter.delta(a, b)
    assert d["excluded"] >= 0
    assert d["self"] >= 0  # tree minus own time: only children remain


def test_inject_options_cover_every_task_and_pass_submit_job_rules() -> None:
    opts = inject_options(SCALED_LATENCY_MS)
    assert set(opts) == {"inject"}
    assert tuple(opts["inject"]) == TASK_KEYS
    for key, spec in opts["inject"].items():
        assert set(spec) <= {"output", "latency_ms", "fail_times"}
        assert isinstance(spec["output"], dict)
        assert spec["latency_ms"] == SCALED_LATENCY_MS[key]
    assert opts["inject"]["qa_review"]["output"]["issues"] == 1  # fix runs
    assert "latency_ms" not in inject_options()["inject"]["intent"]


def test_bench_daemon_config_is_accepted_by_load_config(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path,
        "daemon-x",
        "postgresql://postgres@127.0.0.1:1/x",
        {"max_concurrent_jobs": 32, "poll_interval_s": 0.2, "job_timeout_s": 120.0},
        None,
    )
    path = tmp_path / "x.toml"
    path.write_text(to_toml(cfg))
    loaded = load_config(path, env={})
    assert loaded.daemon.max_concurrent_jobs == 32
    assert loaded.testing.allow_inject is True
    assert loaded.engine.enabled is True and loaded.engine.allowlist_only is False
    assert loaded.database.ssl is False and loaded.metrics.enabled is False
    assert loaded.logging.level == "WARNING"


def test_dag_shape_of_the_design_dag() -> None:
    shape = dag_shape()
    assert shape.roots == ("intent",) and shape.sinks == ("publish_prep",)
    assert shape.successors["plan"] == ("codegen", "asset")
    assert shape.joins == {"publish_prep": 2}
    with pytest.raises(ValueError, match="outside"):
        dag_shape(TASK_KEYS, [*DAG_EDGES, ("fix", "deploy")])


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=False))
def test_chaining_by_ready_successors_runs_every_task_once_after_its_predecessors(
    rnd: random.Random,
) -> None:
    """The pgqueuer peer's bookkeeping: whatever order the ready tasks finish in, each
    task becomes ready exactly once, after all its predecessors finished."""
    shape = dag_shape()
    counters = dict(shape.joins)  # the join_left rows of one DAG
    ready, done = list(shape.roots), []
    while ready:
        key = ready.pop(rnd.randrange(len(ready)))
        preds = {a for a, b in DAG_EDGES if b == key}
        assert preds <= set(done), f"{key} ran before {preds - set(done)}"
        done.append(key)
        left = {}
        for s in shape.successors[key]:
            if s in shape.joins:
                counters[s] -= 1  # the worker's UPDATE ... RETURNING remaining
                left[s] = counters[s]
        ready += ready_successors(shape, key, left)
    assert sorted(done) == sorted(TASK_KEYS)


def test_the_table_shows_the_pgqueuer_peer_on_the_throughput_rows_only() -> None:
    from bench.run import render

    peer = {"jobs_per_s": 280.0, "tasks_per_s": 1960.0, "cpu_s_per_1000_tasks": 0.74}
    rows = {r.split(" | ")[0].lstrip("| "): r for r in render({"pgqueuer": peer}).splitlines()}
    assert rows["2. throughput, tasks/s"].endswith("| 1960 |")
    assert rows["2. CPU s per 1,000 tasks (engine + whole PostgreSQL cluster)"].endswith("| 0.74 |")
    assert rows["3. pickup p99 with NOTIFY (ms)"].endswith("|  |")
    skipped = render({}).splitlines()
    assert any(r.startswith("| 2. throughput, tasks/s") and r.endswith("| n/a |") for r in skipped)


def test_body_floor_runs_a_whole_job_and_leaves_no_staging(tmp_path: Path) -> None:
    """bench.body_floor's job: every body succeeds on the bench's injected outputs (a
    failing body raises), and nothing of the job is left in the staging root."""
    from bench import body_floor

    body_floor.one_job(body_floor.config(tmp_path), inject_options())
    assert list((tmp_path / "s").iterdir()) == []
