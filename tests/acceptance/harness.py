"""Running the real ``enginev2d run`` as a subprocess against a test database.

Not a test module (no ``test_`` prefix): the acceptance tests import it. Everything
waits on conditions with deadlines (the database, the daemon's JSON log), never on a
fixed sleep.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.waiting import wait_for

ENGINEV2D = str(Path(sys.executable).parent / "enginev2d")

# Section 7.3-shaped outputs for every task: no model runs; qa finds nothing, fix skips.
OUTPUTS: dict[str, dict[str, Any]] = {
    "intent": {"intent": "edit"},
    "plan": {
        "dimension": "2d",
        "skills": ["canvas"],
        "image_count": 0,
        "codegen_strategy": "scratch",
    },
    "codegen": {
        "files": [{"path": "index.html", "content": "<html><body>snake</body></html>"}],
        "summary": "a neon snake game",
    },
    "asset": {"images": []},
    "qa_review": {"issues": 0, "findings": []},
    "fix": {"files": [{"path": "index.html", "content": "<html><body>fixed</body></html>"}]},
    "publish_prep": {"commit_hash": "abc"},
}

# Variables that would override the TOML file in the child.
_OVERRIDING_ENV = ("DATABASE_URL", "DATABASE_SSL", "ENGINEV2_CONFIG", "NOTIFY_SOCKET")


def inject(**extra: dict[str, Any]) -> dict[str, Any]:
    spec = {k: {"output": v} for k, v in OUTPUTS.items()}
    for key, more in extra.items():
        spec[key] = {**spec[key], **more}
    return {"inject": spec}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in values.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def daemon_sections(db_url: str, root: Path, **daemon: Any) -> dict[str, dict[str, Any]]:
    projects, staging = root / "projects", root / "staging"
    projects.mkdir(exist_ok=True)
    staging.mkdir(exist_ok=True)
    return {
        "database": {"url": db_url, "ssl": False},
        "engine": {"enabled": True, "allowlist_only": False},
        "daemon": {
            "poll_interval_s": 0.5,
            "lease_s": 3.0,
            "shutdown_grace_s": 5.0,
            "job_timeout_s": 120.0,
            **daemon,
        },
        "paths": {"projects_root": str(projects), "staging_root": str(staging)},
        "metrics": {"enabled": False},
        "testing": {"allow_inject": True},
        "logging": {"format": "json", "level": "INFO"},
    }


class NotifySocket:
    """A stand-in for systemd's notification socket."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ev2n-", dir="/tmp")
        self.path = os.path.join(self.dir, "n.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self.dir)


class DaemonProc:
    def __init__(
        self,
        config_path: Path,
        log_path: Path,
        *,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        child_env = {k: v for k, v in os.environ.items() if k not in _OVERRIDING_ENV}
        child_env = {k: v for k, v in child_env.items() if not k.startswith("ENGINE_V2_")}
        child_env.update(env or {})
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [ENGINEV2D, "--config", str(config_path), "run", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd="/",
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    def actions(self) -> list[str]:
        return [r.get("action", "") for r in self.records()]

    def wait_action(self, action: str, timeout: float = 15.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) before {action}:\n{self.text()}"
                )
            return next((r for r in self.records() if r.get("action") == action), None)

        return wait_for(found, timeout, f"log action {action}")

    def wait_ready(self, timeout: float = 20.0) -> None:
        self.wait_action("daemon_ready", timeout)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


class Harness:
    """Daemons, a database connection and job helpers for one test."""

    def __init__(self, db_url: str, root: Path) -> None:
        self.db_url = db_url
        self.root = root
        self.conn = psycopg.connect(db_url, autocommit=True, row_factory=psycopg.rows.dict_row)
        self.daemons: list[DaemonProc] = []

    def start(
        self,
        *,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        db_url: str | None = None,
        ready: bool = True,
        sections: dict[str, dict[str, Any]] | None = None,
        **daemon: Any,
    ) -> DaemonProc:
        """A daemon; ``daemon`` overrides [daemon] keys, ``sections`` merges into others."""
        n = len(self.daemons)
        merged = daemon_sections(db_url or self.db_url, self.root, **daemon)
        for name, values in (sections or {}).items():
            merged[name] = {**merged.get(name, {}), **values}
        cfg = write_config(self.root / f"daemon{n}.toml", merged)
        d = DaemonProc(cfg, self.root / f"daemon{n}.log", args=args, env=env)
        self.daemons.append(d)
        if ready:
            d.wait_ready()
        return d

    def submit(self, options: dict[str, Any] | None = None, message: str = "neon snake") -> str:
        job_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO public.jobs (id, user_id, project_id, status)"
                " VALUES (%s, %s, %s, 'pending')",
                (job_id, user_id, "proj-" + job_id[:8]),
            )
            self.conn.execute(
                "SELECT engine_v2.submit_job(%s, %s, %s, %s, %s)",
                (job_id, user_id, "proj-" + job_id[:8], message, Jsonb(options or inject())),
            )
        return job_id

    def run(self, job_id: str) -> dict[str, Any]:
        return self.conn.execute(
            "SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)
        ).fetchone()

    def status(self, job_id: str) -> str:
        return self.run(job_id)["status"]

    def wait_status(self, job_ids: list[str], status: str, timeout: float) -> None:
        wait_for(
            lambda: all(self.status(j) == status for j in job_ids),
            timeout,
            f"{len(job_ids)} job(s) {status}: "
            + ", ".join(f"{j[:8]}={self.status(j)}" for j in job_ids),
        )

    def running_count(self) -> int:
        return self.conn.execute(
            "SELECT count(*) AS n FROM engine_v2.job_runs WHERE status = 'running'"
        ).fetchone()["n"]

    def tasks(self, job_id: str) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT * FROM engine_v2.job_tasks WHERE job_id = %s", (job_id,)
        ).fetchall()
        return {r["task_key"]: r for r in rows}

    def attempts(self, job_id: str) -> list[dict[str, Any]]:
        return self.conn.execute(
            "SELECT t.task_key, a.attempt_no, a.status, a.started_at, a.ended_at, a.error"
            "  FROM engine_v2.job_task_attempts a JOIN engine_v2.job_tasks t ON t.id = a.task_id"
            " WHERE t.job_id = %s ORDER BY t.task_key, a.attempt_no",
            (job_id,),
        ).fetchall()

    def task_running(self, job_id: str, task_key: str) -> bool:
        return self.tasks(job_id).get(task_key, {}).get("status") == "running"

    def assert_consistent(self, job_id: str) -> None:
        """Every task in exactly one terminal state; attempts of a task never overlap;
        publish_prep succeeded exactly once."""
        tasks = self.tasks(job_id)
        assert tasks, f"job {job_id} has no tasks"
        for key, t in tasks.items():
            assert t["status"] in ("succeeded", "skipped"), (key, t["status"], t["error_code"])
        by_task: dict[str, list[dict[str, Any]]] = {}
        for a in self.attempts(job_id):
            by_task.setdefault(a["task_key"], []).append(a)
        for key, atts in by_task.items():
            numbers = [a["attempt_no"] for a in atts]
            assert numbers == list(range(1, len(atts) + 1)), (key, numbers)
            assert sum(a["status"] == "succeeded" for a in atts) == (
                1 if tasks[key]["status"] == "succeeded" else 0
            ), (key, [a["status"] for a in atts])
            for prev, nxt in itertools.pairwise(atts):
                assert prev["ended_at"] is not None, (key, prev)
                assert prev["ended_at"] <= nxt["started_at"], (key, prev, nxt)
            assert all(a["status"] != "running" for a in atts), (key, atts)
        publish = [a for a in by_task.get("publish_prep", []) if a["status"] == "succeeded"]
        assert len(publish) == 1, publish

    def close(self) -> None:
        for d in self.daemons:
            d.close()
        self.conn.close()


@contextlib.contextmanager
def harness(db_url: str, root: Path) -> Iterator[Harness]:
    h = Harness(db_url, root)
    try:
        yield h
    finally:
        h.close()
