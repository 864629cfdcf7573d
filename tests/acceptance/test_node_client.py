"""The Node client's own suite (``clients/node``, ``node --test``) against this suite's
PostgreSQL and the real daemon: the database is a fresh clone, the client connects as the
host server's login role (a member of ``engine_v2_server``), and the Node tests start and
stop ``enginev2d run`` themselves (some of them need the daemon down)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .harness import ENGINEV2D, daemon_sections, write_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "node"
TESTS = ("test/unit.test.mjs", "test/engine.test.mjs")


def node_or_fail() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/ensure-system-deps.sh installs it)")
    if not (CLIENT / "node_modules" / "pg").is_dir():
        pytest.fail("clients/node has no node_modules: run `make node-deps` (make test does)")
    return node


def test_node_client_suite(db_url: str, server_url: str, tmp_path: Path) -> None:
    node = node_or_fail()
    config = write_config(
        tmp_path / "daemon.toml",
        daemon_sections(db_url, tmp_path, lease_s=3.0, job_timeout_s=60.0),
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_V2_", "DATABASE_"))},
        "ENGINEV2_TEST_SERVER_URL": server_url,
        "ENGINEV2_TEST_ADMIN_URL": db_url,
        "ENGINEV2_TEST_DAEMON": json.dumps([ENGINEV2D, "--config", str(config), "run"]),
        "ENGINEV2_TEST_DAEMON_LOG": str(tmp_path / "daemon.log"),
    }
    proc = subprocess.run(
        [node, "--test", *TESTS],
        cwd=CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-12000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped|cancelled) (\d+)$", output, re.M))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", counts
    assert int(counts["pass"]) >= 20, counts
