"""intent: classify the request as chat, edit or restore (design 7.3, 7.4).

``chat`` makes the engine skip every later task; the output carries ``reply``, a short
helpful answer in the message's language (the run's result is ``{type: "chat", reply}``).
``restore`` rolls the project back through the normal staging/publish path (the engine
skips codegen, asset, qa_review and fix; publish_prep restores); ``step`` says which way:
``undo`` (one more published version back) or ``redo`` (forward again after an undo).
"""

from __future__ import annotations

from typing import Any

from .. import providers
from ..providers.base import TextReply
from ..providers.offline.intent import chat_reply, restore_step
from .base import TaskContext
from .prompts import intent as intent_prompt
from .schemas import INTENTS, parse_json, require_enum, require_object

KEY = "intent"
STEPS = ("undo", "redo")
MAX_REPLY = 1000


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
        ctx, system=system, prompt=prompt, parse=parse, offline=offline, max_tokens=400
    )


def validate(ctx: TaskContext, output: Any) -> dict[str, Any]:
    obj = require_object(KEY, output)
    intent = require_enum(KEY, obj, "intent", INTENTS)
    out: dict[str, Any] = {"intent": intent}
    if intent == "chat":
        # A model that classified but did not answer still gets the user a reply.
        text = obj.get("reply")
        if not isinstance(text, str) or not text.strip():
            text = chat_reply(ctx.job.message)
        out["reply"] = text.strip()[:MAX_REPLY]
    elif intent == "restore":
        step = obj.get("step")
        step = step.strip().lower() if isinstance(step, str) else None
        out["step"] = step if step in STEPS else (restore_step(ctx.job.message) or "undo")
    return out


def apply(ctx: TaskContext, output: dict[str, Any]) -> None:
    return None
