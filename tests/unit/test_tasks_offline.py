"""Offline routing: every task calls the OfflineProvider directly and validates its answer
with the same schema as a model's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enginev2d import providers
from enginev2d.config import Config
from enginev2d.tasks import execute
from tests.fakes.ctx import make_config, make_ctx


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    providers.reset_cache()
    c = make_config(tmp_path)
    assert c.providers.for_task("codegen") == "offline"
    return c


def run_chain(cfg: Config, message: str, existing: dict[str, str] | None = None) -> dict[str, Any]:
    """intent -> plan -> codegen/asset -> qa_review -> fix, one job, one staging."""
    outputs: dict[str, Any] = {}
    ctxs: dict[str, Any] = {}
    job_id = None
    for key in ("intent", "plan", "codegen", "asset", "qa_review", "fix"):
        if key == "fix" and outputs["qa_review"]["issues"] == 0:
            break
        ctx = make_ctx(
            cfg,
            key,
            message=message,
            upstream=dict(outputs),
            existing=existing if job_id is None else None,
            job_id=job_id,
        )
        job_id = ctx.job.job_id
        outcome = execute(ctx)
        assert ctx.usage.models == ["offline"] and ctx.usage.cost_usd == 0
        outputs[key] = outcome.output
        ctxs[key] = ctx
        if key == "intent" and outcome.output["intent"] == "chat":
            break
    return {"outputs": outputs, "ctxs": ctxs}


def test_offline_new_game_chain(cfg: Config) -> None:
    res = run_chain(cfg, "make me a neon snake game")
    out, ctxs = res["outputs"], res["ctxs"]
    assert out["intent"] == {"intent": "edit"}
    assert out["plan"]["template_id"] == "snake" and out["plan"]["codegen_strategy"] == "template"
    assert len(out["plan"]["image_specs"]) == out["plan"]["image_count"]
    root = ctxs["codegen"].staging.root
    paths = {f["path"] for f in out["codegen"]["files"]}
    assert "index.html" in paths and all((root / p).is_file() for p in paths)
    assert ctxs["codegen"].extra["model"] == "offline"
    names = [i["name"] for i in out["asset"]["images"]]
    assert names == [s["name"] for s in out["plan"]["image_specs"]]
    for n in names:
        assert (root / n).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [a.kind for a in ctxs["asset"].artifacts] == ["image"] * len(names)
    assert isinstance(out["qa_review"]["issues"], int)


def test_offline_same_request_same_files(cfg: Config) -> None:
    a = run_chain(cfg, "a breakout game with a red palette")["outputs"]["codegen"]
    b = run_chain(cfg, "a breakout game with a red palette")["outputs"]["codegen"]
    assert a == b


def test_offline_edit_of_existing_project(cfg: Config) -> None:
    first = run_chain(cfg, "make me a snake game")["outputs"]["codegen"]["files"]
    existing = {f["path"]: f["content"] for f in first}
    res = run_chain(cfg, "make it faster and purple", existing=existing)
    out = res["outputs"]
    assert out["plan"]["codegen_strategy"] == "edit"
    changed = {f["path"]: f["content"] for f in out["codegen"]["files"]}
    assert changed != existing


def test_offline_fix_repairs_broken_code(cfg: Config) -> None:
    files = [
        {"path": "index.html", "content": "<html><body><script src='missing.js'></script>"},
    ]
    plan_ctx = make_ctx(cfg, "plan", upstream={"intent": {"intent": "edit"}})
    plan_out = execute(plan_ctx).output
    qa = make_ctx(cfg, "qa_review", upstream={"codegen": {"files": files}, "plan": plan_out})
    review = execute(qa).output
    assert review["issues"] > 0
    fx = make_ctx(cfg, "fix", upstream={"codegen": {"files": files}, "qa_review": review})
    fixed = execute(fx).output
    assert fixed["files"]
