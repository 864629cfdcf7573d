"""The task types: one declaration each, from which everything else derives.

A task type is its key, the agent role and label the UI shows (design 7.1), its weight in
the progress bar, its attempt budget, the module under :mod:`enginev2d.tasks` holding
its body (``build_input``, ``run``, ``validate`` with its schema, ``apply``) and what
kind of work it is. The default workflow (:mod:`enginev2d.workflow`), the task bodies'
registry, the providers' code tasks, configuration checks, metric labels and SQL (which
orders and selects by ``job_tasks.position`` and ``agent_role``, never by key) all
derive from :data:`TASK_TYPES`.

Adding a task type: its module in ``enginev2d/tasks/``, one line here, and its edges in
``workflow.DEFAULT_WORKFLOW_DEF``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskType:
    key: str
    role: str  # design 7.1 agent_role; "publisher" is the task that swaps into production
    label: str  # design 7.1, what the user sees while it runs
    weight: int  # its share of the progress bar
    max_attempts: int
    module: str  # enginev2d.tasks.<module>
    code: bool = False  # answers with code files: streams, larger model, partialResult
    model: bool = True  # calls a model (False: local work, no route)
    preview: bool = False  # its output renders a playable preview (partialResult "preview")


TASK_TYPES: tuple[TaskType, ...] = (
    TaskType("intent", "planner", "意図を分析中...", 1, 2, "intent"),
    TaskType("plan", "planner", "ゲームを設計中...", 2, 2, "plan", preview=True),
    TaskType("codegen", "builder", "コードを生成中...", 5, 2, "codegen", code=True),
    TaskType("asset", "asset", "画像を生成中...", 4, 2, "asset"),
    TaskType("qa_review", "qa", "品質チェック中...", 2, 1, "qa_review"),
    TaskType("fix", "builder", "修正中...", 2, 2, "fix", code=True),
    TaskType("publish_prep", "publisher", "仕上げ中...", 1, 1, "publish_prep", model=False),
)

BY_KEY = {t.key: t for t in TASK_TYPES}
TASK_KEYS = tuple(t.key for t in TASK_TYPES)
CODE_TASKS = frozenset(t.key for t in TASK_TYPES if t.code)
MODEL_FREE_TASKS = frozenset(t.key for t in TASK_TYPES if not t.model)
PREVIEW_TASKS = frozenset(t.key for t in TASK_TYPES if t.preview)
