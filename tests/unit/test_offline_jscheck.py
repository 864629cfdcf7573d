"""check_js_syntax: node --check when node exists, the tokenizer fallback otherwise."""

from __future__ import annotations

import shutil

import pytest

from enginev2d.providers.offline import OfflineProvider, check_js_syntax, jscheck
from enginev2d.providers.offline.jscheck import code_only, missing_closers, scan_js

VALID = [
    "const a = (1 + 2) * [3][0];",
    "function f(x) { return x / 2 / 3; }",
    "const re = /[)}\\]]+/g; re.test('a)');",
    "if (a) { b(); } /x{/.test(c);",
    "const s = `a ${ {k: 1}.k } b ${'}'} c`;",
    "const t = `outer ${`inner ${1 + 1}`}`;",
    "// a comment with ( and {\nlet x = 1;",
    "/* block ) ] } */ let y = 2;",
    "const q = 'it\\'s (fine)'; const d = \"{\";",
    "const o = { a: [1, 2, { b: (3) }] };",
    "const url = 'http://example.com/a?b=(c)';",
    "x = y\n/ 2;",
]
INVALID = [
    ("let a = (1 + 2;", "("),
    ("function f() { return 1;", "{"),
    ("const arr = [1, 2;", "["),
    ("f(]);", "]"),
    ("x = 1}", "}"),
    ("const s = 'unterminated;\nlet y = 1;", "string"),
    ("/* never closed", "comment"),
    ("const t = `no end ${1}", "template"),
]


@pytest.fixture
def no_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as on a production host without node on PATH."""
    real_which = shutil.which
    monkeypatch.setattr(
        jscheck.shutil, "which", lambda name, *a, **k: None if name == "node" else real_which(name)
    )


needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.mark.parametrize("source", VALID)
def test_tokenizer_accepts_valid_code(source: str, no_node: None) -> None:
    assert check_js_syntax(source) is None


@pytest.mark.parametrize(("source", "what"), INVALID)
def test_tokenizer_rejects_broken_code(source: str, what: str, no_node: None) -> None:
    error = check_js_syntax(source)
    assert error is not None
    assert what in error
    assert error.startswith("line ")


def test_tokenizer_reports_the_right_line(no_node: None) -> None:
    source = "let a = 1;\nlet b = 2;\nfunction f() {\n  return (a + b;\n}\n"
    assert check_js_syntax(source) == "line 5: '}' does not close '(' from line 4 (expected ')')"


@needs_node
@pytest.mark.parametrize("source", VALID)
def test_node_accepts_valid_code(source: str) -> None:
    assert check_js_syntax(source, use_node=True) is None


@needs_node
@pytest.mark.parametrize(("source", "_what"), INVALID)
def test_node_rejects_broken_code(source: str, _what: str) -> None:
    error = check_js_syntax(source, use_node=True)
    assert error is not None and "SyntaxError" in error


@needs_node
def test_node_catches_what_the_tokenizer_cannot() -> None:
    source = "let let = 5;"  # balanced, but not JavaScript
    assert check_js_syntax(source, use_node=False) is None
    assert "SyntaxError" in (check_js_syntax(source, use_node=True) or "")


@needs_node
def test_node_handles_modules() -> None:
    assert (
        check_js_syntax("import { a } from './a.js';\nexport const b = a;", use_node=True) is None
    )


def test_use_node_true_without_node_raises(no_node: None) -> None:
    with pytest.raises(FileNotFoundError):
        check_js_syntax("let a = 1;", use_node=True)


@pytest.mark.parametrize("template_id", ["snake", "breakout", "shooter", "runner", "clicker"])
def test_generated_games_pass_both_checkers(template_id: str) -> None:
    p = OfflineProvider()
    plan = p.plan(f"{template_id} game", "edit", {})
    js = {f["path"]: f["content"] for f in p.codegen("", plan, {})["files"]}["game.js"]
    assert check_js_syntax(js, use_node=False) is None
    if shutil.which("node"):
        assert check_js_syntax(js, use_node=True) is None


def test_scan_finds_strings_and_comments() -> None:
    src = "const a = 'x.png'; // 'y.png'\nconst t = `p ${\"z.png\"} q`; /* w */"
    result = scan_js(src)
    assert [src[a:b] for a, b in result.strings] == ["x.png", "p ", "z.png", " q"]
    assert [src[a:b] for a, b in result.comments] == ["// 'y.png'", "/* w */"]
    blanked = code_only(src)
    assert len(blanked) == len(src) and "png" not in blanked and "w" not in blanked[-7:]


def test_missing_closers_only_for_a_truncated_end() -> None:
    assert missing_closers("function f() { if (a) { g(") == ")}}"
    assert missing_closers("let s = `a ${b") == "}`"
    assert missing_closers("f(]);") is None  # a mismatch is not a truncation
    assert missing_closers("let a = 1;") is None
