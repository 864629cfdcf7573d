"""Placeholder for the plan task body (replaced by the tasks issue)."""

from __future__ import annotations

from typing import Any

from ..errors import OutputInvalid, TaskFailed
from .base import TaskContext

KEY = "plan"


def build_input(ctx: TaskContext) -> dict[str, Any]:
    return {}


def run(ctx: TaskContext, task_input: dict[str, Any]) -> Any:
    raise TaskFailed("plan: not implemented yet")


def validate(ctx: TaskContext, output: Any) -> dict[str, Any]:
    if not isinstance(output, dict):
        raise OutputInvalid("plan: output must be an object")
    return output


def apply(ctx: TaskContext, output: dict[str, Any]) -> None:
    return None
