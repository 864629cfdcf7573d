"""The web demo (``make demo-web``) in headless Chromium: the launcher starts the real
daemon and the Node server (``examples/node-server``) on this suite's database; the test
types a prompt, watches progress reach 100 and the game's canvas appear in the iframe,
edits the game with a second prompt, and finds no console error anywhere on the page."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from enginev2d.browser import Chromium, Page, find_chromium
from enginev2d.demo import DEMO_USER
from tests.acceptance.test_node_client import node_or_fail
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "examples" / "node-server" / "demo_web.py"


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    node_or_fail()
    args = ["--database-url", db_url, "--port", "0", "--state-dir", str(tmp_path / "demo")]
    out = tmp_path / "launcher.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(LAUNCHER), *args], stdout=sink, stderr=subprocess.STDOUT, text=True
        )
    try:

        def announced() -> str | None:
            m = re.search(r"open (http://127\.0\.0\.1:\d+/)", out.read_text())
            assert m or proc.poll() is None, out.read_text()  # it exited without a url
            return m.group(1) if m else None

        url = wait_for(announced, 60, "the launcher's url")
        yield url, tmp_path / "demo"
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


BUTTON = (
    "(() => { const b = document.getElementById('send').getBoundingClientRect();"
    " return [b.x + b.width / 2, b.y + b.height / 2]; })()"
)
GAME_SHOWN = (
    "(() => { const f = document.getElementById('game'); const d = f.contentDocument;"
    " return !!d && d.location.pathname === '/game/index.html' && d.readyState === 'complete'"
    " && !!d.querySelector('canvas') && (f.contentWindow.__frames || 0) > 10; })()"
)


def _prompt(page: Page, text: str) -> None:
    page.wait_for("document.body.dataset.state === 'ready'", 15)
    page.evaluate("document.getElementById('message').value = ''")
    page.evaluate("document.getElementById('message').focus()")
    page.browser.send("Input.insertText", {"text": text}, session=page.session)
    page.click(*page.evaluate(BUTTON))


def test_web_demo_makes_a_game_and_edits_it(demo: tuple[str, Path]) -> None:
    url, state = demo
    exe = find_chromium()
    if exe is None:
        pytest.fail("chromium is not installed (scripts/ensure-system-deps.sh installs it)")
    with Chromium(exe, width=1000, height=800) as chromium, chromium.page(url) as page:
        page.wait_for("document.getElementById('engine').textContent === 'engine v2 on'", 15)
        _prompt(page, "make me a neon snake game")
        page.wait_for("window.__completed === 1", 30)
        assert page.evaluate("document.getElementById('progress').value") == 100
        assert page.evaluate("document.getElementById('pct').textContent") == "100%"
        seen = page.evaluate("window.__seen")
        # Live progress came from the relayed events, the preview before the end.
        assert seen.index("taskStarted") < seen.index("partialResult") < seen.index("completed")
        assert not {"fallback", "jobFailed", "v1", "error"} & set(seen)
        page.wait_for(GAME_SHOWN, 15)
        first = page.evaluate("document.getElementById('summary').textContent")

        _prompt(page, "make it red and faster")
        page.wait_for("window.__completed === 2", 30)
        page.wait_for(GAME_SHOWN, 15)
        second = page.evaluate("document.getElementById('summary').textContent")
        assert second != first and "red" in second, (first, second)
        assert page.errors() == []
    project = state / "projects" / DEMO_USER / "projects" / "demo"
    commits = subprocess.run(
        ["git", "-C", str(project), "rev-list", "--count", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert commits.stdout.strip() == "2"  # created, then edited
