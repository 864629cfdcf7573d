"""The offline provider: every DAG task answered locally, deterministically, for $0.

Design section 20 "Phase 3: template-based generation": ``plan`` picks a template from
the library (:mod:`enginev2d.templates`) and settings from the request's words,
``codegen`` renders it, ``asset`` draws the sprites, ``qa_review``/``fix`` are real static
checks and repairs. No network, no keys, no clock, no unseeded randomness.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ...templates import (
    GameSettings,
    common,
    defaults,
    from_json,
    manifest,
    normalize_template_id,
    pick,
    read_marker,
    render_files,
    sprite_map,
    template_scores,
)
from ...templates.render import retitle
from . import fix as fix_mod
from . import qa
from .catalog import DEFAULT_TEMPLATE, image_specs_for, sprite_subject
from .intent import classify
from .palette import PALETTES, valid_colors
from .request import Request, parse_request
from .settings import apply_request, carry_over
from .sprites import MAX_SIDE, draw_sprite
from .summary import summarize

_TITLE_TAG = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.S)


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


def _guess_from_files(files: Mapping[str, str]) -> str | None:
    """For a project made elsewhere: the template its <title> suggests, if any."""
    m = _TITLE_TAG.search(files.get("index.html", ""))
    if not m:
        return None
    scores = template_scores(html.unescape(m.group(1)).lower())
    return scores[0].template_id if scores else None


def _new_template(req: Request, files: Mapping[str, str]) -> tuple[str, list[dict[str, Any]]]:
    """The template for a new game, and a note when the request did not name one."""
    if req.genre_named:
        return req.genre_named, []
    if req.near is not None:
        near = {"kind": "near", "genre": dict(req.near.genre), "template": req.near.template}
        return req.near.template, [near]
    if req.template:
        return req.template, []
    guessed = _guess_from_files(files)
    if guessed:
        return guessed, []
    for sid in (req.subject, req.item):
        prefers = common().subjects[sid].prefers if sid else None
        if prefers:
            return prefers, [{"kind": "default"}]
    return DEFAULT_TEMPLATE, [{"kind": "default"}]


def _switch_to(req: Request, current: GameSettings) -> str | None:
    """The other template an edit asks to turn the game into, if any."""
    named = req.genre_named
    if named and named != current.template_id and (req.make or req.switch or req.only_genre):
        return named
    return None


class OfflineProvider:
    """Template-based provider; see the module docstring for the contract."""

    name = "offline"
    model = "offline"  # priced at $0 in config's pricing table

    # ---- intent ----------------------------------------------------------------------

    def intent(self, message: str, *, has_project: bool) -> dict[str, Any]:
        """``{"intent"}`` plus ``reply`` for chat and ``step`` (undo/redo) for restore."""
        return classify(message, has_project=has_project)

    # ---- plan ------------------------------------------------------------------------

    def plan(self, message: str, intent: str, existing_files: Mapping[str, str]) -> dict[str, Any]:
        files = _files_map(existing_files)
        req = parse_request(message)
        current = read_marker(files.get("index.html"))
        notes: list[dict[str, Any]] = []
        target = _switch_to(req, current) if current is not None else None
        if current is not None and target is None:
            base, strategy, kind = current, "edit", "offline"
            if req.near is not None and not req.genre_named and (req.make or req.switch):
                notes.append({"kind": "near_edit", "genre": dict(req.near.genre)})
        elif current is not None and target is not None:
            base = carry_over(current, target, req.language)
            strategy, kind = "template", "offline"
            notes.append({"kind": "switched", "from": current.template_id})
        else:
            template_id, notes = _new_template(req, files)
            base, strategy = defaults(template_id, req.language), "template"
            kind = "new" if not files else "foreign"
        outcome = apply_request(base, req)
        if strategy == "template":
            outcome.settings = replace(outcome.settings, language=req.language)
            outcome.settings = retitle(outcome.settings)
        s = outcome.settings
        m = manifest(s.template_id)
        specs = image_specs_for(s)
        return {
            "dimension": "2d",
            "skills": ["html5-canvas", "game-loop", "keyboard-input", "touch-input", *m.skills],
            "image_count": len(specs),
            "codegen_strategy": strategy,
            "image_specs": specs,
            **s.to_json(),
            # The request's language (summaries, replies); the game's own is game_language:
            # they differ only when a request changed nothing (the game stays as it was).
            "language": req.language,
            "game_language": s.language,
            "controls": pick(m.controls, s.language),
            "changes": outcome.changes,
            "notes": notes + outcome.notes,
            # "new": empty project; "offline": a game made from a template; "foreign": a
            # project made elsewhere (it is replaced by a fresh template game).
            "base": kind,
        }

    def _settings_from_plan(
        self, message: str, plan: Mapping[str, Any], files: Mapping[str, str]
    ) -> tuple[GameSettings, dict[str, Any]]:
        """Our own plan's settings as given; another planner's template merged with our
        reading of the request (a planner that only names a template still gets a game)."""
        if isinstance(plan.get("settings"), Mapping) and "game_language" in plan:
            settings = from_json(dict(plan))
            if settings is not None:
                return settings, dict(plan)
        own = self.plan(message, str(plan.get("intent", "edit")), files)
        wanted = normalize_template_id(plan.get("template_id"))
        if wanted and wanted != own["template_id"]:
            req = parse_request(message)
            outcome = apply_request(defaults(wanted, req.language), req)
            own = {**own, **outcome.settings.to_json(), "changes": outcome.changes}
            own["game_language"] = outcome.settings.language  # a new game: the request's
            own["notes"] = outcome.notes
            own["codegen_strategy"] = "template"
        return from_json(own) or defaults(DEFAULT_TEMPLATE), own

    # ---- codegen ---------------------------------------------------------------------

    def codegen(
        self, message: str, plan: Mapping[str, Any], existing_files: Mapping[str, str]
    ) -> dict[str, Any]:
        files = _files_map(existing_files)
        settings, own_plan = self._settings_from_plan(message, plan, files)
        specs = self.image_specs({**own_plan, **settings.to_json()})
        sprites = sprite_map(settings.template_id, [s["name"] for s in specs])
        out_files = render_files(settings, sprites)
        return {"files": out_files, "summary": summarize(settings, own_plan)}

    # ---- assets ----------------------------------------------------------------------

    def image_specs(self, plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        specs = _valid_specs(plan.get("image_specs"))
        if specs is not None:
            return specs
        settings = from_json(dict(plan)) or defaults(
            normalize_template_id(plan.get("template_id")) or DEFAULT_TEMPLATE
        )
        return image_specs_for(settings)

    def images(
        self, plan: Mapping[str, Any], image_specs: list[dict[str, Any]]
    ) -> list[tuple[str, bytes]]:
        settings = from_json(dict(plan))
        colors = valid_colors(plan.get("colors"))
        if colors is None:
            palette = plan.get("palette")
            if palette not in PALETTES:
                tid = normalize_template_id(plan.get("template_id")) or DEFAULT_TEMPLATE
                palette = manifest(tid).palette
            colors = dict(PALETTES[palette].colors)
        out = []
        for spec in _valid_specs(image_specs) or []:
            role = spec["name"].rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
            subject = sprite_subject(settings, role) if settings is not None else None
            w = min(MAX_SIDE, spec["width"])
            h = min(MAX_SIDE, spec["height"])
            out.append((spec["name"], draw_sprite(subject or role, w, h, colors)))
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
