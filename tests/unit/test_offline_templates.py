"""Every offline template renders into a game that passes the real static checks."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser

import pytest

from enginev2d.providers.offline import TEMPLATE_IDS, OfflineProvider, check_js_syntax
from enginev2d.providers.offline.jscheck import tokenizer_check
from enginev2d.providers.offline.settings import read_marker

REQUESTS = {
    "snake": "make me a neon snake game",
    "breakout": "build a brick breaker with a paddle",
    "shooter": "a space invaders shooter",
    "runner": "an endless runner where you jump over obstacles",
    "clicker": "an idle cookie clicker",
}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _generate(message: str) -> tuple[dict, dict]:
    p = OfflineProvider()
    plan = p.plan(message, "edit", {})
    return plan, p.codegen(message, plan, {})


def _files(out: dict) -> dict[str, str]:
    return {f["path"]: f["content"] for f in out["files"]}


def test_there_are_at_least_five_templates() -> None:
    assert set(REQUESTS) <= set(TEMPLATE_IDS)
    assert len(TEMPLATE_IDS) >= 5


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_request_words_pick_the_template(template_id: str) -> None:
    plan, _ = _generate(REQUESTS[template_id])
    assert plan["template_id"] == template_id


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_generated_game_passes_qa_with_no_findings(template_id: str) -> None:
    p = OfflineProvider()
    plan, out = _generate(REQUESTS[template_id])
    review = p.qa_review(out["files"], plan)
    assert review == {"issues": 0, "findings": []}


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_index_html_structure(template_id: str) -> None:
    plan, out = _generate(REQUESTS[template_id])
    files = _files(out)
    assert [f["path"] for f in out["files"]] == ["index.html", "game.js", "style.css"]
    page = _Collect()
    page.feed(files["index.html"])
    page.close()
    names = [t for t, _ in page.tags]
    assert files["index.html"].startswith("<!DOCTYPE html>")
    assert "canvas" in names
    assert ("script", {"src": "game.js"}) in page.tags
    assert any(t == "link" and a.get("href") == "style.css" for t, a in page.tags)
    assert page.title == plan["title"]
    marker = read_marker(files["index.html"])
    assert marker is not None
    assert marker.template_id == template_id
    assert marker.speed == plan["speed"]


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_every_token_is_substituted(template_id: str) -> None:
    _, out = _generate(REQUESTS[template_id])
    for f in out["files"]:
        assert "{{" not in f["content"], f["path"]


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_game_js_is_valid_and_has_loop_input_and_sprites(template_id: str) -> None:
    plan, out = _generate(REQUESTS[template_id])
    js = _files(out)["game.js"]
    assert tokenizer_check(js) is None
    if shutil.which("node"):
        assert check_js_syntax(js, use_node=True) is None
    assert "requestAnimationFrame(" in js
    for event in ("keydown", "pointerdown"):
        assert f"'{event}'" in js, event
    assert re.search(r"state = 'over'", js)  # a game-over state...
    assert "start()" in js  # ...and a restart path
    sprites = json.loads(re.search(r"^const SPRITES = (\{.*\});$", js, re.M).group(1))
    assert sorted(sprites.values()) == sorted(s["name"] for s in plan["image_specs"])
    assert f"const SPEED = {plan['speed']};" in js


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_same_request_gives_identical_output(template_id: str) -> None:
    a = OfflineProvider()
    b = OfflineProvider()
    msg = REQUESTS[template_id]
    plan_a, plan_b = a.plan(msg, "edit", {}), b.plan(msg, "edit", {})
    assert plan_a == plan_b
    assert a.codegen(msg, plan_a, {}) == b.codegen(msg, plan_b, {})
    assert a.images(plan_a, a.image_specs(plan_a)) == b.images(plan_b, b.image_specs(plan_b))


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_outputs_are_json_serializable_in_design_shapes(template_id: str) -> None:
    p = OfflineProvider()
    msg = REQUESTS[template_id]
    plan = p.plan(msg, "edit", {})
    out = p.codegen(msg, plan, {})
    review = p.qa_review(out["files"], plan)
    for value in (p.intent(msg, has_project=False), plan, out, review, p.fix(out["files"], [])):
        assert json.loads(json.dumps(value)) == value
    assert plan["dimension"] == "2d"
    assert isinstance(plan["skills"], list) and plan["skills"]
    assert 1 <= plan["image_count"] <= 4
    assert plan["image_count"] == len(plan["image_specs"])
    assert plan["codegen_strategy"] == "template"
    for spec in plan["image_specs"]:
        assert spec["name"].startswith("assets/") and spec["name"].endswith(".png")
        assert isinstance(spec["prompt"], str) and spec["prompt"]
        assert spec["width"] > 0 and spec["height"] > 0
    assert isinstance(out["summary"], str) and plan["title"] in out["summary"]


def test_title_is_escaped_everywhere_it_lands() -> None:
    msg = 'make a snake game called "</script><b>Bad & Co"'
    plan, out = _generate(msg)
    files = _files(out)
    assert plan["title"] == "</script><b>Bad & Co"
    assert "<b>" not in files["index.html"]
    assert "&lt;/script&gt;&lt;b&gt;Bad &amp; Co" in files["index.html"]
    assert "</script>" not in files["game.js"]
    assert check_js_syntax(files["game.js"], use_node=False) is None
    assert OfflineProvider().qa_review(out["files"], plan)["issues"] == 0
    assert read_marker(files["index.html"]).title == plan["title"]


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_plan_satisfies_the_plan_task_schema(template_id: str) -> None:
    """Contract with enginev2d.tasks: ids and image specs pass its validators unchanged."""
    schemas = pytest.importorskip("enginev2d.tasks.schemas")
    plan, _ = _generate(REQUESTS[template_id])
    assert schemas.TEMPLATE_ID.match(plan["template_id"])
    specs = schemas.validate_image_specs("plan", plan["image_specs"], plan["image_count"], "x")
    assert specs == plan["image_specs"]
    assert plan["image_count"] <= schemas.MAX_IMAGES
