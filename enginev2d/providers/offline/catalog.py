"""The offline provider's view of the template library: ids, the default, image specs.

A sprite's *role* is both the key the game looks it up by (``SPRITES.<role>``) and the
stem of its image file (``assets/<role>.png``). The role a template marks as ``player``
shows the request's subject ("a cat ..."), the ``item`` role what is collected.
"""

from __future__ import annotations

from typing import Any

from ...templates import GameSettings, catalogue, common, manifest, pick

TEMPLATE_IDS: tuple[str, ...] = tuple(catalogue())
DEFAULT_TEMPLATE = "snake"


def sprite_subject(settings: GameSettings, role: str) -> str | None:
    """The subject drawn for ``role``: the request's subject for the player role, what is
    collected for the item role, None for the template's own drawing."""
    m = manifest(settings.template_id)
    if role == m.player:
        return settings.subject
    if role == m.item:
        return settings.item
    return None


def image_specs_for(settings: GameSettings) -> list[dict[str, Any]]:
    """One image spec per sprite of the template, prompts naming palette and subject."""
    m = manifest(settings.template_id)
    c = settings.colors
    out = []
    for s in m.sprites:
        subject = sprite_subject(settings, s.role)
        what = s.description
        if subject:
            what = f"cute {pick(common().subjects[subject].name, 'en').lower()} ({what})"
        out.append(
            {
                "name": s.path,
                "prompt": (
                    f"{what} for a 2D {m.genre['en']} game titled "
                    f'"{settings.title}"; {settings.palette} palette, main colour '
                    f"{c['primary']}, accent {c['accent']}; clean flat game art, transparent "
                    f"background, {s.width}x{s.height}"
                ),
                "width": s.width,
                "height": s.height,
            }
        )
    return out
