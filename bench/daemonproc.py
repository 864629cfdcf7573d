"""`enginev2d run` as a subprocess with a bench TOML config."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import BenchError, Deadline

REPO = Path(__file__).resolve().parent.parent


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(sections: dict[str, dict[str, Any]]) -> str:
    out = []
    for name, keys in sections.items():
        out.append(f"[{name}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in keys.items()]
        out.append("")
    return "\n".join(out)


def daemon_config_keys() -> set[str]:
    """The keys DaemonConfig knows today (so optional knobs are only set when present)."""
    from enginev2d.config import DaemonConfig

    return {f.name for f in dataclasses.fields(DaemonConfig)}


def run_command() -> list[str]:
    """`enginev2d` from this checkout: `python -m` with cwd = the repository puts the
    repository first on sys.path, so the daemon runs the same engine code as the bench
    even when the venv's editable install points at another checkout."""
    return [sys.executable, "-m", "enginev2d.cli"]


def run_help() -> str | None:
    """`enginev2d run --help`, or None when there is no `run` command yet."""
    try:
        res = subprocess.run(
            [*run_command(), "run", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=str(REPO),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def make_config(
    state_dir: Path, name: str, url: str, daemon: dict[str, Any], extra: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """The daemon's TOML sections. Projects and staging are the daemon's own directories
    under ``state_dir/name`` unless ``extra["paths"]`` names others (daemons that take
    over each other's jobs must share one projects_root and one staging_root)."""
    paths = dict((extra or {}).get("paths") or {})
    paths.setdefault("projects_root", str(state_dir / name / "projects"))
    paths.setdefault("staging_root", str(state_dir / name / "staging"))
    for key in ("projects_root", "staging_root"):
        Path(paths[key]).mkdir(parents=True, exist_ok=True)
    cfg: dict[str, dict[str, Any]] = {
        "database": {"url": url, "ssl": False},
        "engine": {"enabled": True, "allowlist_only": False},
        "daemon": daemon,
        "paths": paths,
        "providers": {"default": "offline"},
        "metrics": {"enabled": False},
        "logging": {"level": "WARNING", "format": "text"},
        "testing": {"allow_inject": True},
    }
    for section, keys in (extra or {}).items():
        cfg.setdefault(section, {}).update(keys)
    return cfg


class Daemon:
    """One `enginev2d run` process; every wait on it has a deadline."""

    def __init__(
        self,
        state_dir: Path,
        name: str,
        url: str,
        daemon: dict[str, Any],
        extra: dict[str, Any] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.args = args
        self.config_path = state_dir / f"{name}.toml"
        self.log_path = state_dir / f"{name}.log"
        self.config = make_config(state_dir, name, url, daemon, extra)
        self.config_path.write_text(to_toml(self.config))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not (
                k.startswith(("ENGINEV2_", "ENGINE_V2_")) or k in ("DATABASE_URL", "DATABASE_SSL")
            )
        }
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*run_command(), "--config", str(self.config_path), "run", *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(REPO),
            env=env,
            start_new_session=True,
        )

    def exited(self) -> int | None:
        """The exit code once the process has ended (its log is closed then), else None."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is not None and not self._log.closed:
            self._log.close()
        return rc

    def kill(self, timeout_s: float = 10.0) -> int:
        """SIGKILL the daemon's whole process group (its git children too, as systemd's
        control-group kill would) and reap it. Returns the exit code (-9)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        rc = self.proc.wait(timeout=timeout_s)
        self._log.close()
        return rc

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def alive(self) -> None:
        """Raise BenchError when the daemon process has exited."""
        if self.proc is None:
            raise BenchError(f"daemon {self.name} not started")
        rc = self.proc.poll()
        if rc is not None:
            raise BenchError(
                f"daemon {self.name} (pid {self.proc.pid}) died with exit code {rc}; "
                f"log {self.log_path}:\n{self.log_tail()}"
            )

    def stop(self, grace_s: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)
        finally:
            self._log.close()

    def wait_listening(self, conn: Any, deadline: Deadline) -> bool:
        """Wait until some backend LISTENs on engine_v2_jobs (the daemon's listener).
        Returns False (without raising) when none shows up before the deadline, e.g.
        when the daemon runs with its listener disabled."""
        while deadline.remaining > 0:
            self.alive()
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND query ILIKE 'LISTEN%engine_v2_jobs%'"
            ).fetchone()
            if row and row[0]:
                return True
            time.sleep(0.05)
        return False
