"""Every template of the library renders into a game that passes the real static checks,
in English and in Japanese."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser

import pytest

from enginev2d.providers.offline import TEMPLATE_IDS, OfflineProvider, check_js_syntax
from enginev2d.providers.offline.jscheck import tokenizer_check
from enginev2d.tasks import schemas
from enginev2d.templates import FILES, catalogue, read_marker

# One English and one Japanese request per template: each must choose that template.
REQUESTS = {
    "snake": ("make me a neon snake game", "ネオンのヘビゲームを作って"),
    "breakout": ("build a brick breaker with a paddle", "ブロック崩しを作って"),
    "shooter": ("a space invaders shooter", "シューティングゲームを作って"),
    "runner": ("an endless runner where you jump over obstacles", "ランナーゲームを作って"),
    "clicker": ("an idle cookie clicker", "クリッカーゲームを作って"),
    "platformer": ("a platformer with a cat", "ネコのジャンプアクションを作って"),
    "pong": ("a pong game against the computer", "ピンポンゲームを作って"),
    "flappy": ("a flappy bird game", "フラッピーバードみたいなゲームを作って"),
    "blocks": ("a tetris game", "テトリスを作って"),
    "memory": ("a memory card matching game", "神経衰弱を作って"),
    "maze": ("a maze game", "迷路ゲームを作って"),
    "racing": ("a top-down racing game", "レースゲームを作って"),
    "tictactoe": ("tic-tac-toe", "三目並べを作って"),
    "catcher": ("a cat catches fish", "猫が魚をキャッチするゲームを作って"),
}
CASES = [(tid, lang) for tid in sorted(REQUESTS) for lang in ("en", "ja")]


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


def _request(template_id: str, lang: str) -> str:
    return REQUESTS[template_id][0 if lang == "en" else 1]


def test_the_library_has_at_least_thirteen_genres() -> None:
    assert set(REQUESTS) == set(TEMPLATE_IDS) == set(catalogue())
    assert len(TEMPLATE_IDS) >= 13


@pytest.mark.parametrize(("template_id", "lang"), CASES)
def test_request_picks_the_template_and_its_language(template_id: str, lang: str) -> None:
    plan, out = _generate(_request(template_id, lang))
    assert (plan["template_id"], plan["language"]) == (template_id, lang)
    files = _files(out)
    assert f'<html lang="{lang}">' in files["index.html"]
    title = catalogue()[template_id].title[lang]
    assert title in plan["title"] and title in out["summary"]
    if lang == "ja":  # the player's texts are Japanese, not English
        text = json.loads(re.search(r"^const TEXT = (\{.*\});$", files["config.js"], re.M)[1])
        assert text["gameOver"] != catalogue()[template_id].text["en"]["gameOver"]
        assert "操作" in out["summary"] and "Created" not in out["summary"]


@pytest.mark.parametrize(("template_id", "lang"), CASES)
def test_generated_game_passes_qa_with_no_findings(template_id: str, lang: str) -> None:
    plan, out = _generate(_request(template_id, lang))
    assert OfflineProvider().qa_review(out["files"], plan) == {"issues": 0, "findings": []}


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_index_html_structure(template_id: str) -> None:
    plan, out = _generate(_request(template_id, "en"))
    files = _files(out)
    assert [f["path"] for f in out["files"]] == list(FILES)
    page = _Collect()
    page.feed(files["index.html"])
    page.close()
    assert files["index.html"].startswith("<!DOCTYPE html>")
    assert "canvas" in [t for t, _ in page.tags]
    scripts = [a["src"] for t, a in page.tags if t == "script"]
    assert scripts == ["config.js", "runtime.js", "game.js"]
    assert any(t == "link" and a.get("href") == "style.css" for t, a in page.tags)
    assert page.title == plan["title"]
    marker = read_marker(files["index.html"])
    assert marker is not None and marker.template_id == template_id
    assert marker.values == plan["settings"]


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_every_token_is_substituted(template_id: str) -> None:
    _, out = _generate(_request(template_id, "ja"))
    for f in out["files"]:
        assert "{{" not in f["content"], f["path"]


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_game_js_is_valid_and_has_loop_input_and_sprites(template_id: str) -> None:
    plan, out = _generate(_request(template_id, "en"))
    files = _files(out)
    for name in ("config.js", "runtime.js", "game.js"):
        assert tokenizer_check(files[name]) is None, name
    if shutil.which("node"):
        joined = "\n".join(files[n] for n in ("config.js", "runtime.js", "game.js"))
        assert check_js_syntax(joined, use_node=True) is None
    game = files["game.js"]
    assert "function resetGame()" in game and "function render()" in game
    assert "startLoop(update, render)" in game
    assert "endGame(" in game  # a way to lose or win
    assert re.search(r"\b(?:onKey|isHeld)\(", game)  # keyboard
    assert re.search(r"\bon(?:Tap|Swipe|PointerDown|PointerMove)\(|pointer\.down", game)  # touch
    sprites = json.loads(re.search(r"^const SPRITES = (\{.*?\});", files["config.js"], re.M)[1])
    assert sorted(sprites.values()) == sorted(s["name"] for s in plan["image_specs"])
    assert f"const SPEED = {plan['settings']['speed']};" in files["config.js"]


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_same_request_gives_identical_output(template_id: str) -> None:
    a, b = OfflineProvider(), OfflineProvider()
    msg = _request(template_id, "ja")
    plan_a, plan_b = a.plan(msg, "edit", {}), b.plan(msg, "edit", {})
    assert plan_a == plan_b
    assert a.codegen(msg, plan_a, {}) == b.codegen(msg, plan_b, {})
    assert a.images(plan_a, a.image_specs(plan_a)) == b.images(plan_b, b.image_specs(plan_b))


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_outputs_are_json_serializable_in_design_shapes(template_id: str) -> None:
    p = OfflineProvider()
    msg = _request(template_id, "en")
    plan = p.plan(msg, "edit", {})
    out = p.codegen(msg, plan, {})
    review = p.qa_review(out["files"], plan)
    for value in (p.intent(msg, has_project=False), plan, out, review, p.fix(out["files"], [])):
        assert json.loads(json.dumps(value)) == value
    assert plan["dimension"] == "2d"
    assert isinstance(plan["skills"], list) and plan["skills"]
    assert 0 <= plan["image_count"] <= 4
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
    assert "</script>" not in files["config.js"]
    assert check_js_syntax(files["config.js"], use_node=False) is None
    assert OfflineProvider().qa_review(out["files"], plan)["issues"] == 0
    assert read_marker(files["index.html"]).title == plan["title"]


@pytest.mark.parametrize("template_id", sorted(REQUESTS))
def test_plan_satisfies_the_plan_task_schema(template_id: str) -> None:
    """Contract with enginev2d.tasks: ids and image specs pass its validators unchanged."""
    plan, _ = _generate(_request(template_id, "en"))
    assert schemas.TEMPLATE_ID.match(plan["template_id"])
    specs = schemas.validate_image_specs("plan", plan["image_specs"], plan["image_count"], "x")
    assert specs == plan["image_specs"]
    assert plan["image_count"] <= schemas.MAX_IMAGES
