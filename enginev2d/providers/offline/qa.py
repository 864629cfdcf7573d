"""Static checks of a generated web game (design 7.3, ``qa_review`` task).

:func:`analyze` returns structured :class:`Problem` s; :func:`review` turns them into
the task's ``{issues, findings}`` and ``fix`` uses them to repair. The checks are
real ones: html.parser structure, every local reference resolved against the file
set, JavaScript syntax (``node --check`` or the tokenizer), a canvas and a frame loop.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser

from .jscheck import check_js_syntax, code_only, scan_js

ERROR, WARNING, INFO = "error", "warning", "info"

VOID_TAGS = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
# Elements whose end tag HTML lets you leave out: never reported as unclosed.
OPTIONAL_END = frozenset(
    [
        "html",
        "head",
        "body",
        "p",
        "li",
        "dt",
        "dd",
        "option",
        "optgroup",
        "tr",
        "td",
        "th",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
        "rb",
        "rt",
        "rp",
    ]
)
MEDIA_EXT = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "webp",
        "svg",
        "bmp",
        "ico",
        "avif",
        "mp3",
        "wav",
        "ogg",
        "oga",
        "m4a",
        "aac",
        "flac",
        "mp4",
        "webm",
        "ttf",
        "otf",
        "woff",
        "woff2",
        "glb",
        "gltf",
        "bin",
    ]
)
TEXT_EXT = frozenset(["js", "mjs", "css", "json", "txt", "csv", "xml", "html", "htm"])
_ASSET_RE = re.compile(
    r"^(?:\./)?(?:[\w\-.]+/)*[\w\-.]+\.(?:" + "|".join(sorted(MEDIA_EXT | TEXT_EXT)) + r")$",
    re.IGNORECASE,
)
_CSS_URL_RE = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""")
_MEDIA_TAGS = frozenset(
    ["img", "source", "audio", "video", "embed", "iframe", "object", "input", "track"]
)
_JS_TYPES = frozenset({"", "text/javascript", "application/javascript", "module"})
_LOOP_RE = re.compile(r"\b(?:requestAnimationFrame|setInterval)\s*\(")
_CANVAS_JS_RE = re.compile(r"""createElement\s*\(\s*['"`]canvas['"`]\s*\)""", re.IGNORECASE)
_DOM_TOUCH_RE = re.compile(r"\b(?:getElementById|querySelector(?:All)?|getElementsBy\w+)\s*\(")
_DOM_READY_RE = re.compile(r"DOMContentLoaded|\bonload\b|['\"]load['\"]|\bdefer\b|readyState")


@dataclass(frozen=True)
class Problem:
    kind: str
    severity: str
    path: str  # the file the problem is in (or would be, for a missing index.html)
    description: str
    fix_hint: str
    target: str = ""  # a referenced path, a tag name...
    offset: int = -1  # where in ``path`` (for HTML structure repairs)
    length: int = 0

    def finding(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "description": self.description,
            "fix_hint": self.fix_hint,
        }


def normalize_path(path: str) -> str | None:
    """A clean relative POSIX path, or None for absolute/escaping/empty ones."""
    if not isinstance(path, str) or not path.strip():
        return None
    p = path.strip().replace("\\", "/")
    if p.startswith("/") or re.match(r"^[a-zA-Z]:", p):
        return None
    p = posixpath.normpath(p)
    if p in (".", "") or p.startswith("../") or p == "..":
        return None
    return p


def is_local_ref(ref: str) -> bool:
    r = ref.strip()
    if not r or r.startswith(("#", "//", "data:", "blob:", "javascript:", "mailto:", "about:")):
        return False
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", r)


def resolve(base_file: str, ref: str) -> str | None:
    """The file ``ref`` points at, seen from ``base_file`` (query/fragment dropped)."""
    clean = re.split(r"[?#]", ref.strip(), maxsplit=1)[0]
    if not clean:
        return None
    return normalize_path(posixpath.join(posixpath.dirname(base_file), clean))


def ext_of(path: str) -> str:
    return posixpath.splitext(path)[1].lstrip(".").lower()


def is_media(path: str) -> bool:
    return ext_of(path) not in TEXT_EXT


# ---- HTML ------------------------------------------------------------------------


@dataclass
class ScriptTag:
    src: str | None
    type: str
    in_head: bool
    deferred: bool
    offset: int  # of the "<script" text
    body: str = ""
    body_offset: int = -1


class _PageParser(HTMLParser):
    """Collects what the checks need in one pass over an HTML document."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self._line_starts = [0]
        for m in re.finditer("\n", text):
            self._line_starts.append(m.end())
        self.doctype = False
        self.viewport = False
        self.canvas_ids: list[str] = []
        self.scripts: list[ScriptTag] = []
        self.refs: list[tuple[str, str]] = []  # (how, ref)
        self.stray: list[tuple[str, int]] = []  # (tag, offset of its "</")
        self.unclosed: list[tuple[str, int]] = []  # (tag, offset to insert "</tag>")
        self._stack: list[tuple[str, int]] = []
        self._script: ScriptTag | None = None
        self._in_head = False

    def _abs_pos(self) -> int:
        line, col = self.getpos()
        return self._line_starts[line - 1] + col

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype"):
            self.doctype = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=False)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], *, self_closing: bool) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        pos = self._abs_pos()
        if tag == "head":
            self._in_head = True
        elif tag == "body":
            self._in_head = False
        if tag == "meta" and a.get("name", "").lower() == "viewport":
            self.viewport = True
        elif tag == "canvas":
            self.canvas_ids.append(a.get("id", ""))
        elif tag == "script":
            script = ScriptTag(
                src=a.get("src") if "src" in a else None,
                type=a.get("type", "").strip().lower(),
                in_head=self._in_head,
                deferred="defer" in a or "async" in a or a.get("type", "").lower() == "module",
                offset=pos,
            )
            self.scripts.append(script)
            if script.src is not None:
                self.refs.append(("script src", script.src))
            self._script = script
        elif tag == "link" and a.get("href"):
            rel = a.get("rel", "").lower()
            if any(
                r in rel for r in ("stylesheet", "icon", "preload", "manifest", "modulepreload")
            ):
                self.refs.append((f"link {rel}", a["href"]))
        if tag in _MEDIA_TAGS:
            for attr in ("src", "poster", "data"):
                if a.get(attr):
                    self.refs.append((f"{tag} {attr}", a[attr]))
        if tag not in VOID_TAGS and not self_closing:
            self._stack.append((tag, pos))

    def handle_endtag(self, tag: str) -> None:
        pos = self._abs_pos()
        if tag == "head":
            self._in_head = False
        if tag == "script" and self._script is not None:
            self._script = None
        if tag in VOID_TAGS:
            return
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth][0] == tag:
                for inner, _ in self._stack[depth + 1 :]:
                    if inner not in OPTIONAL_END:
                        self.unclosed.append((inner, pos))
                del self._stack[depth:]
                return
        self.stray.append((tag, pos))

    def handle_data(self, data: str) -> None:
        if self._script is not None and self._script.src is None:
            if self._script.body_offset < 0:
                self._script.body_offset = self._abs_pos()
            self._script.body += data

    def finish(self) -> None:
        self.close()
        for tag, _ in self._stack:
            if tag not in OPTIONAL_END:
                self.unclosed.append((tag, len(self.text)))


def parse_page(text: str) -> _PageParser:
    page = _PageParser(text)
    page.feed(text)
    page.finish()
    return page


# ---- analysis ----------------------------------------------------------------------


def _js_sources(
    files: Mapping[str, str], pages: Mapping[str, _PageParser]
) -> list[tuple[str, str, bool]]:
    """(label, source, is_module) for every JS file and inline script."""
    out = []
    for path, content in files.items():
        if ext_of(path) in ("js", "mjs"):
            out.append((path, content, ext_of(path) == "mjs"))
    for path, page in pages.items():
        for k, script in enumerate(page.scripts):
            if script.src is None and script.type in _JS_TYPES and script.body.strip():
                out.append(
                    (f"{path} (inline script {k + 1})", script.body, script.type == "module")
                )
    return out


def analyze(
    files: Mapping[str, str],
    *,
    external: Iterable[str] = (),
    media_external: bool = False,
) -> list[Problem]:
    """Every problem found in ``files`` (path -> text).

    ``external``: paths produced elsewhere (the asset task's images), counted as
    present. ``media_external``: treat every media reference as present (``fix``
    uses this; it cannot know which images the asset task made).
    """
    present = set(files) | {p for p in (normalize_path(e) for e in external) if p}
    problems: list[Problem] = []
    pages: dict[str, _PageParser] = {}
    index = files.get("index.html")

    if index is None:
        problems.append(
            Problem(
                "missing_index",
                ERROR,
                "index.html",
                "There is no index.html: the game has no entry page.",
                "Create index.html with a <canvas> that loads the game's scripts and styles.",
            )
        )
    for path in sorted(p for p in files if ext_of(p) in ("html", "htm")):
        try:
            pages[path] = parse_page(files[path])
        except Exception as exc:  # html.parser is lenient; an exception is a real break
            problems.append(
                Problem(
                    "html_parse",
                    ERROR,
                    path,
                    f"'{path}' does not parse as HTML: {exc}",
                    "Rewrite the document as well-formed HTML5.",
                )
            )
    page = pages.get("index.html")

    for path, pg in pages.items():
        if path == "index.html" and not pg.doctype:
            problems.append(
                Problem(
                    "no_doctype",
                    INFO,
                    path,
                    "index.html has no <!DOCTYPE html>: browsers render it in quirks mode.",
                    "Add <!DOCTYPE html> as the first line.",
                )
            )
        if path == "index.html" and not pg.viewport:
            problems.append(
                Problem(
                    "no_viewport",
                    INFO,
                    path,
                    "index.html has no viewport meta tag: phones will show it zoomed out.",
                    'Add <meta name="viewport" content="width=device-width, initial-scale=1">.',
                )
            )
        for tag, off in pg.stray:
            problems.append(
                Problem(
                    "stray_end_tag",
                    WARNING,
                    path,
                    f"'{path}' has a closing </{tag}> without a matching <{tag}>.",
                    f"Remove the stray </{tag}>.",
                    target=tag,
                    offset=off,
                )
            )
        for tag, off in pg.unclosed:
            problems.append(
                Problem(
                    "unclosed_tag",
                    WARNING,
                    path,
                    f"'{path}' never closes a <{tag}> element.",
                    f"Add </{tag}> where the element should end.",
                    target=tag,
                    offset=off,
                )
            )

    # Local references: HTML attributes, CSS url()/@import, asset paths in JS strings.
    refs: list[tuple[str, str, str]] = []  # (from file, how, resolved path)
    for path, pg in pages.items():
        for how, ref in pg.refs:
            if is_local_ref(ref):
                target = resolve(path, ref)
                if target:
                    refs.append((path, how, target))
    for path, content in files.items():
        if ext_of(path) == "css":
            for m in _CSS_URL_RE.finditer(content):
                ref = m.group(2) or m.group(4)
                if ref and is_local_ref(ref):
                    target = resolve(path, ref)
                    if target:
                        refs.append((path, "css url", target))
    js_sources = _js_sources(files, pages)
    for label, source, _module in js_sources:
        scan = scan_js(source)
        for a, b in scan.strings:
            text = source[a:b].strip()
            if _ASSET_RE.match(text) and is_local_ref(text):
                # Paths in scripts resolve against the page, not the script file.
                target = normalize_path(text)
                if target:
                    refs.append((label.split(" (inline")[0], "string in script", target))
    seen: set[tuple[str, str]] = set()
    for src_file, how, target in refs:
        if target in present or (media_external and is_media(target)):
            continue
        if (src_file, target) in seen:
            continue
        seen.add((src_file, target))
        code_like = how.startswith(("script", "link stylesheet")) or ext_of(target) in (
            "js",
            "mjs",
            "css",
        )
        problems.append(
            Problem(
                "missing_ref",
                ERROR if code_like else WARNING,
                src_file,
                f"'{src_file}' references '{target}' ({how}), "
                "which is not among the generated files.",
                f"Add '{target}' or remove the reference to it.",
                target=target,
            )
        )

    for label, source, _module in js_sources:
        err = check_js_syntax(source)
        if err:
            problems.append(
                Problem(
                    "js_syntax",
                    ERROR,
                    label.split(" (inline")[0],
                    f"JavaScript syntax error in '{label}': {err}",
                    "Fix the syntax error (unbalanced brackets, unterminated strings...).",
                    target=label,
                )
            )

    all_code = "\n".join(code_only(src) for _, src, _ in js_sources)
    if page is not None:
        if not page.canvas_ids and not _CANVAS_JS_RE.search("\n".join(s for _, s, _ in js_sources)):
            problems.append(
                Problem(
                    "no_canvas",
                    ERROR,
                    "index.html",
                    "index.html has no <canvas> element and no script creates one.",
                    'Add <canvas id="game" width="480" height="640"></canvas> to the body.',
                )
            )
        if not _LOOP_RE.search(all_code):
            problems.append(
                Problem(
                    "no_loop",
                    ERROR,
                    "index.html",
                    "No game loop: no script calls requestAnimationFrame or setInterval.",
                    "Drive update and render from requestAnimationFrame.",
                )
            )
        problems.extend(_unlinked(files, pages, refs))
        problems.extend(_blocking_head_scripts(files, page))
    return problems


def _unlinked(
    files: Mapping[str, str], pages: Mapping[str, _PageParser], refs: list[tuple[str, str, str]]
) -> list[Problem]:
    referenced = {target for _, _, target in refs}
    out = []
    for path in sorted(files):
        if path in referenced:
            continue
        if ext_of(path) in ("js", "mjs"):
            out.append(
                Problem(
                    "unlinked_script",
                    ERROR,
                    "index.html",
                    f"'{path}' is never loaded: no <script src> in index.html points at it.",
                    f'Add <script src="{path}"></script> before </body> in index.html.',
                    target=path,
                )
            )
        elif ext_of(path) == "css":
            out.append(
                Problem(
                    "unlinked_style",
                    WARNING,
                    "index.html",
                    f"'{path}' is never used: no <link rel=\"stylesheet\"> points at it.",
                    f'Add <link rel="stylesheet" href="{path}"> inside <head>.',
                    target=path,
                )
            )
    return out


def _blocking_head_scripts(files: Mapping[str, str], page: _PageParser) -> list[Problem]:
    """A plain <script src> in <head> runs before the body exists: DOM lookups get null."""
    out = []
    for script in page.scripts:
        if script.src is None or not script.in_head or script.deferred:
            continue
        target = resolve("index.html", script.src) if is_local_ref(script.src) else None
        source = files.get(target or "")
        if source is None:
            continue
        code = code_only(source)
        if _DOM_TOUCH_RE.search(code) and not _DOM_READY_RE.search(source):
            out.append(
                Problem(
                    "head_script_blocking",
                    WARNING,
                    "index.html",
                    f"'{target}' is loaded in <head> without defer but looks up page elements "
                    "at once: they do not exist yet, so the lookups return null.",
                    f'Add the defer attribute to <script src="{script.src}">.',
                    target=script.src,
                    offset=script.offset,
                )
            )
    return out


MAX_FINDINGS = 50  # the qa_review task's schema limit
MAX_TEXT = 1000


def review(files: Mapping[str, str], *, external: Iterable[str] = ()) -> dict[str, object]:
    """``{issues, findings}``: errors first, at most MAX_FINDINGS (the rest summarised)."""
    problems = analyze(files, external=external)
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    problems.sort(key=lambda p: (order[p.severity], p.path, p.kind, p.target, p.offset))
    findings = [{k: v[:MAX_TEXT] for k, v in p.finding().items()} for p in problems[:MAX_FINDINGS]]
    if len(problems) > MAX_FINDINGS:
        rest = problems[MAX_FINDINGS - 1 :]
        findings[-1] = {
            "severity": rest[0].severity,
            "description": f"{len(rest)} more problems like: {rest[0].description}"[:MAX_TEXT],
            "fix_hint": rest[0].fix_hint[:MAX_TEXT],
        }
    issues = sum(1 for f in findings if f["severity"] in (ERROR, WARNING))
    return {"issues": issues, "findings": findings}
