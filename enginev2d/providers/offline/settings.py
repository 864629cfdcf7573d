"""Applying a parsed request to a game's settings: what changed, and what could not.

:func:`apply_request` starts from the game as it is (earlier choices are kept unless the
request changes them) and returns the new :class:`~enginev2d.templates.GameSettings`, one
record per change, and notes for whatever the request named that the template cannot do
(a setting it lacks, a feature it does not have), already has, or was asked to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ...templates import GameSettings, common, defaults, manifest
from ...templates.library import Setting
from ...templates.render import retitle
from .palette import PALETTES, color_word_hex, recolor_background, recolor_primary
from .request import Change, Request


@dataclass
class Outcome:
    settings: GameSettings
    changes: list[dict[str, Any]] = field(default_factory=list)  # {what, from, to}
    notes: list[dict[str, Any]] = field(default_factory=list)  # {kind, ...}


def _value(setting: Setting, current: Any, change: Change) -> Any:
    if change.absolute is not None:
        value = change.absolute
        if setting.type == "choice" and value == "medium":
            value = "normal"
        return setting.clamp(value)
    if setting.type == "choice":
        i = setting.choices.index(current) if current in setting.choices else 0
        return setting.choices[max(0, min(len(setting.choices) - 1, i + change.delta))]
    if setting.type == "int":
        return setting.clamp(int(current) + change.delta)
    return current


def _apply_settings(out: Outcome, req: Request) -> None:
    m = manifest(out.settings.template_id)
    changes = dict(req.changes)
    if req.theme is not None:
        changes["background"] = Change(absolute=req.theme)
    values = dict(out.settings.values)
    for name, change in changes.items():
        setting = m.settings.get(name)
        if setting is None:
            if not change.keep:
                out.notes.append({"kind": "unsupported_setting", "setting": name})
            continue
        current = values.get(name, setting.default)
        if change.keep:
            out.notes.append({"kind": "kept", "setting": name, "value": current})
            continue
        value = _value(setting, current, change)
        if value != current:
            out.changes.append({"what": name, "from": current, "to": value})
            values[name] = value
        elif change.delta:
            edge = "max" if change.delta > 0 else "min"
            out.notes.append({"kind": "limit", "setting": name, "value": current, "edge": edge})
    out.settings = replace(out.settings, values=values)


def _apply_look(out: Outcome, req: Request) -> None:
    s = out.settings
    if req.palette and req.palette != s.palette:
        pal = PALETTES[req.palette]
        out.changes.append({"what": "palette", "from": s.palette, "to": pal.name})
        s = replace(s, palette=pal.name, colors=dict(pal.colors), glow=pal.glow)
    if req.primary:
        colors = recolor_primary(s.colors, color_word_hex(req.primary, s.palette))
        if colors != s.colors:
            out.changes.append({"what": "primary", "to": req.primary})
            s = replace(s, colors=colors)
    if req.keep_color:
        out.notes.append({"kind": "kept_color"})
    if req.background_color:
        colors = recolor_background(s.colors, req.background_color)
        if colors != s.colors:
            out.changes.append({"what": "background_color", "to": req.background_color})
            s = replace(s, colors=colors)
    out.settings = s


def _apply_identity(out: Outcome, req: Request) -> None:
    s = out.settings
    m = manifest(s.template_id)
    if req.subject and m.player and req.subject != s.subject:
        out.changes.append({"what": "subject", "from": s.subject, "to": req.subject})
        s = replace(s, subject=req.subject)
    if req.item and m.item and req.item != s.item:
        out.changes.append({"what": "item", "from": s.item, "to": req.item})
        s = replace(s, item=req.item)
    if req.title and req.title != s.title:
        out.changes.append({"what": "title", "from": s.title, "to": req.title})
        s = replace(s, title=req.title, title_auto=False)
    out.settings = s


def _features(out: Outcome, req: Request) -> None:
    m = manifest(out.settings.template_id)
    features = common().features
    for fid in req.features:
        has = features[fid].always or fid in m.has
        out.notes.append({"kind": "already" if has else "unsupported", "feature": fid})


def apply_request(base: GameSettings, req: Request) -> Outcome:
    """``base`` with the request applied. The game's language follows the request when
    something changes; a request that changes nothing leaves the game exactly as it was."""
    out = Outcome(base)
    _apply_look(out, req)
    _apply_settings(out, req)
    _apply_identity(out, req)
    _features(out, req)
    if out.changes and req.language != out.settings.language:
        out.settings = replace(out.settings, language=req.language)
    out.settings = retitle(out.settings)
    return out


def carry_over(current: GameSettings, template_id: str, language: str) -> GameSettings:
    """A new template keeping what the player chose for the old one: palette, colours,
    the settings both templates share, subject, and a title they gave it."""
    fresh = defaults(template_id, language)
    m = manifest(template_id)
    values = {
        name: current.values.get(name, setting.default) for name, setting in m.settings.items()
    }
    return retitle(
        replace(
            fresh,
            palette=current.palette,
            colors=dict(current.colors),
            glow=current.glow,
            values=values,
            subject=current.subject if m.player else None,
            title=current.title if not current.title_auto else fresh.title,
            title_auto=current.title_auto,
        )
    )
