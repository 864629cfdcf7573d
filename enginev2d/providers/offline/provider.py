"""The offline provider: every DAG task answered locally, deterministically, for $0.

Design section 20 "Phase 3: template-based generation": ``plan`` picks a template
and settings from the request's words, ``codegen`` fills the template, ``asset``
draws the sprites, ``qa_review``/``fix`` are real static checks and repairs.
No network, no keys, no clock, no unseeded randomness: same input, same output.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from . import fix as fix_mod
from . import qa
from .catalog import DEFAULT_TEMPLATE, TEMPLATES, normalize_template_id
from .intent import classify_intent
from .palette import PALETTES, valid_colors
from .render import render_files, sprite_map
from .request import parse_request, template_scores
from .settings import Settings, apply_request, defaults, from_json, read_marker
from .sprites import MAX_SIDE, draw_sprite

_TITLE_TAG = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.S)
_PLAN_SETTING_KEYS = ("title", "palette", "colors", "speed", "difficulty")


def _files_map(files: object) -> dict[str, str]:
    """``existing_files`` as a path -> text dict (accepts a dict or a list of {path, content})."""
    if isinstance(files, Mapping):
        return {str(k): v for k, v in files.items() if isinstance(v, str)}
    out: dict[str, str] = {}
    if isinstance(files, list):
        for f in files:
            if (
                isinstance(f, Mapping)
                and isinstance(f.get("path"), str)
                and isinstance(f.get("content"), str)
            ):
                out.setdefault(f["path"], f["content"])
    return out


def _image_specs_for(settings: Settings) -> list[dict[str, Any]]:
    template = TEMPLATES[settings.template_id]
    c = settings.colors
    return [
        {
            "name": s.path,
            "prompt": (
                f"{s.description} for a 2D {template.name.lower()} game titled "
                f'"{settings.title}"; {settings.palette} palette, main colour {c["primary"]}, '
                f"accent {c['accent']}; clean flat game art, transparent background, "
                f"{s.width}x{s.height}"
            ),
            "width": s.width,
            "height": s.height,
        }
        for s in template.sprites
    ]


def _valid_specs(value: object) -> list[dict[str, Any]] | None:
    if not isinstance(value, list) or not value:
        return None
    out = []
    for spec in value:
        if not isinstance(spec, Mapping):
            return None
        name = (
            qa.normalize_path(spec.get("name", "")) if isinstance(spec.get("name"), str) else None
        )
        w, h = spec.get("width"), spec.get("height")
        if name is None or not isinstance(w, int) or not isinstance(h, int) or w <= 0 or h <= 0:
            return None
        prompt = spec.get("prompt") if isinstance(spec.get("prompt"), str) else ""
        out.append({"name": name, "prompt": prompt, "width": w, "height": h})
    return out


class OfflineProvider:
    """Template-based provider; see the package docstring for the contract."""

    name = "offline"
    model = "offline"  # priced at $0 in config's pricing table

    # ---- intent ----------------------------------------------------------------------

    def intent(self, message: str, *, has_project: bool) -> dict[str, str]:
        return {"intent": classify_intent(message, has_project=has_project)}

    # ---- plan ------------------------------------------------------------------------

    def plan(self, message: str, intent: str, existing_files: Mapping[str, str]) -> dict[str, Any]:
        files = _files_map(existing_files)
        req = parse_request(message)
        current = read_marker(files.get("index.html"))
        switching = (
            current is not None and req.switch and req.template not in (None, current.template_id)
        )
        if current is not None and not switching:
            settings, changes = apply_request(current, req)
            strategy, base = "edit", "offline"
        else:
            template_id = req.template or self._guess_from_files(files) or DEFAULT_TEMPLATE
            settings, changes = apply_request(defaults(template_id), req)
            strategy = "template"
            base = "new" if not files else ("offline" if current else "foreign")
        template = TEMPLATES[settings.template_id]
        specs = _image_specs_for(settings)
        return {
            "dimension": "2d",
            "skills": list(template.skills),
            "template_id": settings.template_id,
            "image_count": len(specs),
            "codegen_strategy": strategy,
            "image_specs": specs,
            "title": settings.title,
            "title_auto": settings.title_auto,
            "palette": settings.palette,
            "colors": dict(settings.colors),
            "glow": settings.glow,
            "speed": settings.speed,
            "difficulty": settings.difficulty,
            "controls": template.controls,
            "changes": changes,
            # "new": empty project; "offline": an offline-made game; "foreign": a project
            # this provider did not make (it is replaced by a fresh template game).
            "base": base,
        }

    @staticmethod
    def _guess_from_files(files: Mapping[str, str]) -> str | None:
        """For a project made elsewhere: the template its <title> suggests, if any."""
        m = _TITLE_TAG.search(files.get("index.html", ""))
        if not m:
            return None
        scores = template_scores(html.unescape(m.group(1)).lower())
        if not scores:
            return None
        return min(scores, key=lambda t: (-t[1], t[2], t[0]))[0]

    def _settings_from_plan(
        self, message: str, plan: Mapping[str, Any], files: Mapping[str, str]
    ) -> tuple[Settings, list[str]]:
        """Our plan's settings as given; a foreign plan's template merged with our reading."""
        if all(k in plan for k in _PLAN_SETTING_KEYS):
            settings = from_json(dict(plan))
            if settings is not None:
                changes = plan.get("changes")
                kept = (
                    [c for c in changes if isinstance(c, str)] if isinstance(changes, list) else []
                )
                return settings, kept
        own = self.plan(message, str(plan.get("intent", "edit")), files)
        wanted = normalize_template_id(plan.get("template_id"))
        if wanted and wanted != own["template_id"]:
            base = defaults(wanted)
            settings, changes = apply_request(base, parse_request(message))
            return settings, changes
        settings = from_json(own) or defaults(own["template_id"])
        return settings, list(own["changes"])

    # ---- codegen ---------------------------------------------------------------------

    def codegen(
        self, message: str, plan: Mapping[str, Any], existing_files: Mapping[str, str]
    ) -> dict[str, Any]:
        files = _files_map(existing_files)
        settings, changes = self._settings_from_plan(message, plan, files)
        specs = self.image_specs(
            {**plan, "template_id": settings.template_id, **settings.to_json()}
        )
        sprites = sprite_map(settings.template_id, [s["name"] for s in specs])
        out_files = render_files(settings, sprites)
        return {"files": out_files, "summary": self._summary(settings, changes, plan, files)}

    @staticmethod
    def _summary(
        settings: Settings, changes: list[str], plan: Mapping[str, Any], files: Mapping[str, str]
    ) -> str:
        template = TEMPLATES[settings.template_id]
        editing = (
            plan.get("codegen_strategy") == "edit"
            and read_marker(files.get("index.html")) is not None
        )
        if editing and changes:
            return f"Updated {settings.title}: " + "; ".join(changes) + "."
        if editing:
            return (
                f"{settings.title} is unchanged: the request named nothing the offline engine "
                "can change (it changes colours and palette, speed, difficulty, title, or the "
                "kind of game)."
            )
        verb = "Replaced the existing project with" if plan.get("base") == "foreign" else "Created"
        return (
            f"{verb} {settings.title}, a {template.id} game: {settings.palette} palette, "
            f"speed {settings.speed}/10, {settings.difficulty} difficulty. "
            f"Controls: {template.controls}."
        )

    # ---- assets ----------------------------------------------------------------------

    def image_specs(self, plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        specs = _valid_specs(plan.get("image_specs"))
        if specs is not None:
            return specs
        settings = from_json(dict(plan)) or defaults(
            normalize_template_id(plan.get("template_id")) or DEFAULT_TEMPLATE
        )
        return _image_specs_for(settings)

    def images(
        self, plan: Mapping[str, Any], image_specs: list[dict[str, Any]]
    ) -> list[tuple[str, bytes]]:
        colors = valid_colors(plan.get("colors"))
        if colors is None:
            palette = plan.get("palette")
            if palette not in PALETTES:
                tid = normalize_template_id(plan.get("template_id")) or DEFAULT_TEMPLATE
                palette = TEMPLATES[tid].default_palette
            colors = PALETTES[palette].colors()
        out = []
        for spec in _valid_specs(image_specs) or []:
            role = spec["name"].rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
            w = min(MAX_SIDE, spec["width"])
            h = min(MAX_SIDE, spec["height"])
            out.append((spec["name"], draw_sprite(role, w, h, colors)))
        return out

    # ---- QA and fix ------------------------------------------------------------------

    def qa_review(self, files: list[dict[str, Any]], plan: Mapping[str, Any]) -> dict[str, Any]:
        fs = {}
        external = []
        for f in files or []:
            if not isinstance(f, Mapping):
                continue
            path = qa.normalize_path(str(f.get("path", "")))
            if path is None or path in fs:
                continue
            if isinstance(f.get("content"), str):
                fs[path] = f["content"]
            else:
                external.append(path)  # binary content: present, not checked
        specs = _valid_specs(plan.get("image_specs")) if isinstance(plan, Mapping) else None
        external += [s["name"] for s in specs or []]
        return qa.review(fs, external=external)

    def fix(self, files: list[dict[str, Any]], findings: list[dict[str, Any]]) -> dict[str, Any]:
        return {"files": fix_mod.repair(list(files or []), findings)}
