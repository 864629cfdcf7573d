"""Workflow data, validation and the skip rules (pure, no database)."""

from __future__ import annotations

import pytest

from enginev2d.errors import DagDeadlock
from enginev2d.progress import partial_result, weighted_progress
from enginev2d.workflow import DEFAULT_WORKFLOW, Workflow, skips_after


def wf(tasks, deps):
    return Workflow.from_dict({"tasks": [{"key": k} for k in tasks], "dependencies": deps})


def test_default_workflow_is_design_7_1():
    rows = [(t.key, t.role, t.weight, t.label, t.max_attempts) for t in DEFAULT_WORKFLOW.tasks]
    assert rows == [
        ("intent", "planner", 1, "意図を分析中...", 2),
        ("plan", "planner", 2, "ゲームを設計中...", 2),
        ("codegen", "builder", 5, "コードを生成中...", 2),
        ("asset", "asset", 4, "画像を生成中...", 2),
        ("qa_review", "qa", 2, "品質チェック中...", 1),
        ("fix", "builder", 2, "修正中...", 2),
        ("publish_prep", "publisher", 1, "仕上げ中...", 1),
    ]
    assert DEFAULT_WORKFLOW.dependencies == (
        ("intent", "plan"),
        ("plan", "codegen"),
        ("plan", "asset"),
        ("codegen", "qa_review"),
        ("qa_review", "fix"),
        ("fix", "publish_prep"),
        ("asset", "publish_prep"),
    )
    assert [t.key for t in DEFAULT_WORKFLOW.tasks if t.partial] == ["codegen", "fix"]
    assert DEFAULT_WORKFLOW.ancestors("qa_review") == {"intent", "plan", "codegen"}


@pytest.mark.parametrize(
    ("tasks", "deps", "message"),
    [
        ("ab", [["a", "b"], ["b", "a"]], r"^cycle: a -> b -> a$"),
        ("abc", [["a", "b"], ["b", "c"], ["c", "a"]], r"^cycle: a -> b -> c -> a$"),
        ("ab", [["a", "a"]], r"self-dependency: a -> a"),
        ("ab", [["a", "ghost"]], r"unknown task: ghost"),
        ("aa", [], r"duplicate task key: a"),
        ("", [], r"no tasks"),
    ],
)
def test_validate_rejects_with_dag_deadlock(tasks, deps, message):
    with pytest.raises(DagDeadlock, match=message) as exc:
        wf(tasks, deps).validate()
    assert exc.value.code == "v2_dag_deadlock"


def test_valid_diamond_passes():
    assert wf("abcd", [["a", "b"], ["a", "c"], ["b", "d"], ["c", "d"]]).validate().keys == tuple(
        "abcd"
    )


def test_skip_rules_design_7_4():
    assert skips_after("intent", {"intent": "chat"}) == set(DEFAULT_WORKFLOW.keys) - {"intent"}
    assert skips_after("intent", {"intent": "restore"}) == {"codegen", "asset", "qa_review", "fix"}
    assert skips_after("intent", {"intent": "edit"}) == set()
    assert skips_after("qa_review", {"issues": 0, "findings": []}) == {"fix"}
    assert skips_after("qa_review", {"issues": 2}) == set()
    assert skips_after("codegen", {"issues": 0}) == set()
    reasons = DEFAULT_WORKFLOW.skips_after("qa_review", {"issues": 0})
    assert reasons == {"fix": "no_qa_issues"}


def test_weighted_progress_floors_and_reserves_100_for_success():
    tasks = [("succeeded", 1), ("succeeded", 2), ("running", 5), ("pending", 10)]
    assert weighted_progress(tasks) == 16  # 3/18 floored
    assert weighted_progress([("succeeded", 1), ("skipped", 1)]) == 99
    assert weighted_progress([("succeeded", 1)], succeeded=True) == 100
    assert weighted_progress([]) == 0


def test_partial_result_inline_then_uri():
    files = [{"path": "index.html", "content": "é" * 10}]  # 20 bytes in UTF-8
    assert partial_result(files, inline_limit=20).data["ref"] == "inline"
    pr = partial_result(files, inline_limit=19)
    assert pr.data["ref"] == "uri" and pr.data["total_bytes"] == 20
    (row,) = pr.artifacts
    assert row["kind"] == "partial_file" and pr.data["files"][0]["uri"].endswith(row["id"])
    own = [{"kind": "code", "content": files[0], "metadata": {"path": "index.html"}}]
    pr = partial_result(files, inline_limit=0, task_artifacts=own)
    assert pr.artifacts == [] and pr.data["files"][0]["uri"].endswith(own[0]["id"])
    assert partial_result([], inline_limit=10) is None
