"""fix: apply qa_review's findings to the generated files (design 7.3).

Runs only when ``issues > 0`` (the engine skips it otherwise). The answer (streamed, in
the ``<file>`` block format of :mod:`.codefiles`, through the task's route) lists the
changed files with their full content; ``apply`` writes those whose content differs
from codegen's and records them as ``code`` artifacts.
"""

from __future__ import annotations

from typing import Any

from .. import providers
from ..providers.base import TextReply
from .base import TaskContext
from .codefiles import parse_code_answer
from .prompts import fix as fix_prompt
from .schemas import require_object, validate_files

KEY = "fix"


def build_input(ctx: TaskContext) -> dict[str, Any]:
    codegen = ctx.upstream.get("codegen") or {}
    review = ctx.upstream.get("qa_review") or {}
    return {
        "files": list(codegen.get("files") or []),
        "findings": list(review.get("findings") or []),
    }


def run(ctx: TaskContext, task_input: dict[str, Any]) -> Any:
    system, prompt = fix_prompt(
        task_input["files"], task_input["findings"], repair_hint=ctx.repair_hint
    )

    def parse(reply: TextReply) -> dict[str, Any]:
        return validate(ctx, parse_code_answer(KEY, reply.text, truncated=reply.truncated))

    def offline() -> dict[str, Any]:
        out: dict[str, Any] = providers.offline_provider().fix(
            task_input["files"], task_input["findings"]
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
    return {"files": validate_files(KEY, obj, ctx.config.limits, min_items=0)}


def apply(ctx: TaskContext, output: dict[str, Any]) -> None:
    before = {
        f["path"]: f["content"] for f in (ctx.upstream.get("codegen") or {}).get("files") or []
    }
    changed = [f for f in output["files"] if before.get(f["path"]) != f["content"]]
    if not changed:
        return
    written = set(ctx.staging.write_files(changed))
    model = ctx.extra.get("model") or ("injected" if ctx.extra.get("injected_output") else None)
    for f in changed:
        if f["path"] in written:
            ctx.add_artifact(
                "code",
                uri=f["path"],
                content={"path": f["path"], "content": f["content"]},
                metadata={"model": model, "task": KEY, "bytes": len(f["content"].encode())},
            )
