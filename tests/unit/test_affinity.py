"""The CPU list syntax of ``daemon.cpu_affinity`` (taskset's and systemd's)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enginev2d.affinity import format_cpu_list, parse_cpu_list
from enginev2d.config import load_config
from enginev2d.errors import ConfigError


@pytest.mark.parametrize(
    ("spec", "cpus"),
    [("1", {1}), ("0,2", {0, 2}), ("4-7,9", {4, 5, 6, 7, 9}), (" 0 - 1 ", {0, 1}), ("3-3", {3})],
)
def test_lists_and_ranges_parse(spec: str, cpus: set[int]) -> None:
    assert parse_cpu_list(spec) == cpus


@pytest.mark.parametrize("spec", ["a", "1-", "-1", "3-1", "1,,2", "1.5", "0x1"])
def test_what_is_not_a_cpu_list_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_cpu_list(spec)


@given(st.sets(st.integers(0, 256), min_size=1))
def test_format_then_parse_gives_the_same_cpus(cpus: set[int]) -> None:
    text = format_cpu_list(cpus)
    assert parse_cpu_list(text) == cpus
    runs = sum(1 for c in cpus if c - 1 not in cpus)  # maximal runs of consecutive CPUs
    assert len(text.split(",")) == runs  # each run written once, as a range


def test_config_refuses_a_bad_list_at_load_with_one_line(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[daemon]\ncpu_affinity = "2-1"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, env={}, require_database=False)
    assert str(err.value) == "config: daemon.cpu_affinity: '2-1' is an empty range"


def test_config_default_pins_nothing() -> None:
    assert load_config(None, env={}, require_database=False).daemon.cpu_affinity == ""
