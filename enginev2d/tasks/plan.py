"""plan: dimension, skills, template, image count and codegen strategy (design 7.3).

Edits see the current project's files (read-only, ``ctx.staging.existing_files()``).
The output also carries ``image_specs`` (derived as ``assets/image_<i>.png`` when the
model gives fewer than ``image_count``) so codegen and asset agree on image names,
``language`` (the request's language: the model's answer, else detected from the message),
and any extra keys the provider adds (title, settings, palette...) for codegen to use.
A ``template_id`` naming a template of the library by another name ("Tetris") becomes its
id ("blocks"); :func:`enginev2d.templates.preview_files` renders the plan as a preview.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import providers
from ..providers.base import TextReply
from ..templates import detect_language, normalize_template_id
from .base import TaskContext
from .prompts import CODE_BUDGET
from .prompts import plan as plan_prompt
from .schemas import (
    DIMENSIONS,
    MAX_IMAGES,
    MAX_SKILL_LEN,
    MAX_SKILLS,
    TEMPLATE_ID,
    invalid,
    parse_json,
    require_enum,
    require_int,
    require_list,
    require_object,
    validate_image_specs,
)

KEY = "plan"
STRATEGIES = ("template", "scratch", "edit")
STRATEGY_ALIASES = {
    "customize": "template",
    "customize_template": "template",
    "from_template": "template",
    "from_scratch": "scratch",
    "new": "scratch",
    "generate": "scratch",
    "modify": "edit",
    "patch": "edit",
    "update": "edit",
}
MAX_EXTRA_BYTES = 16 * 1024
LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})?$")
CORE_KEYS = ("dimension", "skills", "template_id", "image_count", "codegen_strategy")


def capped_code(files: dict[str, str], budget: int = CODE_BUDGET) -> dict[str, str]:
    """The project's files for the stored input, cut to ``budget`` characters in total."""
    out: dict[str, str] = {}
    used = 0
    for path in sorted(files):
        body = files[path][: max(0, budget - used)]
        out[path] = body
        used += len(body)
    return out


def build_input(ctx: TaskContext) -> dict[str, Any]:
    intent = (ctx.upstream.get("intent") or {}).get("intent") or "edit"
    return {
        "message": ctx.job.message,
        "intent": intent,
        "existing_code": capped_code(ctx.staging.existing_files()),
    }


def run(ctx: TaskContext, task_input: dict[str, Any]) -> Any:
    existing = ctx.staging.existing_files()
    system, prompt = plan_prompt(
        task_input["message"], task_input["intent"], existing, repair_hint=ctx.repair_hint
    )

    def parse(reply: TextReply) -> dict[str, Any]:
        return validate(ctx, parse_json(KEY, reply.text, truncated=reply.truncated))

    def offline() -> dict[str, Any]:
        out: dict[str, Any] = providers.offline_provider().plan(
            task_input["message"], task_input["intent"], existing
        )
        return out

    return providers.ask(
        ctx, system=system, prompt=prompt, parse=parse, offline=offline, max_tokens=2048
    )


def _strategy(obj: dict[str, Any]) -> str:
    raw = obj.get("codegen_strategy")
    if isinstance(raw, str):
        norm = raw.strip().lower().replace("-", "_").replace(" ", "_")
        obj = {**obj, "codegen_strategy": STRATEGY_ALIASES.get(norm, norm)}
    return require_enum(KEY, obj, "codegen_strategy", STRATEGIES)


def validate(ctx: TaskContext, output: Any) -> dict[str, Any]:
    obj = dict(require_object(KEY, output))
    dimension = require_enum(KEY, obj, "dimension", DIMENSIONS)
    raw_skills = require_list(KEY, obj, "skills", max_items=MAX_SKILLS)
    skills: list[str] = []
    for s in raw_skills:
        if not isinstance(s, str) or not s.strip() or len(s) > MAX_SKILL_LEN:
            raise invalid(KEY, f"skills must be short non-empty strings, got {s!r}")
        if s.strip() not in skills:
            skills.append(s.strip())
    template_id = obj.get("template_id")
    if template_id == "":
        template_id = None
    template_id = normalize_template_id(template_id) or template_id
    if template_id is not None and (
        not isinstance(template_id, str) or not TEMPLATE_ID.match(template_id)
    ):
        raise invalid(
            KEY,
            f"template_id must be null or a short lowercase id, got {template_id!r}",
            "Set template_id to null or to one id like 'snake'.",
        )
    image_count = require_int(KEY, obj, "image_count", lo=0, hi=MAX_IMAGES)
    strategy = _strategy(obj)
    specs = validate_image_specs(
        KEY, obj.get("image_specs"), image_count, default_prompt=ctx.job.message[:500]
    )
    extra = {k: v for k, v in obj.items() if k not in (*CORE_KEYS, "image_specs")}
    extra["language"] = _language(obj.get("language"), ctx.job.message)
    if "settings" in extra and not isinstance(extra["settings"], dict):
        raise invalid(KEY, "settings must be an object", 'Give settings as {"speed": 3, ...}.')
    try:
        size = len(json.dumps(extra))
    except (TypeError, ValueError):
        raise invalid(KEY, "plan contains values that are not JSON") from None
    if size > MAX_EXTRA_BYTES:
        raise invalid(KEY, "plan is too large", "Keep the plan short: only the listed keys.")
    return {
        **extra,
        "dimension": dimension,
        "skills": skills,
        "template_id": template_id,
        "image_count": image_count,
        "codegen_strategy": strategy,
        "image_specs": specs,
    }


def _language(value: object, message: str) -> str:
    """The request's language: the planner's code when it is one, else detected."""
    if isinstance(value, str) and LANGUAGE.match(value.strip().lower()):
        return value.strip().lower()
    return detect_language(message)


def apply(ctx: TaskContext, output: dict[str, Any]) -> None:
    ctx.add_artifact("plan", content=output)
