"""A generated game's settings: defaults, applying a request, and the index.html marker.

Every offline-made ``index.html`` carries
``<meta name="generator" content="enginev2d-offline/1 template=<id> settings=<json>">``;
:func:`read_marker` recovers the settings from it so an edit ("make it faster")
starts from what the game is now, not from the defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from html.parser import HTMLParser
from typing import Any

from .catalog import DEFAULT_TEMPLATE, TEMPLATES, normalize_template_id
from .palette import (
    PALETTES,
    color_word_hex,
    recolor_background,
    recolor_primary,
    valid_colors,
)
from .request import (
    DIFFICULTIES,
    SPEED_DEFAULT,
    SPEED_MAX,
    SPEED_MIN,
    Request,
    clean_title,
)

MARKER_PREFIX = "enginev2d-offline/1"
_MARKER_RE = re.compile(
    r"^enginev2d-offline/\d+\s+template=([a-z0-9_-]+)(?:\s+settings=(.*))?$", re.S
)


@dataclass(frozen=True)
class Settings:
    template_id: str
    title: str
    title_auto: bool  # derived from palette + template; re-derived when the palette changes
    palette: str
    colors: dict[str, str] = field(hash=False)
    glow: int
    speed: int
    difficulty: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def auto_title(template_id: str, palette: str, palette_named: bool) -> str:
    name = TEMPLATES[template_id].name
    if not palette_named or palette.lower() in name.lower().split():
        return name  # "Space Shooter", not "Space Space Shooter"
    return f"{palette.capitalize()} {name}"


def defaults(template_id: str) -> Settings:
    template = TEMPLATES[template_id]
    pal = PALETTES[template.default_palette]
    return Settings(
        template_id=template_id,
        title=auto_title(template_id, pal.name, False),
        title_auto=True,
        palette=pal.name,
        colors=pal.colors(),
        glow=pal.glow,
        speed=SPEED_DEFAULT,
        difficulty="normal",
    )


def apply_request(base: Settings, req: Request) -> tuple[Settings, list[str]]:
    """``base`` with the request's changes, and one human-readable line per change."""
    s = base
    changes: list[str] = []
    if req.palette and req.palette != s.palette:
        pal = PALETTES[req.palette]
        changes.append(f"palette {s.palette} -> {pal.name}")
        s = replace(s, palette=pal.name, colors=pal.colors(), glow=pal.glow)
        if s.title_auto:
            s = replace(s, title=auto_title(s.template_id, pal.name, True))
    elif req.palette and s.title_auto and s.title == TEMPLATES[s.template_id].name:
        s = replace(s, title=auto_title(s.template_id, s.palette, True))  # "a neon snake"
    if req.primary_word:
        colors = recolor_primary(s.colors, color_word_hex(req.primary_word, s.palette))
        if colors != s.colors:
            changes.append(f"main colour -> {req.primary_word}")
            s = replace(s, colors=colors)
    if req.background_word:
        colors = recolor_background(s.colors, req.background_word)
        if colors != s.colors:
            changes.append(f"background -> {req.background_word}")
            s = replace(s, colors=colors)
    speed = s.speed
    if req.speed_abs is not None:
        speed = req.speed_abs
    elif req.speed_delta:
        speed = s.speed + req.speed_delta
    speed = max(SPEED_MIN, min(SPEED_MAX, speed))
    if speed != s.speed:
        changes.append(f"speed {s.speed} -> {speed}")
        s = replace(s, speed=speed)
    difficulty = s.difficulty
    if req.difficulty_abs:
        difficulty = req.difficulty_abs
    elif req.difficulty_delta:
        i = DIFFICULTIES.index(s.difficulty) + req.difficulty_delta
        difficulty = DIFFICULTIES[max(0, min(len(DIFFICULTIES) - 1, i))]
    if difficulty != s.difficulty:
        changes.append(f"difficulty {s.difficulty} -> {difficulty}")
        s = replace(s, difficulty=difficulty)
    if req.title and req.title != s.title:
        changes.append(f"title -> {req.title}")
        s = replace(s, title=req.title, title_auto=False)
    return s, changes


def from_json(data: object, template_id: str | None = None) -> Settings | None:
    """Settings from a marker/plan dict; missing or bad fields fall back to defaults."""
    if not isinstance(data, dict):
        return None
    tid = normalize_template_id(data.get("template_id")) or normalize_template_id(template_id)
    if tid is None:
        return None
    base = defaults(tid)
    palette = data.get("palette") if data.get("palette") in PALETTES else base.palette
    colors = valid_colors(data.get("colors")) or PALETTES[palette].colors()
    glow = data.get("glow")
    speed = data.get("speed")
    title = clean_title(data["title"]) if isinstance(data.get("title"), str) else None
    return Settings(
        template_id=tid,
        title=title or base.title,
        title_auto=bool(data.get("title_auto", title is None)),
        palette=palette,
        colors=colors,
        glow=glow if isinstance(glow, int) and 0 <= glow <= 40 else PALETTES[palette].glow,
        speed=speed if isinstance(speed, int) and SPEED_MIN <= speed <= SPEED_MAX else base.speed,
        difficulty=data.get("difficulty") if data.get("difficulty") in DIFFICULTIES else "normal",
    )


def marker_content(settings: Settings) -> str:
    body = json.dumps(settings.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{MARKER_PREFIX} template={settings.template_id} settings={body}"


class _MetaFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.generator: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta" or self.generator is not None:
            return
        a = {k: v or "" for k, v in attrs}
        if a.get("name", "").lower() == "generator" and a.get("content", "").startswith(
            "enginev2d-offline/"
        ):
            self.generator = a["content"]


def read_marker(index_html: str | None) -> Settings | None:
    """The settings of an offline-made game, or None for anything else."""
    if not index_html:
        return None
    finder = _MetaFinder()
    try:
        finder.feed(index_html)
        finder.close()
    except Exception:  # html.parser is lenient; never let a weird file break planning
        return None
    m = _MARKER_RE.match(finder.generator or "")
    if not m:
        return None
    data: object = {}
    if m.group(2):
        try:
            data = json.loads(m.group(2))
        except ValueError:
            data = {}
    if not isinstance(data, dict):
        data = {}
    return from_json({**data, "template_id": m.group(1)})


__all__ = [
    "DEFAULT_TEMPLATE",
    "Settings",
    "apply_request",
    "defaults",
    "from_json",
    "marker_content",
    "read_marker",
]
