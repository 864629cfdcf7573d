"""JavaScript syntax checking: ``node --check`` when node is installed, else a tokenizer.

The fallback cannot parse JavaScript; it finds the mistakes generated code really
makes (an unclosed brace, a stray parenthesis, an unterminated string or comment)
and stays quiet when unsure, so valid code is never reported as broken.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache

NODE_TIMEOUT_S = 15.0

_MODULE_RE = re.compile(r"^\s*(?:import\s*[\w{*'\"]|export\s+)", re.M)
_PAIRS = {")": "(", "]": "[", "}": "{"}
_CLOSER = {"(": ")", "[": "]", "{": "}", "${": "}"}
# After these words a "/" starts a regular expression, not a division.
_REGEX_AFTER_WORDS = frozenset(
    [
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    ]
)
_IDENT_RE = re.compile(r"[A-Za-z0-9_$\u0080-\uffff]+")


def check_js_syntax(source: str, *, use_node: bool | None = None) -> str | None:
    """None when ``source`` is valid JavaScript, else a one-line error with its line.

    ``use_node``: None = node when it is on PATH; False = always the tokenizer;
    True = require node (raises FileNotFoundError without it).
    """
    node = shutil.which("node") if use_node is not False else None
    if use_node and node is None:
        raise FileNotFoundError("node is not on PATH")
    if node:
        try:
            return _node_check(node, source)
        except (OSError, subprocess.TimeoutExpired):
            if use_node:
                raise
    return tokenizer_check(source)


def _node_check(node: str, source: str) -> str | None:
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    return _node_check_cached(node, digest, source)


@lru_cache(maxsize=128)
def _node_check_cached(node: str, _digest: str, source: str) -> str | None:
    suffix = ".mjs" if _MODULE_RE.search(source) else ".js"
    fd, path = tempfile.mkstemp(prefix="enginev2d-js-", suffix=suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(source)
        proc = subprocess.run(
            [node, "--check", path],
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_S,
            env={"PATH": os.environ.get("PATH", ""), "NODE_OPTIONS": ""},
            check=False,
        )
    finally:
        os.unlink(path)
    if proc.returncode == 0:
        return None
    return _summarize_node_error(proc.stderr, path)


def _summarize_node_error(stderr: str, path: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    line_no = ""
    for ln in lines:
        if ln.startswith(path + ":"):
            line_no = ln[len(path) + 1 :].strip()
            break
    message = next((ln.strip() for ln in lines if re.match(r"^\w*Error\b", ln.strip())), None)
    message = message or (lines[-1].strip() if lines else "node --check failed")
    return f"line {line_no}: {message}" if line_no else message


# --------------------------------------------------------------------------- tokenizer


@dataclass
class ScanResult:
    """What the tokenizer saw: the first error, and where strings and comments are.

    ``strings`` holds (start, end) offsets of string contents (without quotes) and of
    each literal chunk of a template literal; ``comments`` whole comments.
    """

    error: str | None = None
    strings: list[tuple[int, int]] = field(default_factory=list)
    comments: list[tuple[int, int]] = field(default_factory=list)


class _Scan:
    """Cursor over the source that tracks line numbers."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.i = 0
        self.line = 1
        self.out = ScanResult()

    def advance_to(self, j: int) -> None:
        self.line += self.src.count("\n", self.i, j)
        self.i = j


def _skip_string(s: _Scan, quote: str) -> str | None:
    src, j, n = s.src, s.i + 1, len(s.src)
    start_line = s.line
    while j < n:
        ch = src[j]
        if ch == "\\":
            j += 2
            continue
        if ch == quote:
            s.out.strings.append((s.i + 1, j))
            s.advance_to(j + 1)
            return None
        if ch == "\n":
            return f"line {start_line}: unterminated string literal"
        j += 1
    return f"line {start_line}: unterminated string literal"


def _skip_template(s: _Scan) -> tuple[str | None, bool]:
    """From just after a backquote (or a ``}`` closing ``${``): (error, entered ``${``)."""
    src, j, n = s.src, s.i, len(s.src)
    start_line = s.line
    while j < n:
        ch = src[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "`":
            s.out.strings.append((s.i, j))
            s.advance_to(j + 1)
            return None, False
        if ch == "$" and j + 1 < n and src[j + 1] == "{":
            s.out.strings.append((s.i, j))
            s.advance_to(j + 2)
            return None, True
        j += 1
    return f"line {start_line}: unterminated template literal", False


def _try_regex(s: _Scan) -> bool:
    """Skip a regex literal starting at ``/`` if one ends on this line; else False."""
    src, j, n = s.src, s.i + 1, len(s.src)
    in_class = False
    while j < n:
        ch = src[j]
        if ch == "\n":
            return False
        if ch == "\\":
            j += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
        elif ch == "/":
            j += 1
            while j < n and (src[j].isalnum() or src[j] in "_$"):
                j += 1  # flags
            s.advance_to(j)
            return True
        j += 1
    return False


def tokenizer_check(src: str) -> str | None:
    """Balanced brackets outside strings, comments, templates and regex literals."""
    return scan_js(src).error


def scan_js(src: str) -> ScanResult:
    """Tokenize just enough JavaScript to check brackets and locate strings/comments."""
    s = _Scan(src)
    s.out.error = _scan(s)
    return s.out


def _scan(s: _Scan) -> str | None:
    src = s.src
    n = len(src)
    stack: list[tuple[str, int]] = []
    prev = ""  # "" start, "v" value (identifier, number, literal, ) or ]), "o" operator/opener
    prev_word = ""
    while s.i < n:
        ch = src[s.i]
        nxt = src[s.i + 1] if s.i + 1 < n else ""
        if ch == "\n":
            s.line += 1
            s.i += 1
        elif ch.isspace():
            s.i += 1
        elif ch == "/" and nxt == "/":
            end = src.find("\n", s.i)
            end = n if end < 0 else end
            s.out.comments.append((s.i, end))
            s.advance_to(end)
        elif ch == "/" and nxt == "*":
            end = src.find("*/", s.i + 2)
            if end < 0:
                return f"line {s.line}: unterminated /* comment"
            s.out.comments.append((s.i, end + 2))
            s.advance_to(end + 2)
        elif ch in "'\"":
            err = _skip_string(s, ch)
            if err:
                return err
            prev, prev_word = "v", ""
        elif ch == "`":
            s.i += 1
            err, entered = _skip_template(s)
            if err:
                return err
            if entered:
                stack.append(("${", s.line))
                prev, prev_word = "o", ""
            else:
                prev, prev_word = "v", ""
        elif ch == "/":
            regex_ok = prev in ("", "o") or (prev == "v" and prev_word in _REGEX_AFTER_WORDS)
            if regex_ok and _try_regex(s):
                prev, prev_word = "v", ""
            else:
                s.i += 1
                prev, prev_word = "o", ""
        elif ch in "([{":
            stack.append((ch, s.line))
            s.i += 1
            prev, prev_word = "o", ""
        elif ch in ")]}":
            if not stack:
                return f"line {s.line}: unexpected '{ch}'"
            opener, line = stack.pop()
            if opener == "${" and ch == "}":
                s.i += 1  # the '}' ending ${...}: the template literal continues
                err, entered = _skip_template(s)
                if err:
                    return err
                if entered:
                    stack.append(("${", s.line))
                prev, prev_word = ("o" if entered else "v"), ""
                continue
            if _PAIRS[ch] != opener:
                want = _CLOSER[opener]
                return (
                    f"line {s.line}: '{ch}' does not close '{opener}' from line {line} "
                    f"(expected '{want}')"
                )
            s.i += 1
            prev, prev_word = ("v" if ch in ")]" else "o"), ""
        else:
            m = _IDENT_RE.match(src, s.i)
            if m:
                prev, prev_word = "v", m.group(0)
                s.i = m.end()
            else:
                s.i += 1
                prev, prev_word = "o", ""
    if stack:
        opener, line = stack[-1]
        return f"line {line}: '{opener}' is never closed (expected '{_CLOSER[opener]}')"
    return None


def code_only(src: str) -> str:
    """``src`` with comments and string contents blanked (same length, same lines)."""
    result = scan_js(src)
    chars = list(src)
    for a, b in [*result.strings, *result.comments]:
        for k in range(a, b):
            if chars[k] != "\n":
                chars[k] = " "
    return "".join(chars)


def missing_closers(src: str) -> str | None:
    """The closing brackets that would fix ``src`` if its only problem is a truncated
    end (as in an output cut off mid-file), else None."""
    if tokenizer_check(src) is None:
        return None
    suffix = ""
    probe = src
    for _ in range(64):
        err = tokenizer_check(probe)
        if err is None:
            return suffix
        m = re.search(r"'(\$\{|[(\[{])' is never closed", err)
        if not m:
            return None
        closer = _CLOSER[m.group(1)]
        if m.group(1) == "${":
            closer = "}`"
        probe += closer
        suffix += closer
    return None
