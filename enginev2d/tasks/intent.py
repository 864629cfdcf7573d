"""intent: classify the request as chat, edit or restore (design 7.3, 7.4).

``chat`` makes the engine skip every later task; ``restore`` rolls the project back to
its previous published version through the normal staging/publish path (the engine skips
codegen, asset, qa_review and fix; publish_prep does the rollback commit).
"""

from __future__ import annotations

from typing import Any

from .. import providers
from ..providers.base import TextReply
from .base import TaskContext
from .prompts import intent as intent_prompt
from .schemas import INTENTS, parse_json, require_enum, require_object

KEY = "intent"


def build_input(ctx: TaskContext) -> dict[str, Any]:
    return {"message": ctx.job.message}


def run(ctx: TaskContext, task_input: dict[str, Any]) -> Any:
    has_project = bool(ctx.staging.existing_files())
    system, prompt = intent_prompt(
        task_input["message"], has_project=has_project, repair_hint=ctx.repair_hint
    )

    def parse(reply: TextReply) -> dict[str, Any]:
        return validate(ctx, parse_json(KEY, reply.text, truncated=reply.truncated))

    def offline() -> dict[str, Any]:
        out: dict[str, Any] = providers.offline_provider().intent(
            task_input["message"], has_project=has_project
        )
        return out

    return providers.ask(
        ctx, system=system, prompt=prompt, parse=parse, offline=offline, max_tokens=64
    )


def validate(ctx: TaskContext, output: Any) -> dict[str, Any]:
    obj = require_object(KEY, output)
    return {"intent": require_enum(KEY, obj, "intent", INTENTS)}


def apply(ctx: TaskContext, output: dict[str, Any]) -> None:
    return None
