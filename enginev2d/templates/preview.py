"""A plan's template as files: the playable preview, and the base codegen customises.

:func:`preview_files` is pure (no model call, no I/O beyond reading the library): the
engine can show it as soon as ``plan`` has chosen a template, while codegen and asset
run. Sprites are left out (their images do not exist yet), so the game draws its shapes.

:func:`codegen_base` is what a model customises (strategy ``template``: the template with
the plan's settings; ``edit``: the current project), and :func:`overlay_answer` puts the
files the model returned (only the changed ones) over that base.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .render import from_json, render_files

PREVIEW_STRATEGIES = ("template", "edit")


def preview_files(plan_output: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """The chosen template rendered with the plan's settings, playable as it is; None when
    the plan names no template of the library (or writes from scratch).

    Meant for intent ``edit``: a restore runs ``plan`` too, but what it publishes is an
    earlier version, not this plan."""
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


def codegen_base(
    plan_output: Mapping[str, Any], existing: Mapping[str, str]
) -> list[dict[str, Any]] | None:
    """The files a model customises for this plan, or None to write from scratch."""
    strategy = plan_output.get("codegen_strategy") if isinstance(plan_output, Mapping) else None
    if strategy == "edit" and existing:
        return [{"path": p, "content": c} for p, c in sorted(existing.items())]
    if strategy == "template":
        return preview_files(plan_output)
    return None


def overlay_answer(answer: Any, base: Sequence[Mapping[str, Any]]) -> Any:
    """A codegen answer whose ``files`` are the changed files only, completed with the rest
    of ``base``; anything else is returned as it is (for validation to judge)."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("files"), list):
        return answer
    changed = [
        f for f in answer["files"] if isinstance(f, Mapping) and isinstance(f.get("path"), str)
    ]
    if len(changed) != len(answer["files"]):
        return answer
    return {**answer, "files": overlay_files(base, changed)}
