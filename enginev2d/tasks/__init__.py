"""The seven task bodies (design 7.3) and the one function the engine calls.

``execute(ctx)`` runs a claimed attempt: build the input, honour test injection
(``testing.allow_inject`` only), perform the external call, validate the answer against
the task's schema and apply it to staging. Injected outputs go through the same
validation and application as real answers; only the external call is replaced.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

from ..errors import OutputInvalid, TaskFailed
from ..task_types import TASK_TYPES
from .base import TaskContext, TaskOutcome

TASK_MODULES = {t.key: t.module for t in TASK_TYPES}


@cache
def task_module(task_key: str) -> ModuleType:
    try:
        name = TASK_MODULES[task_key]
    except KeyError:
        raise TaskFailed(f"no task body for task_key {task_key!r}") from None
    return importlib.import_module(f"{__name__}.{name}")


def execute(ctx: TaskContext) -> TaskOutcome:
    module = task_module(ctx.task_key)
    inject = ctx.inject
    task_input: dict[str, Any] = module.build_input(ctx)
    ctx.check()
    if inject.get("latency_ms"):
        ctx.wait(inject["latency_ms"] / 1000.0)
    if ctx.attempt <= int(inject.get("fail_times", 0)):
        raise TaskFailed(
            f"injected failure {ctx.attempt}/{inject['fail_times']}",
            retryable=True,
            detail={"injected": True},
        )
    if "output" in inject:
        raw: Any = inject["output"]
        ctx.extra["injected_output"] = True
    else:
        raw = module.run(ctx, task_input)
    ctx.check()
    output = module.validate(ctx, raw)
    if not isinstance(output, dict):
        raise OutputInvalid(f"{ctx.task_key}: output must be an object")
    module.apply(ctx, output)
    return TaskOutcome(output=output, usage=ctx.usage, artifacts=ctx.artifacts, input=task_input)
