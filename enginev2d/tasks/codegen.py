"""codegen: the game's files and a summary (design 7.3).

The task's route (``providers.route.codegen``) is tried model by model inside one
attempt (:func:`enginev2d.providers.ask`): by default Gemini, then Claude when Gemini's
model is unavailable or its answer unusable. The answer is streamed, so the UI sees
progress and a long answer is bounded by the idle limit, not one timeout; it is a JSON
header plus ``<file>`` blocks (:mod:`.codefiles`). Every call's usage is recorded;
``ctx.extra["model"]`` and every code artifact's metadata name the model that answered
(and the ones it replaced). Edits see the current project's files.
"""

from __future__ import annotations

from typing import Any

from .. import providers
from ..providers.base import TextReply
from ..templates import codegen_base, overlay_answer
from .base import TaskContext
from .codefiles import parse_code_answer
from .prompts import codegen as codegen_prompt
from .prompts import codegen_template
from .schemas import invalid, require_object, require_str, validate_files

KEY = "codegen"
ENTRY = "index.html"


def build_input(ctx: TaskContext) -> dict[str, Any]:
    plan = dict(ctx.upstream.get("plan") or {})
    return {
        "message": ctx.job.message,
        "plan": plan,
        "skills": list(plan.get("skills") or []),
        "template": plan.get("template_id"),
    }


def run(ctx: TaskContext, task_input: dict[str, Any]) -> Any:
    existing = ctx.staging.existing_files()
    # Strategy template/edit: the model gets the files to change and answers with the
    # changed ones only; the rest of the base completes its answer.
    base = codegen_base(task_input["plan"], existing)
    if base is not None:
        system, prompt = codegen_template(
            task_input["message"], task_input["plan"], base, repair_hint=ctx.repair_hint
        )
    else:
        system, prompt = codegen_prompt(
            task_input["message"], task_input["plan"], existing, repair_hint=ctx.repair_hint
        )

    def parse(reply: TextReply) -> dict[str, Any]:
        answer = parse_code_answer(KEY, reply.text, truncated=reply.truncated, require_summary=True)
        if base is not None:
            answer = overlay_answer(answer, base)
        return validate(ctx, answer)  # an unusable answer makes the route go on

    def offline() -> dict[str, Any]:
        out: dict[str, Any] = providers.offline_provider().codegen(
            task_input["message"], task_input["plan"], existing
        )
        return out

    return providers.ask(
        ctx,
        system=system,
        prompt=prompt,
        parse=parse,
        offline=offline,
        json_mode=False,
        stream=True,
    )


def validate(ctx: TaskContext, output: Any) -> dict[str, Any]:
    obj = require_object(KEY, output)
    files = validate_files(KEY, obj, ctx.config.limits)
    summary = require_str(KEY, obj, "summary")
    paths = {f["path"] for f in files}
    if ENTRY not in paths and ENTRY not in ctx.staging.existing_files():
        raise invalid(
            KEY,
            f"no {ENTRY} among the files",
            f"Include '{ENTRY}' (the page that starts the game) among the files.",
        )
    return {"files": files, "summary": summary.strip()}


def apply(ctx: TaskContext, output: dict[str, Any]) -> None:
    written = ctx.staging.write_files(output["files"])
    meta: dict[str, Any] = {
        "model": ctx.extra.get("model")
        or ("injected" if ctx.extra.get("injected_output") else None),
        "provider": ctx.extra.get("provider"),
    }
    if ctx.extra.get("fallback_from"):
        meta["fallback_from"] = [f["model"] for f in ctx.extra["fallback_from"]]
    by_path = {f["path"]: f for f in output["files"]}
    for path in written:
        f = by_path.get(path) or {"path": path, "content": ""}
        ctx.add_artifact(
            "code",
            uri=path,
            content={"path": path, "content": f["content"]},
            metadata={**meta, "bytes": len(f["content"].encode("utf-8"))},
        )
