"""``daemon.cpu_affinity`` on real threads and real children: every thread of the process
is pinned, threads started later too, and the children the daemon starts (Chromium, git,
any process started through ``unpinned``) keep the CPUs the process had before."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from enginev2d import affinity, gitrepo
from enginev2d.browser import Chromium, find_chromium
from enginev2d.config import Config
from enginev2d.doctor import check_cpus
from enginev2d.errors import ConfigError

BEFORE = affinity.available()

pytestmark = pytest.mark.skipif(len(BEFORE) < 2, reason="needs two CPUs to tell a pin apart")


@pytest.fixture
def pinned() -> Iterator[frozenset[int]]:
    one = frozenset({max(BEFORE)})
    assert affinity.pin(affinity.format_cpu_list(one)) == one
    try:
        yield one
    finally:
        affinity.unpin()
    assert set(affinity.thread_cpus(os.getpid()).values()) == {BEFORE}


def test_every_thread_is_pinned_and_threads_started_later_too(pinned):
    started, release = threading.Event(), threading.Event()

    def later() -> None:
        started.set()
        release.wait(10)

    t = threading.Thread(target=later)
    t.start()
    try:
        assert started.wait(10)
        cpus = affinity.thread_cpus(os.getpid())
        assert t.native_id in cpus
        assert set(cpus.values()) == {pinned}
    finally:
        release.set()
        t.join()


def test_a_child_started_unpinned_gets_the_cpus_from_before_the_pin(pinned):
    probe = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
    inherited = subprocess.run(probe, capture_output=True, text=True, check=True).stdout
    assert inherited.strip() == str(sorted(pinned))  # what unpinned() is for
    with affinity.unpinned():
        out = subprocess.run(probe, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(sorted(BEFORE))
    assert affinity.thread_cpus(os.getpid())[threading.get_native_id()] == pinned


def test_git_runs_with_every_cpu(pinned, tmp_path):
    alias = "alias.cpus=!grep Cpus_allowed_list /proc/self/status"
    proc = gitrepo.git(tmp_path, "-c", alias, "cpus")
    listed = proc.stdout.split(":", 1)[1].strip()
    assert affinity.parse_cpu_list(listed) == BEFORE


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")
def test_chromium_runs_with_every_cpu(pinned):
    exe = find_chromium()
    assert exe is not None
    with Chromium(exe) as chromium:
        assert set(affinity.thread_cpus(chromium.pid).values()) == {BEFORE}


def test_a_cpu_the_process_may_not_use_is_refused_in_one_line():
    missing = max(BEFORE) + 1
    with pytest.raises(ConfigError) as err:
        affinity.pin(str(missing))
    assert str(err.value) == (
        f"config: daemon.cpu_affinity names CPU {missing}, which this process may not use "
        f"(allowed: {affinity.format_cpu_list(BEFORE)})"
    )
    assert set(affinity.thread_cpus(os.getpid()).values()) == {BEFORE}  # nothing pinned


def test_a_process_not_allowed_to_set_its_cpus_is_refused_in_one_line(monkeypatch):
    """What a seccomp filter without sched_setaffinity makes the call raise."""

    def refused(pid: int, cpus: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setaffinity", refused)
    with pytest.raises(ConfigError) as err:
        affinity.pin(str(max(BEFORE)))
    assert "must allow sched_setaffinity" in str(err.value)
    monkeypatch.undo()
    with affinity.unpinned():  # nothing was pinned: children are not touched either
        assert affinity.available() == BEFORE


def _cfg(spec: str) -> Config:
    base = Config()
    return dataclasses.replace(base, daemon=dataclasses.replace(base.daemon, cpu_affinity=spec))


def test_doctor_reports_the_pin_the_daemon_would_take_and_why_it_would_refuse(monkeypatch):
    cpu = max(BEFORE)
    assert check_cpus(_cfg("")).status == "ok"
    good = check_cpus(_cfg(str(cpu)))
    assert good.status == "ok" and f"CPU {cpu};" in good.detail
    assert affinity.format_cpu_list(BEFORE) in good.detail  # what the children keep
    assert set(affinity.thread_cpus(os.getpid()).values()) == {BEFORE}  # doctor pins nothing
    missing = check_cpus(_cfg(str(cpu + 1)))
    with pytest.raises(ConfigError) as err:
        affinity.pin(str(cpu + 1))
    assert missing.status == "fail" and missing.detail == str(err.value)  # the same line

    def refused(pid: int, cpus: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setaffinity", refused)
    blocked = check_cpus(_cfg(str(cpu)))
    assert blocked.status == "fail" and blocked.detail == affinity.REFUSED
