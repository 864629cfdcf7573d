"""The shipped pm2 file never overrides the operator's environment, and the commands its
comments give really switch the daemon (issue 16 item 1): the real daemon under real
pm2 (from the npm registry, installed by ``make test``), observed through its row in
``engine_v2.daemons``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from .harness import ENGINEV2D, daemon_sections, wait_for, write_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ECOSYSTEM = ROOT / "ecosystem.config.js"
PM2 = ROOT / ".venv" / "pm2" / "node_modules" / ".bin" / "pm2"


def documented(pattern: str) -> str:
    """A command line from the pm2 file's comments (``//   command``), exactly."""
    for line in ECOSYSTEM.read_text().splitlines():
        m = re.match(r"^//\s+(.*\S)\s*$", line)
        if m and re.fullmatch(pattern, m.group(1)):
            return m.group(1)
    raise AssertionError(f"ecosystem.config.js documents no command matching {pattern!r}")


class Pm2:
    def __init__(self, env: dict[str, str]) -> None:
        self.home = tempfile.mkdtemp(prefix="pm2-", dir="/tmp")  # short: unix socket path
        self.env = {**env, "PM2_HOME": self.home}

    def shell(self, command: str, **extra: str) -> None:
        env = {**self.env, **extra}
        env["PATH"] = f"{PM2.parent}:{env.get('PATH', '/usr/bin:/bin')}"
        done = subprocess.run(
            command, shell=True, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"

    def close(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.shell("pm2 kill")
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture
def pm2(db_url: str, tmp_path: Path) -> Iterator[Pm2]:
    if not PM2.exists():
        pytest.skip("pm2 is not installed (make test installs it where npm exists)")
    sections = daemon_sections(db_url, tmp_path)
    del sections["database"]["url"]  # from the environment, as in production
    sections["engine"]["enabled"] = False  # the environment must win over the file
    config = write_config(tmp_path / "daemon.toml", sections)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_V2_", "ENGINEV2_"))}
    base.update({"DATABASE_URL": db_url, "ENGINEV2_CONFIG": str(config)})
    p = Pm2(base)
    yield p
    p.close()


def daemons(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT daemon_id, env_enabled, stopped_at FROM engine_v2.daemons ORDER BY started_at"
        ).fetchall()


def live(db_url: str, count: int) -> dict[str, Any] | None:
    """The one live daemon, once ``count`` daemons have registered."""
    rows = daemons(db_url)
    alive = [r for r in rows if r["stopped_at"] is None]
    return alive[0] if len(rows) == count and len(alive) == 1 else None


def test_pm2_file_pins_nothing_and_its_documented_commands_work(pm2: Pm2, db_url: str, tmp_path):
    # The shipped file, with only the script path changed (this checkout's venv).
    wrapper = tmp_path / "ecosystem.config.js"
    wrapper.write_text(
        f"const app = require({json.dumps(str(ECOSYSTEM))}).apps[0];\n"
        f"module.exports = {{ apps: [{{ ...app, script: {json.dumps(ENGINEV2D)} }}] }};\n"
    )
    pm2.shell(f"pm2 start {wrapper}", ENGINE_V2_ENABLED="true")
    first = wait_for(lambda: live(db_url, 1), 30, "daemon under pm2 registered")
    assert first["env_enabled"] is True  # ENGINE_V2_ENABLED=true pm2 start: true

    pm2.shell(documented(r"ENGINE_V2_ENABLED=false pm2 restart enginev2d --update-env"))
    second = wait_for(lambda: live(db_url, 2), 30, "restarted daemon registered")
    assert second["daemon_id"] != first["daemon_id"]
    assert second["env_enabled"] is False  # the documented instant stop took effect

    pm2.shell("ENGINE_V2_ENABLED=true pm2 restart enginev2d --update-env")
    third = wait_for(lambda: live(db_url, 3), 30, "re-enabled daemon registered")
    assert third["env_enabled"] is True
    documented(r"enginev2d disable --reason .*")  # the fleet-wide switch is documented too
