"""A plan's template as files: the playable preview, and the base codegen customises.

:func:`preview_files` is pure (no model call, no I/O beyond reading the library): the
engine can show it as soon as ``plan`` has chosen a template, while codegen and asset
run. Sprites are left out (their images do not exist yet), so the game draws its shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .render import from_json, render_files

PREVIEW_STRATEGIES = ("template", "edit")


def preview_files(plan_output: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """The chosen template rendered with the plan's settings, playable as it is; None when
    the plan names no template of the library (or writes from scratch)."""
    if not isinstance(plan_output, Mapping):
        return None
    if plan_output.get("codegen_strategy", "template") not in PREVIEW_STRATEGIES:
        return None
    settings = from_json(plan_output)
    if settings is None:
        return None
    return render_files(settings, {})


def overlay_files(
    base: Sequence[Mapping[str, Any]], changed: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``base`` with each file of ``changed`` put in place (same path) or added: the files a
    model did not return stay as they were."""
    out: dict[str, dict[str, Any]] = {str(f["path"]): dict(f) for f in base}
    for f in changed:
        out[str(f["path"])] = dict(f)
    return list(out.values())
