"""Planning from words, and edits of a game the provider made earlier."""

from __future__ import annotations

import pytest

from enginev2d.providers.offline import OfflineProvider
from enginev2d.providers.offline.palette import PALETTES

P = OfflineProvider()


def _make(message: str, existing: dict[str, str] | None = None) -> tuple[dict, dict[str, str]]:
    plan = P.plan(message, "edit", existing or {})
    out = P.codegen(message, plan, existing or {})
    return plan, {f["path"]: f["content"] for f in out["files"]} | {"__summary__": out["summary"]}


def _project(files: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in files.items() if k != "__summary__"}


@pytest.mark.parametrize(
    ("message", "template_id"),
    [
        ("make me a snake game", "snake"),
        ("a game with a hungry worm", "snake"),
        ("breakout please", "breakout"),
        ("brick breaking game", "breakout"),
        ("arkanoid clone", "breakout"),
        ("space invaders", "shooter"),
        ("a shoot 'em up with aliens", "shooter"),
        ("platformer where you jump", "runner"),
        ("dino runner like chrome", "runner"),
        ("cookie clicker", "clicker"),
        ("an idle tapping game", "clicker"),
        ("a neon space runner", "runner"),  # "runner" outweighs the theme word "space"
        ("ブロック崩しを作って", "breakout"),
        ("シューティングゲーム", "shooter"),
        ("make a game", "snake"),  # deterministic default
        ("something fun", "snake"),
    ],
)
def test_template_is_picked_from_words(message: str, template_id: str) -> None:
    assert P.plan(message, "edit", {})["template_id"] == template_id


@pytest.mark.parametrize(
    ("message", "palette"),
    [
        ("neon snake", "neon"),
        ("a pastel breakout", "pastel"),
        ("retro 8-bit shooter", "retro"),
        ("dark mode clicker", "dark"),
        ("ocean runner", "ocean"),
        ("fiery lava runner", "fire"),
        ("a neon space shooter", "neon"),  # a style word beats a theme word
        ("ネオンのヘビゲーム", "neon"),
    ],
)
def test_palette_words(message: str, palette: str) -> None:
    plan = P.plan(message, "edit", {})
    assert plan["palette"] == palette
    assert plan["colors"] == PALETTES[palette].colors()


def test_neon_snake_looks_neon() -> None:
    plan, files = _make("make me a neon snake game")
    assert plan["title"] == "Neon Snake"
    assert plan["glow"] > 0
    assert PALETTES["neon"].primary in files["game.js"]
    assert f"--bg: {PALETTES['neon'].background};" in files["style.css"]


def test_speed_and_difficulty_words_for_a_new_game() -> None:
    assert P.plan("a fast snake", "edit", {})["speed"] == 7
    assert P.plan("a super fast snake", "edit", {})["speed"] == 8
    assert P.plan("a slow snake", "edit", {})["speed"] == 3
    assert P.plan("snake at speed 9", "edit", {})["speed"] == 9
    assert P.plan("a hard breakout", "edit", {})["difficulty"] == "hard"
    assert P.plan("an easy breakout for kids", "edit", {})["difficulty"] == "easy"
    assert P.plan("breakout", "edit", {})["difficulty"] == "normal"


def test_titles_from_the_request() -> None:
    assert P.plan('a snake game called "Noodle Run"', "edit", {})["title"] == "Noodle Run"
    assert P.plan("a runner named Sky Hopper with coins", "edit", {})["title"] == "Sky Hopper"
    assert P.plan("タイトルは「ヘビくん」のヘビゲーム", "edit", {})["title"] == "ヘビくん"


def test_make_it_faster_edits_the_existing_game_visibly() -> None:
    plan1, files1 = _make("make me a neon snake game")
    assert plan1["speed"] == 5
    plan2, files2 = _make("make it faster", _project(files1))
    assert plan2["codegen_strategy"] == "edit"
    assert plan2["template_id"] == "snake"
    assert plan2["speed"] == 7
    assert "const SPEED = 5;" in files1["game.js"]
    assert "const SPEED = 7;" in files2["game.js"]
    assert "SPEED ' + SPEED" in files2["game.js"]  # the HUD shows the constant
    # Settings not mentioned are kept.
    assert plan2["palette"] == "neon" and plan2["title"] == "Neon Snake"
    assert plan2["colors"] == plan1["colors"]
    assert "speed 5 -> 7" in files2["__summary__"]
    # And again, from the edited game: the marker carried the new speed forward.
    plan3, files3 = _make("even faster", _project(files2))
    assert plan3["speed"] == 10
    assert "const SPEED = 10;" in files3["game.js"]


def test_make_it_slower_and_harder() -> None:
    _, files = _make("a breakout game")
    plan, files2 = _make("make it slower and harder", _project(files))
    assert (plan["speed"], plan["difficulty"]) == (3, "hard")
    assert 'const DIFFICULTY = "hard";' in files2["game.js"]


def test_colour_words_change_colours_and_keep_the_rest() -> None:
    plan1, files1 = _make("a fast runner game")
    plan2, files2 = _make("make it red", _project(files1))
    assert plan2["colors"]["primary"] != plan1["colors"]["primary"]
    assert plan2["colors"]["primary"] == "#ef4444"
    assert plan2["colors"]["background"] == plan1["colors"]["background"]
    assert plan2["speed"] == 7 and plan2["template_id"] == "runner"
    assert '"primary":"#ef4444"' in files2["game.js"].replace(" ", "")
    assert "--primary: #ef4444;" in files2["style.css"]


def test_background_colour_word() -> None:
    _, files = _make("neon snake")
    plan = P.plan("make the background blue", "edit", _project(files))
    assert plan["colors"]["primary"] == PALETTES["neon"].primary
    assert plan["colors"]["background"] != PALETTES["neon"].background
    bg = plan["colors"]["background"]
    assert int(bg[5:7], 16) > int(bg[1:3], 16)  # bluish


def test_palette_change_rederives_an_automatic_title() -> None:
    _, files = _make("neon snake")
    plan = P.plan("make it pastel", "edit", _project(files))
    assert (plan["palette"], plan["title"]) == ("pastel", "Pastel Snake")
    _, files = _make('snake called "Mine"')
    assert P.plan("make it pastel", "edit", _project(files))["title"] == "Mine"


def test_edit_with_japanese_words() -> None:
    _, files = _make("ヘビのゲームを作って")
    plan = P.plan("もっと速くして、赤にして", "edit", _project(files))
    assert plan["speed"] == 7
    assert plan["colors"]["primary"] == "#ef4444"


def test_edit_naming_nothing_changeable_keeps_the_game_and_says_so() -> None:
    _, files = _make("neon snake")
    plan, files2 = _make("add a leaderboard", _project(files))
    assert plan["changes"] == []
    assert files2["game.js"] == files["game.js"]
    assert "unchanged" in files2["__summary__"]


def test_switching_game_type_on_request() -> None:
    _, files = _make("neon snake")
    assert P.plan("make the snake red", "edit", _project(files))["template_id"] == "snake"
    plan = P.plan("turn it into a breakout game instead", "edit", _project(files))
    assert plan["template_id"] == "breakout"
    assert plan["codegen_strategy"] == "template"


def test_project_made_elsewhere_is_replaced_by_a_template_game() -> None:
    foreign = {"index.html": "<html><head><title>My Snake</title></head><body></body></html>"}
    plan = P.plan("make it better", "edit", foreign)
    assert plan["codegen_strategy"] == "template"
    assert plan["base"] == "foreign"
    assert plan["template_id"] == "snake"  # guessed from its <title>
    out = P.codegen("make it better", plan, foreign)
    assert out["summary"].startswith("Replaced the existing project with Snake")


def test_codegen_accepts_a_plan_from_another_provider() -> None:
    """A planner that only says template_id still gets a working, customised game."""
    foreign_plan = {"dimension": "2d", "skills": [], "template_id": "Platformer", "image_count": 0}
    out = P.codegen("a neon game", foreign_plan, {})
    js = {f["path"]: f["content"] for f in out["files"]}["game.js"]
    assert "Endless runner" in js
    assert PALETTES["neon"].primary in js
    # The sprites it references are the ones image_specs() derives for that plan.
    specs = P.image_specs(foreign_plan)
    assert P.qa_review(out["files"], {**foreign_plan, "image_specs": specs})["issues"] == 0


def test_existing_files_may_be_a_file_list() -> None:
    _, files = _make("neon snake")
    as_list = [{"path": k, "content": v} for k, v in _project(files).items()]
    assert P.plan("faster", "edit", as_list)["speed"] == 7
