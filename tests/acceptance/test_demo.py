"""`enginev2d demo` as a newcomer runs it: a subprocess, its own private cluster."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from enginev2d.pgcluster import PgCluster, free_port
from tests.waiting import wait_for

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
    config_before = (project / "config.js").read_text()
    assert len(_git_log(project)) == 1

    # The cluster is stopped at exit unless --keep; the second run reuses it.
    assert not PgCluster(state_dir / "pg").is_running()

    assert "intent    edit" in first.stdout
    assert "template  snake (Neon Snake, en)" in first.stdout
    assert "summary   Created Neon Snake, a snake game" in first.stdout

    second = _demo(state_dir, "make it faster")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "edit of the existing game" in second.stdout
    assert len(_git_log(project)) == 2
    assert "speed 5 → 7 (faster)" in second.stdout
    assert (project / "config.js").read_text() != config_before
    assert (project / "game.js").read_text() == game_before  # only the settings changed

    # A request the game cannot meet: said so, and no new version.
    third = _demo(state_dir, "マルチプレイにして")
    assert third.returncode == 0, third.stdout + third.stderr
    assert "マルチプレイにはまだ対応していません" in third.stdout
    assert "no new version" in third.stdout
    assert len(_git_log(project)) == 2

    # --serve without a prompt: the game as it is, no job, never .git/.
    _serve_and_check(state_dir, project)
    assert len(_git_log(project)) == 2


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _serve_and_check(state: Path, project: Path) -> None:
    port = free_port()
    out = state.parent / "serve.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [str(EXE), "demo", "--state-dir", str(state), "--serve", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
        )
    try:

        def bound() -> str | None:  # the server announces itself once it is bound
            text = out.read_text()
            assert re.search(r"serving .*http://127\.0\.0\.1", text) or proc.poll() is None, text
            return text if re.search(r"serving .*http://127\.0\.0\.1", text) else None

        assert "no job" in wait_for(bound, 60, "the server to announce itself")
        base = f"http://127.0.0.1:{port}/"
        assert _get(base + "index.html") == 200
        assert _get(base + ".git/HEAD") == 404
        assert _get(base + "%2Egit/config") == 404
        assert (project / ".git" / "HEAD").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_demo_refuses_a_blank_prompt_and_a_busy_port_before_anything(tmp_path):
    state = tmp_path / "state"
    blank = _demo(state, "   ")
    assert blank.returncode != 0
    assert blank.stderr.strip().splitlines() == [
        'Error: the prompt is empty: say what to make, e.g. "make me a snake game"'
    ]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = _demo(state, "--serve", "--port", str(sock.getsockname()[1]), "a pong game")
    assert busy.returncode != 0
    assert len(busy.stderr.strip().splitlines()) == 1
    assert "is taken by another process" in busy.stderr and "Traceback" not in busy.stderr
    assert not state.exists()  # nothing was started or written


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
