"""The answer format for code files (codegen, fix): tagged blocks, nothing to escape.

A model writes a small JSON header, then each file between tags::

    {"summary": "A neon snake game.", "files": ["index.html", "game.js"]}
    <file path="index.html">
    <!doctype html>...
    </file>
    <file path="game.js">
    const s = "quotes, \\backslashes and newlines need no escaping";
    </file>

File contents are never JSON string values, so a literal newline or an unescaped quote
cannot break the answer. The header's ``files`` list (optional) is checked against the
blocks: a listed file without a block means the answer was cut short.

What the parser forgives (the answer is accepted): a byte-order mark, CRLF line ends
(contents come out with LF), prose or a code fence around the whole answer, a code fence
around one file's content, ``</file>`` at the end of a content line, single-quoted
paths, and the older JSON shape ``{"files": [{"path", "content"}], "summary"}`` when it
parses (control characters inside its strings allowed). Everything else raises
:class:`~enginev2d.errors.OutputInvalid` whose repair hint says exactly what was wrong
and how to write it instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import OutputInvalid
from .schemas import invalid

OPEN = re.compile(r"""^[ \t]*<file[ \t]+path[ \t]*=[ \t]*(["'])(.*?)\1[ \t]*>(.*)$""")
OPEN_LIKE = re.compile(r"^[ \t]*<file\b")
CLOSE = re.compile(r"^(.*?)</file>[ \t]*$")
FENCE = re.compile(r"^[ \t]*```[\w+.-]*[ \t]*$")
ESCAPED_NEWLINES = 5  # "\n" sequences in a one-line file: JSON-escaped content

FORMAT = (
    'First a one-line JSON header {"summary": "...", "files": ["index.html", ...]}, '
    'then every file as <file path="index.html"> on its own line, the file\'s raw text '
    "(no escaping, no code fences), and a line containing only </file>."
)
SHORTER = (
    "Your previous answer was too long and got cut off. Be more concise: shorter code, "
    "no comments, no unused features. "
)


@dataclass
class _Block:
    path: str
    line: int
    lines: list[str] = field(default_factory=list)
    closed: bool = False


def _hint(what: str) -> str:
    return f"{what} Answer again in the required format. {FORMAT}"


def _reject(task: str, message: str, hint: str) -> OutputInvalid:
    return invalid(task, message, _hint(hint))


def _normalize(text: str) -> str:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _scan(task: str, text: str) -> tuple[list[str], list[_Block]]:
    """Split the answer into outside lines (header, prose) and file blocks."""
    outside: list[str] = []
    blocks: list[_Block] = []
    current: _Block | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        opened = OPEN.match(line)
        if current is None:
            if opened:
                current = _Block(opened.group(2).strip(), number)
                blocks.append(current)
                if opened.group(3).strip() and _close_line(current, opened.group(3)):
                    current = None  # a one-line file: <file path="a.js">x</file>
            elif OPEN_LIKE.match(line):
                raise _reject(
                    task,
                    f"malformed file tag on line {number}: {line.strip()[:80]!r}",
                    f"Line {number} opens a file with a malformed tag. Write the opening "
                    'tag exactly as <file path="js/game.js"> with the path in double quotes.',
                )
            else:
                outside.append(line)
            continue
        if opened:
            raise _reject(
                task,
                f"file {current.path!r} is not closed before file {opened.group(2)!r} starts",
                f'The file "{current.path}" has no closing tag before "{opened.group(2)}" '
                "starts: end every file with a line containing only </file>.",
            )
        if _close_line(current, line):
            current = None
    return outside, blocks


def _close_line(block: _Block, line: str) -> bool:
    """Add ``line`` to ``block``; True when it closed the block."""
    closing = CLOSE.match(line)
    if closing is None:
        block.lines.append(line)
        return False
    if closing.group(1).strip():
        block.lines.append(closing.group(1))
    block.closed = True
    return True


def _content(task: str, block: _Block) -> str:
    lines = block.lines
    if len(lines) >= 2 and FENCE.match(lines[0]) and FENCE.match(lines[-1]):
        lines = lines[1:-1]  # the model fenced the file's content: the fence is not the file
    content = "\n".join(lines)  # the line break before </file> separates, it is not content
    if "\n" not in content.rstrip("\n") and content.count("\\n") >= ESCAPED_NEWLINES:
        raise _reject(
            task,
            f"file {block.path!r} is JSON-escaped (\\n sequences instead of line breaks)",
            f'The content of "{block.path}" was written as an escaped JSON string (\\n and '
            "\\\" sequences): write the file's raw text with real line breaks.",
        )
    return content


def _header(task: str, outside: list[str], blocks: list[_Block]) -> dict[str, Any] | None:
    """The JSON object before the first file (prose and fences around it are ignored)."""
    first = blocks[0].line if blocks else None
    text = "\n".join(outside if first is None else outside[: first - 1])
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    raw = text[start : end + 1]
    try:
        value = json.loads(raw, strict=False)
    except json.JSONDecodeError as exc:
        near = raw[max(0, exc.pos - 20) : exc.pos + 20].replace("\n", " ")
        raise _reject(
            task,
            f"the JSON header is not valid JSON ({exc.msg} at column {exc.colno}, near {near!r})",
            f"The JSON header before the files is invalid ({exc.msg} near {near!r}): inside "
            'its strings write a double quote as \\" and keep it on one line.',
        ) from None
    if not isinstance(value, dict):
        raise _reject(task, "the JSON header is not an object", "The header must be an object.")
    return value


def _legacy_json(task: str, text: str, truncated: bool) -> dict[str, Any]:
    """The older shape: everything in one JSON object."""
    body = text.strip()
    fenced = re.match(r"^```[\w-]*\s*\n(.*?)\n?```\s*$", body, re.S)
    if fenced:
        body = fenced.group(1)
    start, end = body.find("{"), body.rfind("}")
    if start < 0:
        raise _no_blocks(task, text)
    if end < start:
        end = len(body) - 1
    try:
        value = json.loads(body[start : end + 1], strict=False)
    except json.JSONDecodeError as exc:
        if truncated:
            cut = "answer was cut off at the output token limit"
            raise invalid(task, cut, SHORTER + FORMAT) from None
        raise _reject(
            task,
            f"answer has no <file> blocks and is not valid JSON ({exc.msg} at line "
            f"{exc.lineno} column {exc.colno})",
            f"Your previous answer put the files inside a JSON string and broke it ({exc.msg} "
            f"at line {exc.lineno} column {exc.colno}, usually an unescaped quote). Do not "
            "put file contents in JSON.",
        ) from None
    if not isinstance(value, dict) or "files" not in value:
        raise _no_blocks(task, text)
    return value


def _no_blocks(task: str, text: str) -> OutputInvalid:
    if "```" in text:
        return _reject(
            task,
            "answer has no <file> blocks (markdown code fences instead)",
            "Your previous answer used markdown code fences instead of <file> blocks.",
        )
    return _reject(
        task,
        "answer has no <file> blocks",
        "Your previous answer contained no files.",
    )


def parse_code_answer(
    task: str, text: Any, *, truncated: bool = False, require_summary: bool = False
) -> dict[str, Any]:
    """``{"files": [{"path", "content"}], "summary"?}`` from a model's answer."""
    if not isinstance(text, str) or not text.strip():
        raise _reject(task, "empty answer", "Your previous answer was empty.")
    text = _normalize(text)
    outside, blocks = _scan(task, text)
    if not blocks:  # the older all-JSON shape, or a fix with {"files": []}
        return _legacy_json(task, text, truncated)
    header = _header(task, outside, blocks) or {}
    unclosed = next((b for b in blocks if not b.closed), None)
    if unclosed is not None:
        if truncated:
            raise invalid(
                task,
                f"answer was cut off at the output token limit inside file {unclosed.path!r}",
                SHORTER + FORMAT,
            )
        raise _reject(
            task,
            f"file {unclosed.path!r} is not closed (no </file> line)",
            f'The file "{unclosed.path}" has no closing tag: end every file with a line '
            "containing only </file>.",
        )
    files = _files(task, blocks)
    _check_header(task, header, files, truncated, require_summary)
    return {"files": files, **_summary(header)}


def _files(task: str, blocks: list[_Block]) -> list[dict[str, str]]:
    seen: set[str] = set()
    files = []
    for block in blocks:
        if block.path in seen:
            raise _reject(
                task,
                f"file {block.path!r} appears twice",
                f'The file "{block.path}" appeared twice: give every file exactly once.',
            )
        seen.add(block.path)
        files.append({"path": block.path, "content": _content(task, block)})
    return files


def _check_header(
    task: str,
    header: dict[str, Any],
    files: list[dict[str, str]],
    truncated: bool,
    require_summary: bool,
) -> None:
    listed = header.get("files")
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
            raise _reject(
                task,
                'the header\'s "files" is not a list of paths',
                'The header\'s "files" must be a list of path strings.',
            )
        present = {f["path"] for f in files}
        missing = [p for p in listed if p.strip() not in present]
        if missing:
            if truncated:
                raise invalid(
                    task,
                    f"answer was cut off at the output token limit before file {missing[0]!r}",
                    SHORTER + FORMAT,
                )
            raise _reject(
                task,
                f"the header lists {missing[0]!r} but no <file> block for it follows",
                f'The header lists "{missing[0]}" but the answer has no <file '
                f'path="{missing[0]}"> block: give every listed file, or list only the '
                "files you give.",
            )
    if require_summary and not (
        isinstance(header.get("summary"), str) and header["summary"].strip()
    ):
        raise _reject(
            task,
            'no JSON header with a "summary" before the files',
            'Your previous answer had no "summary" for the user in a JSON header before the files.',
        )


def _summary(header: dict[str, Any]) -> dict[str, Any]:
    return {"summary": header["summary"]} if "summary" in header else {}
