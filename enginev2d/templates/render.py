"""A game's settings, and the files a template renders into with them.

:class:`GameSettings` is what a plan (or the ``<meta name="generator">`` marker of a game
made earlier) says about a game: template, language, title, palette and the template's
exposed settings. :func:`render_files` fills the template's ``{{TOKENS}}`` with it.
Substitution is one pass, so text from the user (the title) can never introduce another
token, and every value is escaped for where it lands (HTML text or attribute, JavaScript).
"""

from __future__ import annotations

import html
import json
import posixpath
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from html.parser import HTMLParser
from typing import Any

from .library import (
    CORE_SETTINGS,
    DEFAULT_LANGUAGE,
    FILES,
    LANGUAGES,
    Manifest,
    catalogue,
    common,
    manifest,
    pick,
    source,
)
from .matching import GENRE_WEIGHT, normalize

MARKER_PREFIX = "enginev2d-template/2"
_MARKER_RE = re.compile(
    r"^enginev2d-(?:offline|template)/\d+\s+template=([a-z0-9_-]+)(?:\s+settings=(.*))?$", re.S
)
_TOKEN = re.compile(r"\{\{([A-Z_]+)\}\}")
_HEX = re.compile(r"^#[0-9a-f]{6}$")
THEME_COLORS = {"stars": "#02030d", "sky": "#3d9be0", "sea": "#0a3d6b"}
TITLE_MAX = 40


@dataclass(frozen=True)
class GameSettings:
    template_id: str
    language: str
    title: str
    title_auto: bool  # derived from template, palette and subject; re-derived when they change
    palette: str
    colors: dict[str, str] = field(hash=False)
    glow: int = 0
    values: dict[str, Any] = field(default_factory=dict, hash=False)  # exposed settings
    subject: str | None = None  # what the player sprite shows ("cat")
    item: str | None = None  # what the collected sprite shows ("fish")

    @property
    def manifest(self) -> Manifest:
        return manifest(self.template_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "template_id": self.template_id,
            "language": self.language,
            "title": self.title,
            "title_auto": self.title_auto,
            "palette": self.palette,
            "colors": dict(self.colors),
            "glow": self.glow,
            "settings": dict(self.values),
            "subject": self.subject,
            "item": self.item,
        }


def clean_title(raw: str) -> str | None:
    """A safe one-line title: no control characters, at most TITLE_MAX characters."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = " ".join(text.split()).strip(" -:")
    return text[:TITLE_MAX].rstrip() or None


def auto_title(template_id: str, palette: str, language: str, subject: str | None = None) -> str:
    """ "Neon Cat Runner" / "ネオン・ネコのランナー": palette (unless the template's own),
    subject (if any) and the template's name, in the game's language."""
    m = manifest(template_id)
    shared = common()
    name = m.name(language)
    if subject in shared.subjects and not _natural(m, subject):
        noun = pick(shared.subjects[subject].name, language)
        name = f"{noun}の{name}" if language == "ja" else f"{noun} {name}"
    if palette == m.palette or palette not in shared.palettes:
        return name
    adjective = pick(shared.palettes[palette].label, language)
    if adjective.lower() in name.lower():
        return name  # "Space Shooter", not "Space Space Shooter"
    return f"{adjective}・{name}" if language == "ja" else f"{adjective} {name}"


def _natural(m: Manifest, subject: str) -> bool:
    """Whether the template is about that subject anyway (a bird in Flappy, a car racing)."""
    words = {normalize(w) for ws in common().subjects[subject].words.values() for w in ws}
    keywords = {normalize(k) for ks in m.keywords.values() for k in ks}
    return bool(words & keywords)


def default_values(m: Manifest) -> dict[str, Any]:
    return {name: s.default for name, s in m.settings.items()}


def defaults(template_id: str, language: str = DEFAULT_LANGUAGE) -> GameSettings:
    m = manifest(template_id)
    pal = common().palettes[m.palette]
    return GameSettings(
        template_id=template_id,
        language=language if language in LANGUAGES else DEFAULT_LANGUAGE,
        title=auto_title(template_id, m.palette, language),
        title_auto=True,
        palette=m.palette,
        colors=dict(pal.colors),
        glow=pal.glow,
        values=default_values(m),
    )


def retitle(s: GameSettings) -> GameSettings:
    """Re-derive an automatic title after the template, palette, subject or language changed."""
    if not s.title_auto:
        return s
    return replace(s, title=auto_title(s.template_id, s.palette, s.language, s.subject))


def normalize_template_id(value: object) -> str | None:
    """Our id for a name a planner (or a person) uses: "Platformer" -> "platformer",
    "Tetris" -> "blocks", "brick-breaker" -> "breakout"; None when unknown."""
    if not isinstance(value, str):
        return None
    key = normalize(value).replace("_", " ").replace("-", " ")
    key = re.sub(r"\s+game$", "", key).strip()
    return _template_names().get(key.replace(" ", ""))


@cache
def _template_names() -> dict[str, str]:
    """Every name of every template (its id, title, genre and genre-naming keywords),
    spaces removed, to the first template in catalogue order that has it. Built once:
    every plan and preview looks names up (it was ~200 normalize() calls each)."""
    out: dict[str, str] = {}
    for tid, m in catalogue().items():
        names = {tid.replace("_", " "), normalize(m.title["en"]), normalize(m.genre["en"])}
        keywords = m.keywords.get("en", {})
        names |= {normalize(w) for w, weight in keywords.items() if weight >= GENRE_WEIGHT}
        for name in names:
            out.setdefault(name.replace(" ", ""), tid)
    return out


def valid_colors(value: object) -> dict[str, str] | None:
    """``value`` if it is a complete ``{key: "#rrggbb"}`` colour map, else None."""
    if not isinstance(value, Mapping):
        return None
    out = {}
    for key in ("primary", "secondary", "accent", "background", "text"):
        v = value.get(key)
        if not isinstance(v, str) or not _HEX.match(v.lower()):
            return None
        out[key] = v.lower()
    return out


def from_json(data: object, template_id: str | None = None) -> GameSettings | None:
    """Settings from a plan, a marker or a model's answer; what is missing or invalid
    falls back to the template's defaults. None when no known template is named."""
    if not isinstance(data, Mapping):
        return None
    tid = normalize_template_id(data.get("template_id")) or normalize_template_id(template_id)
    if tid is None:
        return None
    # A plan may record the request's language apart from the game's (game_language).
    language = data.get("game_language") or data.get("language")
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    base = defaults(tid, language)
    shared = common()
    palette = data.get("palette") if data.get("palette") in shared.palettes else base.palette
    colors = valid_colors(data.get("colors")) or dict(shared.palettes[palette].colors)
    glow = data.get("glow")
    if not isinstance(glow, int) or isinstance(glow, bool) or not 0 <= glow <= 40:
        glow = shared.palettes[palette].glow
    raw = data.get("settings") if isinstance(data.get("settings"), Mapping) else {}
    raw = {**{k: data[k] for k in base.values if k in data}, **raw}  # flat keys (marker /1)
    values = {name: s.clamp(raw.get(name, s.default)) for name, s in base.manifest.settings.items()}
    title = clean_title(data["title"]) if isinstance(data.get("title"), str) else None
    subjects = shared.subjects
    out = GameSettings(
        template_id=tid,
        language=language,
        title=title or base.title,
        title_auto=bool(data.get("title_auto", title is None)),
        palette=palette,
        colors=colors,
        glow=glow,
        values=values,
        subject=data.get("subject") if data.get("subject") in subjects else None,
        item=data.get("item") if data.get("item") in subjects else None,
    )
    return retitle(out) if out.title_auto else out


# ---- the marker: an index.html made from a template says which, and with what --------------


def marker_content(settings: GameSettings) -> str:
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
            "enginev2d-"
        ):
            self.generator = a["content"]


def read_marker(index_html: str | None) -> GameSettings | None:
    """The settings of a game made from a template, or None for anything else."""
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


# ---- rendering --------------------------------------------------------------------------------


def js_literal(value: object) -> str:
    """JSON that is also safe inside an inline ``<script>`` and in every JS engine."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def sprite_map(template_id: str, image_names: Iterable[str]) -> dict[str, str]:
    """role -> image path for each of the template's sprites that has an image.

    An image belongs to a role when its file stem is the role (``assets/head.png`` is
    ``head``). Roles without an image are left out: the game draws their fallback shape.
    """
    by_stem: dict[str, str] = {}
    for name in image_names:
        stem = posixpath.splitext(posixpath.basename(name))[0].lower()
        by_stem.setdefault(stem, name)
    return {s.role: by_stem[s.role] for s in manifest(template_id).sprites if s.role in by_stem}


def _substitute(text: str, values: Mapping[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        try:
            return values[m.group(1)]
        except KeyError:
            raise ValueError(f"template {where}: no value for token {m.group(0)}") from None

    return _TOKEN.sub(sub, text)


def token_values(s: GameSettings, sprites: Mapping[str, str]) -> dict[str, str]:
    m = s.manifest
    c = s.colors
    core = {
        name: s.values.get(name, setting.default) for name, setting in common().settings.items()
    }
    core = {name: core[name] for name in CORE_SETTINGS}
    options = {k: v for k, v in s.values.items() if k not in CORE_SETTINGS}
    text = dict(m.text[s.language])
    theme = core["background"]
    return {
        "LANG": s.language,
        "MARKER": html.escape(marker_content(s), quote=True),
        "TITLE": html.escape(s.title, quote=True),
        "CANVAS_LABEL": html.escape(text["canvas"].replace("{0}", s.title), quote=True),
        "CONTROLS": html.escape(pick(m.controls, s.language), quote=True),
        "TEMPLATE_ID": m.id,
        "TEMPLATE_ID_JS": js_literal(m.id),
        "TITLE_JS": js_literal(s.title),
        "LANG_JS": js_literal(s.language),
        "CANVAS_W": str(m.canvas[0]),
        "CANVAS_H": str(m.canvas[1]),
        "COLORS_JSON": js_literal(dict(c)),
        "GLOW": str(s.glow),
        "SPEED": str(core["speed"]),
        "DIFFICULTY_JS": js_literal(core["difficulty"]),
        "SIZE": str(core["size"]),
        "BACKGROUND_JS": js_literal(theme),
        "SOUND": "true" if core["sound"] else "false",
        "OPTIONS_JSON": js_literal(options),
        "SPRITES_JSON": js_literal(dict(sprites)),
        "TEXT_JSON": js_literal(text),
        "BACKGROUND_COLOR": THEME_COLORS.get(theme, c["background"]),
        "PRIMARY": c["primary"],
        "SECONDARY": c["secondary"],
        "ACCENT": c["accent"],
        "TEXT_COLOR": c["text"],
    }


def render_files(s: GameSettings, sprites: Mapping[str, str]) -> list[dict[str, str]]:
    """The game's files (index.html, style.css, config.js, runtime.js, game.js)."""
    values = token_values(s, sprites)
    return [
        {"path": name, "content": _substitute(source(s.template_id, name), values, name)}
        for name in FILES
    ]


__all__ = [
    "GENRE_WEIGHT",
    "GameSettings",
    "auto_title",
    "clean_title",
    "defaults",
    "from_json",
    "marker_content",
    "normalize_template_id",
    "read_marker",
    "render_files",
    "retitle",
    "sprite_map",
    "valid_colors",
]
