"""The shipped supervision files agree with the daemon's shutdown timing."""

import re
from pathlib import Path

from enginev2d.config import DaemonConfig
from enginev2d.daemon import Daemon

ROOT = Path(__file__).resolve().parents[2]
SHUTDOWN_S = DaemonConfig().shutdown_grace_s + Daemon.ABORT_JOIN_S


def _unit() -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in (ROOT / "systemd" / "enginev2d.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def test_systemd_unit_is_notify_hardened_and_outlasts_the_grace_period() -> None:
    unit = _unit()
    assert unit["Type"] == ["notify"]
    assert int(unit["WatchdogSec"][0]) > 0
    assert int(unit["TimeoutStopSec"][0]) > SHUTDOWN_S
    assert unit["KillSignal"] == ["SIGTERM"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    # staging and projects under ONE writable mount (a rename across mounts is EXDEV)
    assert len(unit["ReadWritePaths"]) == 1 and len(unit["ReadWritePaths"][0].split()) == 1
    assert "EnvironmentFile" in unit and unit["ExecStart"][0].endswith(" run")


def test_env_example_lists_the_design_variables() -> None:
    text = (ROOT / "systemd" / "enginev2d.env.example").read_text()
    for var in ("DATABASE_URL", "DATABASE_SSL", "ENGINE_V2_ENABLED", "ENGINE_V2_ALLOWLIST"):
        assert re.search(rf"^{var}=", text, re.M), var


def test_pm2_kill_timeout_outlasts_the_grace_period() -> None:
    text = (ROOT / "ecosystem.config.js").read_text()
    kill_ms = int(re.search(r"kill_timeout:\s*(\d+)", text).group(1))
    assert kill_ms / 1000 > SHUTDOWN_S
    assert re.search(r"interpreter:\s*'none'", text)
