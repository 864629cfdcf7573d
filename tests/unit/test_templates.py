"""The template library for every provider: manifests, the model prompts built from it,
the playable preview of a plan, and codegen's template strategy through a real SDK."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from enginev2d.config import Config
from enginev2d.tasks import execute, plan, prompts
from enginev2d.templates import (
    FILES,
    catalogue,
    catalogue_text,
    common,
    detect_language,
    normalize_template_id,
    overlay_answer,
    preview_files,
    read_marker,
    templates_root,
)
from enginev2d.templates.library import CORE_SETTINGS
from tests.fakes import anthropic_message, code_answer, gemini_stream
from tests.fakes.ctx import make_ctx
from tests.fakes.fixtures import fake_env, llm_config, srv, waits

__all__ = ["fake_env", "llm_config", "srv", "waits"]  # fixtures used by name

MSG = "/v1/messages"
STREAM = ":streamGenerateContent"
ROOT = Path(__file__).resolve().parents[2]


# ---- the library on disk --------------------------------------------------------------


def test_the_library_is_the_top_level_templates_directory() -> None:
    assert templates_root().resolve() == (ROOT / "templates").resolve()
    for tid, m in catalogue().items():
        folder = ROOT / "templates" / tid
        assert (folder / "manifest.toml").is_file() and (folder / "game.js").is_file()
        raw = tomllib.loads((folder / "manifest.toml").read_text())
        for lang in ("en", "ja"):
            assert m.title[lang] and m.controls[lang] and m.genre[lang]
            assert raw["keywords"][lang], f"{tid}: keywords in {lang}"
            assert m.text[lang]["help"]
        assert set(CORE_SETTINGS) - {"size"} <= set(m.settings), tid
        for s in m.settings.values():
            assert s.clamp(s.default) == s.default
            if s.type == "int":
                assert s.min < s.max


def test_every_text_a_game_shows_exists_in_both_languages() -> None:
    for tid, m in catalogue().items():
        assert set(m.text["en"]) == set(m.text["ja"]), tid
        game = (ROOT / "templates" / tid / "game.js").read_text()
        runtime = (ROOT / "templates" / "_common" / "runtime.js").read_text()
        for key in re.findall(r"\bt\('(\w+)'", game + runtime):
            assert key in m.text["en"], f"{tid}: t('{key}') has no text"


def test_language_detection() -> None:
    assert detect_language("make it faster") == "en"
    assert detect_language("もっと速くして") == "ja"
    assert detect_language("ヘビ game") == "ja"
    assert detect_language("8", default="ja") == "ja"
    assert detect_language("") == "en"


@pytest.mark.parametrize(
    ("name", "tid"),
    [
        ("Platformer", "platformer"),
        ("Tetris", "blocks"),
        ("brick-breaker", "breakout"),
        ("Space Shooter", "shooter"),
        ("tic_tac_toe", "tictactoe"),
        ("snake game", "snake"),
        ("chess", None),
        (None, None),
    ],
)
def test_template_names_from_other_planners(name: Any, tid: str | None) -> None:
    assert normalize_template_id(name) == tid


def test_every_template_is_found_by_its_own_names() -> None:
    for tid, m in catalogue().items():
        for name in (tid, tid.replace("_", "-").upper(), m.title["en"], f"{m.title['en']} game"):
            assert normalize_template_id(name) == tid, name


def test_catalogue_text_is_compact_and_complete() -> None:
    text = catalogue_text()
    assert len(text) < 3000  # about 700 tokens for 14 templates
    for tid, m in catalogue().items():
        assert f"- {tid}: {m.title['en']} / {m.title['ja']}" in text
    assert "background plain|stars|sky|sea" in text and "neon" in text


# ---- preview -------------------------------------------------------------------------


def _files(files: list[dict[str, str]]) -> dict[str, str]:
    return {f["path"]: f["content"] for f in files}


def test_preview_of_a_model_plan_is_the_template_with_its_settings() -> None:
    model_plan = {
        "template_id": "Tetris",
        "codegen_strategy": "template",
        "language": "ja",
        "title": "ブロック落とし",
        "palette": "pastel",
        "settings": {"speed": 9, "background": "stars", "size": 99, "bogus": 1},
    }
    files = _files(preview_files(model_plan))
    assert list(files) == list(FILES)
    config = files["config.js"]
    assert 'const TEMPLATE_ID = "blocks";' in config and "const SPEED = 9;" in config
    assert 'const BACKGROUND = "stars";' in config and 'const LANG = "ja";' in config
    assert "const SPRITES = {};" in config  # no images yet: the game draws its shapes
    assert '<html lang="ja">' in files["index.html"] and "ブロック落とし" in files["index.html"]
    assert read_marker(files["index.html"]).palette == "pastel"
    assert "{{" not in "".join(files.values())


def test_preview_of_an_offline_plan_equals_the_game_without_sprites() -> None:
    from enginev2d.providers.offline import OfflineProvider

    p = OfflineProvider()
    offline_plan = p.plan("a neon racing game, way too fast", "edit", {})
    game = _files(p.codegen("a neon racing game", offline_plan, {})["files"])
    preview = _files(preview_files(offline_plan))
    assert preview["game.js"] == game["game.js"] and preview["index.html"] == game["index.html"]
    no_sprites = re.sub(r"const SPRITES = \{.*?\};", "const SPRITES = {};", game["config.js"])
    assert preview["config.js"] == no_sprites


@pytest.mark.parametrize(
    "bad",
    [
        {"template_id": None, "codegen_strategy": "scratch"},
        {"template_id": "chess", "codegen_strategy": "template"},
        {"template_id": "snake", "codegen_strategy": "scratch"},
        {},
        "not a plan",
    ],
)
def test_no_preview_without_a_library_template(bad: Any) -> None:
    assert preview_files(bad) is None


def test_overlay_keeps_files_the_model_did_not_return() -> None:
    base = [{"path": "a.js", "content": "A"}, {"path": "b.js", "content": "B"}]
    answer = {"files": [{"path": "b.js", "content": "B2"}], "summary": "s"}
    assert overlay_answer(answer, base)["files"] == [
        {"path": "a.js", "content": "A"},
        {"path": "b.js", "content": "B2"},
    ]
    assert overlay_answer({"files": "nope"}, base) == {"files": "nope"}  # left for validation


# ---- the model path ----------------------------------------------------------------------


def test_plan_prompt_carries_the_catalogue() -> None:
    system, prompt = prompts.plan("a racing game", "edit", {}, repair_hint=None)
    assert "a racing game" in prompt
    assert catalogue_text() in system
    assert '"language"' in system and '"settings"' in system


def test_every_code_prompt_names_the_player_s_language() -> None:
    plan_value = {"template_id": "snake", "language": "ja"}
    for system, prompt in (
        prompts.codegen("作って", plan_value, {}, repair_hint=None),
        prompts.codegen_template("作って", plan_value, [], repair_hint=None),
    ):
        assert "The player's language is Japanese (ja)" in prompt, system[:40]
    system, _ = prompts.fix([], [], repair_hint=None)
    assert "keep every text the player reads in the language it is in" in system


def test_plan_records_the_language_and_canonical_template(llm_config: Config, srv: object) -> None:
    answer = {
        "dimension": "2d",
        "skills": ["game-loop"],
        "template_id": "Tetris",
        "image_count": 0,
        "codegen_strategy": "template",
        "settings": {"speed": 3},
    }
    srv.enqueue(MSG, anthropic_message(answer))
    ctx = make_ctx(llm_config, "plan", upstream={"intent": {"intent": "edit"}}, message="テトリス")
    out = execute(ctx).output
    assert (out["template_id"], out["language"]) == ("blocks", "ja")
    srv.enqueue(MSG, anthropic_message({**answer, "language": "fr"}))
    fr = execute(make_ctx(llm_config, "plan", upstream={"intent": {"intent": "edit"}})).output
    assert fr["language"] == "fr"  # the planner's word wins over our two-language detector


def test_chat_reply_from_the_model_is_kept(llm_config: Config, srv: object) -> None:
    srv.enqueue(MSG, anthropic_message({"intent": "chat", "reply": "どういたしまして！"}))
    out = execute(make_ctx(llm_config, "intent", message="ありがとう")).output
    assert out == {"intent": "chat", "reply": "どういたしまして！"}
    system = srv.for_route(MSG)[0].json["system"]
    system = system if isinstance(system, str) else json.dumps(system, ensure_ascii=False)
    assert '"reply"' in system and '"step"' in system


def _template_plan(cfg: Config, **extra: Any) -> dict[str, Any]:
    raw = {
        "dimension": "2d",
        "skills": ["game-loop"],
        "template_id": "snake",
        "image_count": 0,
        "codegen_strategy": "template",
        "language": "en",
        "settings": {"speed": 8},
        **extra,
    }
    return plan.validate(make_ctx(cfg, "plan"), raw)


def test_codegen_template_strategy_asks_for_changed_files_only(
    llm_config: Config, srv: object
) -> None:
    """The model sees the template rendered with the plan and returns config.js alone; the
    game is complete: every other file is the template's."""
    template_plan = _template_plan(llm_config)
    base = _files(preview_files(template_plan))
    new_config = base["config.js"].replace("const SPEED = 8;", "const SPEED = 2;")
    answer = code_answer([{"path": "config.js", "content": new_config}], "A slow snake.")
    srv.enqueue(STREAM, gemini_stream(answer))
    ctx = make_ctx(llm_config, "codegen", upstream={"plan": template_plan})
    out = execute(ctx).output
    files = _files(out["files"])
    assert list(files) == list(FILES)
    assert files["config.js"] == new_config
    assert {k: v for k, v in files.items() if k != "config.js"} == {
        k: v for k, v in base.items() if k != "config.js"
    }
    assert (ctx.staging.root / "game.js").read_text() == base["game.js"]
    body = srv.for_route(STREAM)[0].json
    prompt = json.dumps(body, ensure_ascii=False)
    assert "listing ONLY the files you changed" in prompt
    assert "const SPEED = 8;" in prompt  # the plan's settings are already in the files
    assert "function resetGame()" in prompt  # the template's own code, for reference


def test_codegen_edit_strategy_keeps_unreturned_project_files(
    llm_config: Config, srv: object
) -> None:
    existing = {
        "index.html": '<!DOCTYPE html><canvas></canvas><script src="g.js"></script>',
        "g.js": "requestAnimationFrame(()=>{});",
        "notes.txt": "keep me",
    }
    edit_plan = _template_plan(llm_config, codegen_strategy="edit", template_id=None)
    answer = code_answer([{"path": "g.js", "content": "/*faster*/"}], "Faster.")
    srv.enqueue(STREAM, gemini_stream(answer))
    ctx = make_ctx(llm_config, "codegen", upstream={"plan": edit_plan}, existing=existing)
    files = _files(execute(ctx).output["files"])
    assert files == {**existing, "g.js": "/*faster*/"}


def test_codegen_from_scratch_is_unchanged(llm_config: Config, srv: object) -> None:
    scratch_plan = _template_plan(llm_config, codegen_strategy="scratch")
    index = "<!DOCTYPE html><canvas></canvas><script>requestAnimationFrame(()=>{})</script>"
    srv.enqueue(
        STREAM, gemini_stream(code_answer([{"path": "index.html", "content": index}], "Made."))
    )
    out = execute(make_ctx(llm_config, "codegen", upstream={"plan": scratch_plan})).output
    assert _files(out["files"]) == {"index.html": index}
    assert "Return every file" in json.dumps(srv.for_route(STREAM)[0].json)


def test_common_data_points_only_at_real_templates() -> None:
    ids = set(catalogue())
    assert {n.template for n in common().near} <= ids
    assert {s.prefers for s in common().subjects.values() if s.prefers} <= ids
