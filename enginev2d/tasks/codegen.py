"""codegen: the game's files and a summary (design 7.3).

Routed to an LLM, the routed provider (Gemini by design) answers first; when that call
fails, or its answer is unusable, Claude (``providers.anthropic.codegen_model``) answers
inside the same attempt, if ``ANTHROPIC_API_KEY`` is set. Both calls' usage is
recorded; ``ctx.extra["model"]`` and every code artifact's metadata name the model that
answered (and the one it replaced). Edits see the current project's files.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import providers
from ..errors import OutputInvalid, ProviderError
from .base import TaskContext
from .prompts import codegen as codegen_prompt
from .schemas import invalid, parse_json, require_object, require_str, validate_files

KEY = "codegen"
FALLBACK = "anthropic"
ENTRY = "index.html"
log = logging.getLogger(__name__)


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
    name = providers.provider_for(ctx.config, KEY)
    if name == "offline":
        out = providers.offline_provider().codegen(
            task_input["message"], task_input["plan"], existing
        )
        ctx.record_usage("offline")
        ctx.extra.update(model="offline", provider="offline")
        return out
    system, prompt = codegen_prompt(
        task_input["message"], task_input["plan"], existing, repair_hint=ctx.repair_hint
    )
    try:
        return _ask(ctx, name, system, prompt)
    except (ProviderError, OutputInvalid) as first:
        if name == FALLBACK or not _fallback_ready(ctx):
            raise
        failed_model = _model_name(ctx, name)
        log.warning(
            "codegen: %s failed (%s), falling back to Claude",
            name,
            type(first).__name__,
            extra={
                "action": "codegen_fallback",
                "job_id": ctx.job.job_id,
                "provider": name,
                "error_code": first.code,
            },
        )
        ctx.extra["fallback_from"] = {
            "provider": name,
            "model": failed_model,
            "error": first.to_json(),
        }
        try:
            out = _ask(ctx, FALLBACK, system, prompt)
        except (ProviderError, OutputInvalid) as second:
            second.detail.setdefault("primary_error", first.to_json())
            raise
        return out


def _model_name(ctx: TaskContext, name: str) -> str:
    if name == "google":
        return ctx.config.providers.google.model
    if name == "anthropic":
        return ctx.config.providers.anthropic.codegen_model
    return name


def _fallback_ready(ctx: TaskContext) -> bool:
    try:
        return bool(getattr(providers.get_text_model(ctx.config, FALLBACK), "configured", False))
    except ProviderError:
        return False


def _ask(ctx: TaskContext, name: str, system: str, prompt: str) -> dict[str, Any]:
    reply = providers.call_text(ctx, name, system=system, prompt=prompt)
    parsed = parse_json(KEY, reply.text, truncated=reply.truncated)
    out = validate(ctx, parsed)  # an unusable answer counts as a failed call here
    ctx.extra.update(model=reply.model, provider=name)
    return out


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
        meta["fallback_from"] = ctx.extra["fallback_from"]["model"]
    by_path = {f["path"]: f for f in output["files"]}
    for path in written:
        f = by_path.get(path) or {"path": path, "content": ""}
        ctx.add_artifact(
            "code",
            uri=path,
            content={"path": path, "content": f["content"]},
            metadata={**meta, "bytes": len(f["content"].encode("utf-8"))},
        )
