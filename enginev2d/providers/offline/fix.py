"""Deterministic repairs for what :mod:`.qa` finds (design 7.3, ``fix`` task).

Two strategies, in order:

1. An offline-made game (index.html carries the generator marker) is repaired by
   rendering the damaged template files again from the settings in the marker.
2. Anything left (or a game made elsewhere) gets targeted edits: stub files for
   missing scripts/styles, the missing ``<script src>``/``<link>``/``<canvas>``,
   stray or missing HTML end tags, ``defer`` on blocking head scripts, closing
   brackets for a truncated script, a frame loop for a game that never starts one.

``fix`` does not know which images the asset task produced, so a reference to a
missing image is only removed when a finding names that path (the game's sprites
have fallback shapes, so a blanked image path still leaves a playable game).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ...templates import FILES as TEMPLATE_FILES
from ...templates import GameSettings, manifest, read_marker, render_files
from .jscheck import check_js_syntax, code_only, missing_closers, scan_js
from .qa import ERROR, WARNING, Problem, analyze, ext_of, is_media, normalize_path, resolve

MAX_PASSES = 4
_QUOTED = re.compile(r"'([^'\s]{1,300})'")
_SPRITES_RE = re.compile(r"^const SPRITES = (\{.*?\});", re.M)
_FUNC_DEF = re.compile(
    r"\bfunction\s+([A-Za-z_$][\w$]*)\s*\(|"
    r"\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s+)?(?:function\b|\([^()]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)"
)
_LOOP_NAMES = ("gameLoop", "mainLoop", "loop", "tick", "frame", "animate", "main", "step")
_CANVAS_LOOKUP = re.compile(
    r"([A-Za-z_$][\w$]*)\s*=\s*document\.getElementById\(\s*['\"]([^'\"]+)['\"]\s*\)"
)


def _mentioned(findings: object) -> set[str]:
    """Paths quoted in findings ('assets/x.png'), normalised."""
    out: set[str] = set()
    if not isinstance(findings, list):
        return out
    for f in findings:
        if not isinstance(f, dict):
            continue
        for key in ("description", "fix_hint"):
            text = f.get(key)
            if isinstance(text, str):
                for m in _QUOTED.finditer(text):
                    p = normalize_path(m.group(1))
                    if p:
                        out.add(p)
    return out


def _actionable(problems: list[Problem], mentioned: set[str]) -> list[Problem]:
    """Errors and warnings fix should act on; media references only when named."""
    out = []
    for p in problems:
        if p.severity not in (ERROR, WARNING) and p.kind not in ("no_doctype", "no_viewport"):
            continue
        if p.kind == "missing_ref" and is_media(p.target) and p.target not in mentioned:
            continue
        out.append(p)
    return out


# ---- strategy 1: render an offline-made game again -------------------------------------


def _current_sprites(config_js: str | None, settings: GameSettings) -> dict[str, str]:
    if config_js:
        m = _SPRITES_RE.search(config_js)
        if m:
            try:
                data = json.loads(m.group(1))
            except ValueError:
                data = None
            if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
                return {k: v for k, v in data.items() if isinstance(k, str)}
    return {s.role: s.path for s in manifest(settings.template_id).sprites}


def _rerender(
    fs: dict[str, str], settings: GameSettings, problems: list[Problem], mentioned: set[str]
) -> dict[str, str]:
    damaged = {name for name in TEMPLATE_FILES if name not in fs}
    for p in problems:
        if p.path in TEMPLATE_FILES:
            damaged.add(p.path)
        if p.target in TEMPLATE_FILES:
            damaged.add(p.target)
        if p.kind == "no_loop":
            damaged.add("game.js")
        if p.kind in ("no_canvas", "unlinked_script", "unlinked_style") and p.target in (
            "",
            *TEMPLATE_FILES,
        ):
            damaged.add("index.html")
    if not damaged:
        return fs
    sprites = {
        role: path
        for role, path in _current_sprites(fs.get("config.js"), settings).items()
        if normalize_path(path) not in mentioned or normalize_path(path) in fs
    }
    out = dict(fs)
    for f in render_files(settings, sprites):
        if f["path"] in damaged:
            out[f["path"]] = f["content"]
    return out


# ---- strategy 2: targeted edits ----------------------------------------------------------


def _canvas_id(fs: Mapping[str, str]) -> str:
    """The id the scripts look the canvas up by (a variable that calls getContext)."""
    for path in sorted(fs):
        if ext_of(path) not in ("js", "mjs", "html"):
            continue
        text = fs[path]
        for m in _CANVAS_LOOKUP.finditer(text):
            if re.search(r"\b" + re.escape(m.group(1)) + r"\s*\.\s*getContext\s*\(", text):
                return m.group(2)
    return "game"


def _insert_before(text: str, closing: str, snippet: str) -> str | None:
    idx = text.lower().rfind(closing)
    return None if idx < 0 else text[:idx] + snippet + text[idx:]


def _insert_after_open(text: str, tag: str, snippet: str) -> str | None:
    m = re.search(rf"<{tag}\b[^>]*>", text, re.IGNORECASE)
    return None if m is None else text[: m.end()] + "\n" + snippet + text[m.end() :]


def _new_index(fs: Mapping[str, str]) -> str:
    styles = "".join(
        f'<link rel="stylesheet" href="{p}">\n' for p in sorted(fs) if ext_of(p) == "css"
    )
    module = ' type="module"'
    scripts = "".join(
        f'<script src="{p}"{module if ext_of(p) == "mjs" else ""}></script>\n'
        for p in sorted(fs)
        if ext_of(p) in ("js", "mjs")
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Game</title>\n{styles}</head>\n<body>\n"
        f'<canvas id="{_canvas_id(fs)}" width="480" height="640"></canvas>\n'
        f"{scripts}</body>\n</html>\n"
    )


def _stub(path: str) -> str:
    ext = ext_of(path)
    note = f"Placeholder: '{path}' was referenced but not generated."
    if ext in ("js", "mjs"):
        return f"// {note}\n"
    if ext == "css":
        return f"/* {note} */\n"
    if ext == "json":
        return "{}\n"
    if ext in ("html", "htm"):
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>{path}</title></head><body><!-- {note} --></body></html>\n"
        )
    return ""


def _blank_media_refs(fs: dict[str, str], src_file: str, target: str) -> None:
    text = fs.get(src_file)
    if text is None:
        return
    ext = ext_of(src_file)
    if ext in ("html", "htm"):

        def attr(m: re.Match[str]) -> str:
            return (
                m.group(0)
                if resolve(src_file, m.group(3)) != target
                else f"{m.group(1)}{m.group(2)}{m.group(2)}"
            )

        fs[src_file] = re.sub(r"(\b(?:src|href|poster|data)\s*=\s*)([\"'])(.*?)\2", attr, text)
    elif ext in ("js", "mjs"):
        spans = [
            (a, b) for a, b in scan_js(text).strings if normalize_path(text[a:b].strip()) == target
        ]
        for a, b in reversed(spans):
            text = text[:a] + text[b:]
        fs[src_file] = text
    elif ext == "css":
        fs[src_file] = re.sub(
            r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)",
            lambda m: "none" if resolve(src_file, m.group(2)) == target else m.group(0),
            text,
        )


def _add_loop(fs: dict[str, str]) -> bool:
    for path in sorted(p for p in fs if ext_of(p) in ("js", "mjs")):
        code = code_only(fs[path])
        names = {a or b for a, b in _FUNC_DEF.findall(code)}
        calls: list[str] = []
        for name in _LOOP_NAMES:
            if name in names:
                calls = [f"{name}();"]
                break
        if not calls:
            if "update" in names:
                calls.append("update(1 / 60);")
            for name in ("render", "draw"):
                if name in names:
                    calls.append(f"{name}();")
                    break
        if calls:
            body = "\n  ".join(calls)
            fs[path] = (
                fs[path].rstrip("\n")
                + "\n\n// Added by the enginev2d QA fix: nothing started the game loop.\n"
                + f"(function enginev2dLoop() {{\n  {body}\n"
                + "  requestAnimationFrame(enginev2dLoop);\n})();\n"
            )
            return True
    return False


def _html_edits(text: str, problems: list[Problem]) -> str:
    """Apply stray-end-tag removals and missing end-tag inserts, last offset first."""
    edits: list[tuple[int, int, str, str]] = []  # (offset, seq, kind, payload)
    for seq, p in enumerate(problems):
        if p.kind == "stray_end_tag":
            edits.append((p.offset, seq, "remove", p.target))
        elif p.kind == "unclosed_tag":
            edits.append((p.offset, seq, "insert", p.target))
    for offset, _seq, kind, tag in sorted(edits, key=lambda e: (-e[0], e[1])):
        if kind == "remove":
            m = re.compile(rf"</\s*{re.escape(tag)}\s*>", re.IGNORECASE).match(text, offset)
            if m:
                text = text[: m.start()] + text[m.end() :]
        else:
            text = text[:offset] + f"</{tag}>" + text[offset:]
    return text


def _apply(fs: dict[str, str], problems: list[Problem]) -> None:
    by_path_html: dict[str, list[Problem]] = {}
    for p in problems:
        if p.kind in ("stray_end_tag", "unclosed_tag"):
            by_path_html.setdefault(p.path, []).append(p)
    for path, probs in by_path_html.items():
        fs[path] = _html_edits(fs[path], probs)
    for p in problems:
        index = fs.get("index.html")
        if p.kind == "missing_index":
            fs["index.html"] = _new_index(fs)
        elif p.kind == "no_doctype" and index is not None:
            fs["index.html"] = "<!DOCTYPE html>\n" + index
        elif p.kind == "no_viewport" and index is not None:
            meta = '<meta name="viewport" content="width=device-width, initial-scale=1">'
            fs["index.html"] = _insert_after_open(index, "head", meta) or index
        elif p.kind == "missing_ref":
            if is_media(p.target):
                _blank_media_refs(fs, p.path, p.target)
            elif p.target not in fs:
                fs[p.target] = _stub(p.target)
        elif p.kind == "unlinked_script" and index is not None:
            kind = ' type="module"' if ext_of(p.target) == "mjs" else ""
            tag = f'<script src="{p.target}"{kind}></script>\n'
            fs["index.html"] = (
                _insert_before(index, "</body>", tag)
                or _insert_before(index, "</html>", tag)
                or index + "\n" + tag
            )
        elif p.kind == "unlinked_style" and index is not None:
            tag = f'<link rel="stylesheet" href="{p.target}">\n'
            fs["index.html"] = (
                _insert_before(index, "</head>", tag)
                or _insert_after_open(index, "body", tag)
                or tag + index
            )
        elif p.kind == "no_canvas" and index is not None:
            tag = f'<canvas id="{_canvas_id(fs)}" width="480" height="640"></canvas>\n'
            fs["index.html"] = (
                _insert_after_open(index, "body", tag)
                or _insert_before(index, "<script", tag)
                or index + "\n" + tag
            )
        elif p.kind == "head_script_blocking" and index is not None:
            if index.lower().startswith("<script", p.offset):
                fs["index.html"] = index[: p.offset + 7] + " defer" + index[p.offset + 7 :]
        elif p.kind == "js_syntax" and p.path in fs and ext_of(p.path) in ("js", "mjs"):
            closers = missing_closers(fs[p.path])
            if closers:
                candidate = fs[p.path].rstrip("\n") + "\n" + closers + "\n"
                if check_js_syntax(candidate) is None:
                    fs[p.path] = candidate
        elif p.kind == "no_loop":
            _add_loop(fs)


def repair(files: list[dict[str, object]], findings: object) -> list[dict[str, object]]:
    """The repaired file list: same order, new files appended in path order."""
    order: list[str] = []
    fs: dict[str, str] = {}
    passthrough: dict[str, object] = {}  # non-text contents are kept untouched
    for f in files:
        if not isinstance(f, dict):
            continue
        path = normalize_path(str(f.get("path", "")))
        if path is None or path in fs or path in passthrough:
            continue
        order.append(path)
        content = f.get("content")
        if isinstance(content, str):
            fs[path] = content
        else:
            passthrough[path] = content
    mentioned = _mentioned(findings)

    settings = read_marker(fs.get("index.html"))
    if settings is not None:
        problems = _actionable(analyze(fs, external=passthrough), mentioned)
        fs = _rerender(fs, settings, problems, mentioned)

    for _ in range(MAX_PASSES):
        problems = _actionable(analyze(fs, external=passthrough), mentioned)
        if not problems:
            break
        before = dict(fs)
        _apply(fs, problems)
        if fs == before:
            break  # nothing more this fixer knows how to repair

    out: list[dict[str, object]] = []
    for path in order:
        out.append({"path": path, "content": fs[path] if path in fs else passthrough[path]})
    for path in sorted(set(fs) - set(order)):
        out.append({"path": path, "content": fs[path]})
    return out
