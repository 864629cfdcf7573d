"""`enginev2d demo` as a newcomer runs it: a subprocess, its own private cluster."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from enginev2d.pgcluster import PgCluster

pytestmark = pytest.mark.slow
EXE = Path(sys.executable).with_name("enginev2d")


def _demo(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), "demo", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )


@pytest.fixture
def state_dir():
    base = Path(tempfile.mkdtemp(prefix="enginev2d-demo-", dir="/tmp"))
    os.chmod(base, 0o755)
    try:
        yield base / "state"
    finally:
        PgCluster(base / "state" / "pg").destroy()
        shutil.rmtree(base, ignore_errors=True)


def _git_log(project: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(project), "log", "--format=%s"], capture_output=True, text=True
    )
    return out.stdout.splitlines()


def test_demo_makes_a_game_then_edits_it(state_dir):
    first = _demo(state_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    match = re.search(r"Your game: (\S+index\.html)", first.stdout)
    assert match, first.stdout
    index = Path(match.group(1))
    assert index.is_absolute() and index.is_file()
    project = index.parent
    html = index.read_text()
    assert "<canvas" in html
    for line in ("intent", "plan", "codegen", "asset", "qa_review", "publish_prep"):
        assert line in first.stdout
    assert "100%" in first.stdout
    assert "cost $0.0000" in first.stdout
    game_before = (project / "game.js").read_text()
    assert len(_git_log(project)) == 1

    # The cluster is stopped at exit unless --keep; the second run reuses it.
    assert not PgCluster(state_dir / "pg").is_running()

    second = _demo(state_dir, "make it faster")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "edit of the existing game" in second.stdout
    assert len(_git_log(project)) == 2
    assert (project / "game.js").read_text() != game_before


def test_demo_reports_a_taken_port(state_dir):
    import socket

    state_dir.mkdir(parents=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        (state_dir / "pg").mkdir()
        (state_dir / "pg" / "port").write_text(str(sock.getsockname()[1]))
        result = _demo(state_dir)
    assert result.returncode != 0
    assert "is taken by another process" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_explains_missing_postgresql_binaries(state_dir, tmp_path):
    result = subprocess.run(
        [str(EXE), "demo", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ENGINEV2_PG_BIN": str(tmp_path / "no-postgres-here")},
    )
    assert result.returncode != 0
    assert "PostgreSQL 15 binaries not found" in result.stderr
    assert "apt-get install -y postgresql-15" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_explains_an_unwritable_state_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = _demo(blocker / "state")
    assert result.returncode != 0
    assert "is not writable" in result.stderr
    assert "Traceback" not in result.stderr
