"""qa_review: review the generated files against the plan (design 7.3).

The prompt lists the images the plan is generating (asset runs in parallel), so a
reviewer does not report them missing. The task's route is tried model by model.

``issues`` is the number of findings that need a fix (severity warning, error or
critical; ``info`` findings are reported but do not count). A model's number that
disagrees is replaced by that count. The engine skips fix when it is 0 (design 7.4).
"""

from __future__ import annotations

import logging
from typing import Any

from .. import providers
from ..providers.base import TextReply
from .base import TaskContext
from .prompts import qa_review as qa_prompt
from .schemas import (
    BLOCKING_SEVERITIES,
    MAX_FINDINGS,
    MAX_TEXT,
    normalize_severity,
    parse_json,
    require_int,
    require_list,
    require_object,
    require_str,
)

KEY = "qa_review"
log = logging.getLogger(__name__)


def build_input(ctx: TaskContext) -> dict[str, Any]:
    codegen = ctx.upstream.get("codegen") or {}
    return {"files": list(codegen.get("files") or []), "plan": dict(ctx.upstream.get("plan") or {})}


def run(ctx: TaskContext, task_input: dict[str, Any]) -> Any:
    system, prompt = qa_prompt(task_input["files"], task_input["plan"], repair_hint=ctx.repair_hint)

    def parse(reply: TextReply) -> dict[str, Any]:
        return validate(ctx, parse_json(KEY, reply.text, truncated=reply.truncated))

    def offline() -> dict[str, Any]:
        out: dict[str, Any] = providers.offline_provider().qa_review(
            task_input["files"], task_input["plan"]
        )
        return out

    return providers.ask(
        ctx, system=system, prompt=prompt, parse=parse, offline=offline, max_tokens=4096
    )


def validate(ctx: TaskContext, output: Any) -> dict[str, Any]:
    obj = require_object(KEY, output)
    issues = require_int(KEY, obj, "issues", lo=0)
    raw = require_list(KEY, obj, "findings", max_items=MAX_FINDINGS)
    findings = []
    for i, item in enumerate(raw):
        where = f"findings[{i}]."
        f = require_object(KEY, item, f"findings[{i}]")
        findings.append(
            {
                "severity": normalize_severity(KEY, f.get("severity"), f"findings[{i}]"),
                "description": require_str(KEY, f, "description", where=where),
                "fix_hint": require_str(
                    KEY, f, "fix_hint", max_len=MAX_TEXT, allow_empty=True, where=where
                ),
            }
        )
    blocking = sum(1 for f in findings if f["severity"] in BLOCKING_SEVERITIES)
    if issues != blocking:
        log.info(
            "qa_review: issues=%d but %d findings need a fix; using the findings count",
            issues,
            blocking,
            extra={"action": "qa_issues_normalized", "job_id": ctx.job.job_id},
        )
        issues = blocking
    return {"issues": issues, "findings": findings}


def apply(ctx: TaskContext, output: dict[str, Any]) -> None:
    ctx.add_artifact("review", content=output)
