"""Fill a template's ``{{TOKENS}}`` from settings: the files a game is made of.

Substitution is one pass, so text that came from the user (the title) can never
introduce another token. Every value is escaped for where it lands: HTML text,
an HTML attribute, a JavaScript literal or a CSS comment.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from collections.abc import Iterable, Mapping

from .catalog import TEMPLATE_FILES, TEMPLATES, runtime_source, template_source
from .settings import Settings, marker_content

_TOKEN = re.compile(r"\{\{([A-Z_]+)\}\}")


def js_literal(value: object) -> str:
    """JSON that is also safe inside an inline ``<script>`` and in every JS engine."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def sprite_map(template_id: str, image_names: Iterable[str]) -> dict[str, str]:
    """role -> image path for each of the template's sprites that has an image.

    An image belongs to a role when its file stem is the role (``assets/head.png``
    is ``head``). Roles without an image are left out: the game draws their
    fallback shape.
    """
    by_stem: dict[str, str] = {}
    for name in image_names:
        stem = posixpath.splitext(posixpath.basename(name))[0].lower()
        by_stem.setdefault(stem, name)
    return {s.role: by_stem[s.role] for s in TEMPLATES[template_id].sprites if s.role in by_stem}


def _substitute(text: str, values: Mapping[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        try:
            return values[m.group(1)]
        except KeyError:
            raise ValueError(f"template {where}: no value for token {m.group(0)}") from None

    return _TOKEN.sub(sub, text)


def render_files(settings: Settings, sprites: Mapping[str, str]) -> list[dict[str, str]]:
    """The game's three files, in the order index.html, game.js, style.css."""
    template = TEMPLATES[settings.template_id]
    c = settings.colors
    css_title = settings.title.replace("*/", "* /").replace("\n", " ")
    values = {
        "MARKER": html.escape(marker_content(settings), quote=True),
        "TITLE": html.escape(settings.title, quote=True),
        "CONTROLS": html.escape(template.controls, quote=True),
        "TITLE_JS": js_literal(settings.title),
        "TITLE_CSS": css_title,
        "TEMPLATE_ID": template.id,
        "CANVAS_W": str(template.canvas[0]),
        "CANVAS_H": str(template.canvas[1]),
        "COLORS_JSON": js_literal(dict(c)),
        "SPEED": str(settings.speed),
        "DIFFICULTY_JS": js_literal(settings.difficulty),
        "GLOW": str(settings.glow),
        "SPRITES_JSON": js_literal(dict(sprites)),
        "RUNTIME": runtime_source().rstrip("\n"),
        "PRIMARY": c["primary"],
        "SECONDARY": c["secondary"],
        "ACCENT": c["accent"],
        "BACKGROUND": c["background"],
        "TEXT": c["text"],
    }
    return [
        {
            "path": name,
            "content": _substitute(
                template_source(template.id, name), values, f"{template.id}/{name}"
            ),
        }
        for name in TEMPLATE_FILES
    ]
