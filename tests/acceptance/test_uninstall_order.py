"""Uninstall under a running daemon (issue 16 item 4): the daemon notices its schema is
gone, says so in one line and exits non-zero; a restart (what systemd and pm2 do)
refuses with one line as well, instead of a warning every poll forever."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import ENGINEV2D, Harness, harness

pytestmark = pytest.mark.slow


@pytest.fixture
def h(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    with harness(db_url, tmp_path) as hh:
        yield hh


def loud(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("level") in ("WARNING", "ERROR", "CRITICAL")]


def test_daemon_exits_with_one_line_when_its_schema_is_dropped(h: Harness):
    d = h.start(poll_interval_s=0.3)
    done = subprocess.run(
        [ENGINEV2D, "--config", str(h.root / "daemon0.toml"), "uninstall", "--yes"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert d.wait(20) == 3
    lines = loud(d.records())
    assert [r["action"] for r in lines] == ["schema_gone"], d.text()
    assert "uninstall" in lines[0]["message"] and "Traceback" not in d.text()

    again = h.start(ready=False)  # the supervisor's restart
    assert again.wait(30) != 0
    out = again.text().strip().splitlines()
    assert len(out) == 1 and "engine_v2 is not installed" in out[0], out
