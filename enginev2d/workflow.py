"""The workflow DAG as data (design 7.1), its validation and the skip rules (7.4).

A :class:`Workflow` is a tuple of :class:`TaskSpec` and a tuple of ``(predecessor,
successor)`` edges. :meth:`Workflow.validate` rejects unknown keys in edges, duplicate
keys, self-edges and cycles with :class:`~enginev2d.errors.DagDeadlock` naming the
problem (``cycle: a -> b -> a``) before anything is written. Skip rules are pure
functions of a finished task's output: they name the tasks to skip and why; the
scheduler applies a skip when the skipped task would otherwise become ready, so a
skipped task counts as done for its successors without overtaking its predecessors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import DagDeadlock
from .task_types import CODE_TASKS, TASK_TYPES

# Design 7.1 (the JavaScript object as Python data): the tasks from their declarations.
DEFAULT_WORKFLOW_DEF: dict[str, Any] = {
    "tasks": [
        {
            "key": t.key,
            "role": t.role,
            "weight": t.weight,
            "label": t.label,
            "maxAttempts": t.max_attempts,
        }
        for t in TASK_TYPES
    ],
    "dependencies": [
        ["intent", "plan"],
        ["plan", "codegen"],
        ["plan", "asset"],
        ["codegen", "qa_review"],
        ["qa_review", "fix"],
        ["fix", "publish_prep"],
        ["asset", "publish_prep"],
    ],
}

# Tasks whose output carries files streamed as partialResult (design 13).
PARTIAL_RESULT_TASKS = CODE_TASKS

# What intent 'restore' skips: plan and publish_prep still run (publish_prep restores).
RESTORE_SKIPS = ("codegen", "asset", "qa_review", "fix")

SkipRule = Callable[["Workflow", str, Mapping[str, Any]], dict[str, str]]


def default_skip_rule(wf: Workflow, task_key: str, output: Mapping[str, Any]) -> dict[str, str]:
    """Design 7.4: ``{task_key_to_skip: reason}`` after ``task_key`` produced ``output``."""
    if task_key == "intent":
        intent = output.get("intent")
        if intent == "chat":
            return dict.fromkeys(sorted(wf.descendants("intent")), "intent_chat")
        if intent == "restore":
            return {k: "intent_restore" for k in RESTORE_SKIPS if k in wf.keys}
    if task_key == "qa_review" and output.get("issues") == 0 and "fix" in wf.keys:
        return {"fix": "no_qa_issues"}
    return {}


@dataclass(frozen=True)
class TaskSpec:
    key: str
    role: str
    weight: int = 1
    label: str = ""
    max_attempts: int = 2
    partial: bool = False  # stream output files as partialResult


@dataclass(frozen=True)
class Workflow:
    tasks: tuple[TaskSpec, ...]
    dependencies: tuple[tuple[str, str], ...] = ()
    skip_rule: SkipRule | None = field(default=default_skip_rule, compare=False)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, skip_rule: SkipRule | None = None) -> Workflow:
        """From the design's shape: ``{tasks: [{key, role, weight, label, maxAttempts}],
        dependencies: [[pred, succ], ...]}`` (``max_attempts`` is accepted too)."""
        tasks = tuple(
            TaskSpec(
                key=t["key"],
                role=t.get("role", "builder"),
                weight=int(t.get("weight", 1)),
                label=t.get("label", ""),
                max_attempts=int(t.get("maxAttempts", t.get("max_attempts", 2))),
                partial=bool(t.get("partial", t["key"] in PARTIAL_RESULT_TASKS)),
            )
            for t in data["tasks"]
        )
        deps = tuple((str(a), str(b)) for a, b in data.get("dependencies", ()))
        return cls(tasks, deps, skip_rule or default_skip_rule)

    # ------------------------------------------------------------------ graph
    @cached_property
    def keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.tasks)

    @cached_property
    def by_key(self) -> dict[str, TaskSpec]:
        return {t.key: t for t in self.tasks}

    @cached_property
    def _succ(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {k: [] for k in self.keys}
        for a, b in self.dependencies:
            out.setdefault(a, []).append(b)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def _pred(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {k: [] for k in self.keys}
        for a, b in self.dependencies:
            out.setdefault(b, []).append(a)
        return {k: tuple(v) for k, v in out.items()}

    def successors(self, key: str) -> tuple[str, ...]:
        return self._succ.get(key, ())

    def predecessors(self, key: str) -> tuple[str, ...]:
        return self._pred.get(key, ())

    def _reach(self, start: str, step: Callable[[str], Iterable[str]]) -> frozenset[str]:
        seen: set[str] = set()
        stack = list(step(start))
        while stack:
            k = stack.pop()
            if k not in seen:
                seen.add(k)
                stack.extend(step(k))
        return frozenset(seen)

    def descendants(self, key: str) -> frozenset[str]:
        return self._reach(key, self.successors)

    @cached_property
    def _ancestors(self) -> dict[str, frozenset[str]]:
        return {k: self._reach(k, self.predecessors) for k in self.keys}

    def ancestors(self, key: str) -> frozenset[str]:
        return self._ancestors.get(key, frozenset())

    @property
    def total_weight(self) -> int:
        return sum(max(t.weight, 0) for t in self.tasks)

    # ------------------------------------------------------------------ checks
    def validate(self) -> Workflow:
        """Raise :class:`DagDeadlock` for anything that could not run to completion."""
        if not self.tasks:
            raise DagDeadlock("workflow has no tasks")
        seen: set[str] = set()
        for t in self.tasks:
            if not t.key:
                raise DagDeadlock("workflow task with an empty key")
            if t.key in seen:
                raise DagDeadlock(f"duplicate task key: {t.key}")
            seen.add(t.key)
            if t.max_attempts < 1:
                raise DagDeadlock(f"task {t.key}: max_attempts must be >= 1")
            if t.weight < 0:
                raise DagDeadlock(f"task {t.key}: weight must be >= 0")
        for a, b in self.dependencies:
            for k in (a, b):
                if k not in seen:
                    raise DagDeadlock(f"dependency {a} -> {b} names unknown task: {k}")
            if a == b:
                raise DagDeadlock(f"self-dependency: {a} -> {a}")
        cycle = self.find_cycle()
        if cycle:
            raise DagDeadlock("cycle: " + " -> ".join(cycle))
        return self

    def find_cycle(self) -> list[str] | None:
        """One cycle as a closed path (``[a, b, a]``), or None."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.keys, white)
        for root in self.keys:
            if color[root] != white:
                continue
            path: list[str] = [root]
            iters = [iter(self.successors(root))]
            color[root] = grey
            while iters:
                nxt = next(iters[-1], None)
                if nxt is None:
                    color[path.pop()] = black
                    iters.pop()
                    continue
                if nxt not in color:
                    continue  # unknown key: reported by validate()
                if color[nxt] == grey:
                    return [*path[path.index(nxt) :], nxt]
                if color[nxt] == white:
                    color[nxt] = grey
                    path.append(nxt)
                    iters.append(iter(self.successors(nxt)))
        return None

    # ------------------------------------------------------------------ rules
    def skips_after(self, task_key: str, output: Mapping[str, Any]) -> dict[str, str]:
        """Tasks to skip (``{key: reason}``) once ``task_key`` succeeded with ``output``."""
        if self.skip_rule is None or not isinstance(output, Mapping):
            return {}
        return {k: r for k, r in self.skip_rule(self, task_key, output).items() if k != task_key}

    # ------------------------------------------------------------------ rows
    def task_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "key": t.key,
                "role": t.role,
                "weight": t.weight,
                "label": t.label,
                "max_attempts": t.max_attempts,
                "position": i,
            }
            for i, t in enumerate(self.tasks)
        ]

    def edge_rows(self) -> list[list[str]]:
        return [[a, b] for a, b in self.dependencies]


DEFAULT_WORKFLOW = Workflow.from_dict(DEFAULT_WORKFLOW_DEF).validate()


def skips_after(task_key: str, output: Mapping[str, Any]) -> set[str]:
    """Design 7.4 on the default workflow: the task keys to skip after ``task_key``."""
    return set(DEFAULT_WORKFLOW.skips_after(task_key, output))
