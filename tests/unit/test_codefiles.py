"""The code-file answer format against a corpus of malformed answers real models give.

Each case is an answer text and its right outcome: accepted (with the files it must yield)
or rejected with OutputInvalid whose message and repair hint name what was wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from enginev2d.errors import OutputInvalid
from enginev2d.tasks import codegen
from enginev2d.tasks.codefiles import parse_code_answer
from tests.fakes import code_answer
from tests.fakes.ctx import make_config, make_ctx

HTML = '<!doctype html>\n<canvas id="c"></canvas>\n<script src="game.js"></script>'
JS = 'const msg = "say \\"hi\\"";\nlet path = "C:\\\\games";\nloop();'
FILES = [{"path": "index.html", "content": HTML}, {"path": "game.js", "content": JS}]
GOOD = code_answer(FILES, "A game.")
HEADER = json.dumps({"summary": "A game.", "files": ["index.html", "game.js"]})


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    files: list[dict[str, str]] | None = None  # accepted: exactly these files
    error: str = ""  # rejected: in the message
    hint: str = ""  # rejected: in the repair hint
    truncated: bool = False
    task: str = "codegen"


def block(path: str, content: str, close: str = "\n</file>\n") -> str:
    return f'<file path="{path}">\n{content}{close}'


CORPUS = [
    Case("clean", GOOD, FILES),
    Case(
        "quotes-backslashes-newlines-need-no-escaping",
        HEADER + "\n" + block("index.html", HTML) + block("game.js", JS),
        FILES,
    ),
    Case("bom", "\ufeff" + GOOD, FILES),
    Case("crlf", GOOD.replace("\n", "\r\n"), FILES),
    Case("whole-answer-fenced", "```\n" + GOOD + "```\n", FILES),
    Case(
        "prose-around",
        "Sure! Here is your game.\n" + GOOD + "\nEnjoy, and tell me if you want changes.",
        FILES,
    ),
    Case(
        "content-fenced-inside-tag",
        HEADER + "\n" + block("index.html", f"```html\n{HTML}\n```") + block("game.js", JS),
        FILES,
    ),
    Case(
        "close-tag-at-end-of-line",
        HEADER + "\n" + block("index.html", HTML, "</file>\n") + block("game.js", JS, "</file>"),
        FILES,
    ),
    Case(
        "single-quoted-path",
        GOOD.replace('<file path="game.js">', "<file path='game.js'>"),
        FILES,
    ),
    Case(
        "header-in-json-fence",
        "```json\n" + HEADER + "\n```\n" + block("index.html", HTML) + block("game.js", JS),
        FILES,
    ),
    Case(
        "file-tag-text-inside-code",
        HEADER + "\n" + block("index.html", HTML) + block("game.js", 'x = "<file path=a>";'),
        [FILES[0], {"path": "game.js", "content": 'x = "<file path=a>";'}],
    ),
    Case(
        "legacy-json-with-literal-newline",
        '{"summary": "A game.", "files": [{"path": "index.html", "content": "<p>\nhi</p>"}]}',
        [{"path": "index.html", "content": "<p>\nhi</p>"}],
    ),
    Case(
        "legacy-json-unescaped-quote",
        '{"summary": "s", "files": [{"path": "index.html", "content": "<p class="x"></p>"}]}',
        error="not valid JSON (Expecting ',' delimiter at line 1",
        hint="Do not put file contents in JSON",
    ),
    Case(
        "truncated-at-token-limit",
        GOOD[: GOOD.index("loop();")],
        truncated=True,
        error="cut off at the output token limit inside file 'game.js'",
        hint="Be more concise",
    ),
    Case(
        "truncated-before-a-listed-file",
        HEADER + "\n" + block("index.html", HTML),
        truncated=True,
        error="cut off at the output token limit before file 'game.js'",
        hint="Be more concise",
    ),
    Case(
        "file-not-closed",
        GOOD[: GOOD.rindex("</file>")],
        error="file 'game.js' is not closed",
        hint="end every file with a line containing only </file>",
    ),
    Case(
        "not-closed-before-next-file",
        HEADER + "\n" + '<file path="index.html">\n' + HTML + "\n" + block("game.js", JS),
        error="file 'index.html' is not closed before file 'game.js' starts",
        hint='"index.html" has no closing tag',
    ),
    Case(
        "header-lists-missing-file",
        HEADER + "\n" + block("index.html", HTML),
        error="the header lists 'game.js' but no <file> block for it follows",
        hint='no <file path="game.js"> block',
    ),
    Case(
        "duplicate-path",
        GOOD + block("game.js", "loop();"),
        error="file 'game.js' appears twice",
        hint="give every file exactly once",
    ),
    Case(
        "markdown-fences-instead-of-tags",
        "Here you go:\n```html\n" + HTML + "\n```\n```js\n" + JS + "\n```",
        error="no <file> blocks (markdown code fences instead)",
        hint="markdown code fences instead of <file> blocks",
    ),
    Case(
        "prose-only",
        "I'll build a neon snake game with touch controls and a score!",
        error="answer has no <file> blocks",
        hint="contained no files",
    ),
    Case("empty", "  \n", error="empty answer", hint="was empty"),
    Case(
        "no-header",
        block("index.html", HTML),
        error='no JSON header with a "summary"',
        hint='"summary"',
    ),
    Case(
        "header-unescaped-quote",
        '{"summary": "A "neon" game", "files": ["index.html"]}\n' + block("index.html", HTML),
        error="the JSON header is not valid JSON",
        hint='write a double quote as \\"',
    ),
    Case(
        "header-literal-newline-forgiven",
        '{"summary": "A neon\ngame", "files": ["index.html"]}\n' + block("index.html", HTML),
        [FILES[0]],
    ),
    Case(
        "malformed-tag",
        HEADER + '\n<file name="index.html">\n' + HTML + "\n</file>\n",
        error="malformed file tag on line 2",
        hint='<file path="js/game.js">',
    ),
    Case(
        "json-escaped-content",
        HEADER + "\n" + block("index.html", HTML) + block("game.js", "a();\\nb();\\n" * 4),
        error="file 'game.js' is JSON-escaped",
        hint="real line breaks",
    ),
    Case(
        "files-not-a-list",
        '{"summary": "s", "files": "index.html"}\n' + block("index.html", HTML),
        error='"files" is not a list of paths',
        hint="list of path strings",
    ),
    Case(
        "unsafe-path",
        code_answer([{"path": "../escape.html", "content": "x"}, FILES[0]], "s"),
        error="unsafe file path '../escape.html'",
        hint="no '..'",
    ),
    Case(
        "no-entry-page",
        code_answer([FILES[1]], "s"),
        error="no index.html among the files",
        hint="Include 'index.html'",
    ),
    Case("fix-nothing-to-change", '{"files": []}', [], task="fix"),
    Case("fix-without-header", block("game.js", JS), [FILES[1]], task="fix"),
    Case(
        "one-line-file",
        HEADER.replace(', "game.js"', "")
        + '\n<file path="index.html"><!doctype html><canvas></canvas></file>\n',
        [{"path": "index.html", "content": "<!doctype html><canvas></canvas>"}],
    ),
]


def outcome(case: Case, tmp_path: Path) -> dict:
    answer = parse_code_answer(
        case.task, case.text, truncated=case.truncated, require_summary=case.task == "codegen"
    )
    if case.task == "codegen":  # paths and the entry page are checked by validate
        return codegen.validate(make_ctx(make_config(tmp_path), "codegen"), answer)
    return answer


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_corpus(case: Case, tmp_path: Path) -> None:
    if case.files is not None:
        assert outcome(case, tmp_path)["files"] == case.files
        return
    with pytest.raises(OutputInvalid) as ei:
        outcome(case, tmp_path)
    assert case.error in ei.value.message
    assert case.hint in ei.value.repair_hint
    assert ei.value.retryable


def test_corpus_is_large_and_mostly_malformed() -> None:
    assert len(CORPUS) >= 20
    assert sum(1 for c in CORPUS if c.name != "clean") >= 20


def test_summary_comes_from_the_header(tmp_path: Path) -> None:
    out = outcome(Case("x", GOOD), tmp_path)
    assert out["summary"] == "A game."


def test_rejection_hints_restate_the_format() -> None:
    with pytest.raises(OutputInvalid) as ei:
        parse_code_answer("codegen", "nothing here", require_summary=True)
    assert '<file path="index.html">' in ei.value.repair_hint and "</file>" in ei.value.repair_hint
