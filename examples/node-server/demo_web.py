#!/usr/bin/env python3
"""``make demo-web``: the web demo, on the embedded default.

A private PostgreSQL cluster in ``var/demo-web/pg`` (as ``make demo`` uses one in
``var/demo``), the real daemon (``enginev2d run``, offline provider) beside the Node
server of this directory, which connects as a login role that is a member of
``engine_v2_server`` (migration 0005): what a production host server does. Prints the
URL and runs until Ctrl-C, then stops the server, the daemon and the cluster.

``--database-url`` uses an existing migrated database with the host's ``public.jobs``
instead of the embedded cluster (the browser test does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from enginev2d.demo import DEMO_USER  # the user `make demo` builds for
from enginev2d.embedded import EmbeddedDatabase
from enginev2d.pgcluster import PgCluster, host_server_login

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ENGINEV2D = str(Path(sys.executable).parent / "enginev2d")
SERVER_LOGIN = "enginev2d_demo_server"


class DemoError(Exception):
    """One line for the user; the launcher exits non-zero."""


def check_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise DemoError("node is not installed (make demo-web installs it with the system deps)")
    for d in (HERE, ROOT / "clients" / "node"):
        if not (d / "node_modules").is_dir():
            raise DemoError(f"{d.relative_to(ROOT)} has no node_modules: run make node-deps")
    return node


def write_daemon_config(state: Path, db_url: str) -> Path:
    projects, staging = state / "projects", state / "staging"
    projects.mkdir(parents=True, exist_ok=True)
    staging.mkdir(parents=True, exist_ok=True)
    sections = {
        "database": {"url": db_url, "ssl": False},
        "engine": {"enabled": True, "allowlist_only": False},
        "daemon": {"poll_interval_s": 1.0, "lease_s": 15.0, "job_timeout_s": 120.0},
        "paths": {"projects_root": str(projects), "staging_root": str(staging)},
        "providers": {"default": "offline"},
        "metrics": {"enabled": False},
        "logging": {"format": "json", "level": "INFO"},
    }
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = state / "daemon.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_ready(proc: subprocess.Popen[bytes], log: Path, offset: int, timeout: float = 30) -> None:
    """Until the daemon logs daemon_ready after ``offset`` (the log is appended to)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the daemon exited at start ({proc.returncode}); see {log}")
        with log.open("rb") as f:
            f.seek(offset)
            if b'"action": "daemon_ready"' in f.read():
                return
        time.sleep(0.05)
    raise DemoError(f"the daemon was not ready within {timeout:.0f} s; see {log}")


@contextlib.contextmanager
def daemon(state: Path, db_url: str) -> Iterator[subprocess.Popen[bytes]]:
    config = write_daemon_config(state, db_url)
    log = state / "daemon.log"
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [ENGINEV2D, "--config", str(config), "run"], stdout=out, stderr=out, cwd="/"
        )
    try:
        wait_ready(proc, log, start)
        yield proc
    finally:
        stop(proc, 25)


def stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def node_server(
    node: str, db_url: str, state: Path, port: int
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ENGINE_V2_")},
        "DATABASE_URL": db_url,
        "PROJECTS_ROOT": str(state / "projects"),
        "DEMO_USER_ID": DEMO_USER,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        # Design 4: v2 on, for the allowlisted demo user only.
        "ENGINE_V2_ENABLED": "true",
        "ENGINE_V2_ALLOWLIST": DEMO_USER,
    }
    proc = subprocess.Popen(
        [node, str(HERE / "server.mjs")],
        env=env,
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        if not first.startswith("listening on "):
            proc.wait(5)
            raise DemoError(f"the web server did not start: {first or proc.returncode}")
        # Keep relaying its output (warnings of the routing branch) to ours.
        threading.Thread(target=_relay, args=(proc,), daemon=True).start()
        yield first.removeprefix("listening on "), proc
    finally:
        stop(proc, 10)


def _relay(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"  server: {line.rstrip()}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--state-dir", type=Path, default=ROOT / "var" / "demo-web")
    ap.add_argument("--port", type=int, default=8080, help="0 = any free port")
    ap.add_argument("--database-url", help="use this migrated database instead of the embedded one")
    ap.add_argument("--keep", action="store_true", help="leave the private PostgreSQL running")
    args = ap.parse_args(argv)
    state: Path = args.state_dir.resolve()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        node = check_node()
        state.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            db_url = args.database_url
            if db_url is None:
                db = EmbeddedDatabase(PgCluster(state / "pg"))
                db.start()
                if not args.keep:
                    stack.callback(db.stop)
                db_url = db.url
            stack.enter_context(daemon(state, db_url))
            url, server = stack.enter_context(
                node_server(node, host_server_login(db_url, SERVER_LOGIN), state, args.port)
            )
            print(f"enginev2d web demo: open {url}  (Ctrl-C stops)", flush=True)
            print(f"  daemon log {state / 'daemon.log'}; game in {state / 'projects'}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while not stopping.is_set() and server.poll() is None:
                    stopping.wait(0.5)
    except DemoError as exc:
        print(f"demo-web: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting: everything started is stopped
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
