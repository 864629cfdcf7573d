"""Planning from words, and edits of a game made earlier from a template."""

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
        ("platformer where you jump", "platformer"),
        ("a side scroller like mario", "platformer"),
        ("dino runner like chrome", "runner"),
        ("cookie clicker", "clicker"),
        ("an idle tapping game", "clicker"),
        ("a neon space runner", "runner"),  # "runner" outweighs the theme word "space"
        ("pong", "pong"),
        ("flappy bird", "flappy"),
        ("tetris", "blocks"),
        ("memory cards", "memory"),
        ("a labyrinth", "maze"),
        ("a car racing game", "racing"),
        ("noughts and crosses", "tictactoe"),
        ("a cat catches fish", "catcher"),
        ("ブロック崩しを作って", "breakout"),
        ("シューティングゲーム", "shooter"),
        ("横スクロールのアクション", "platformer"),
        ("落ちものパズル", "blocks"),
        ("make a game", "snake"),  # deterministic default
        ("something fun", "snake"),
        ("a bird game", "flappy"),  # a subject but no genre: the subject's template
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
    assert plan["colors"] == dict(PALETTES[palette].colors)


def test_neon_snake_looks_neon() -> None:
    plan, files = _make("make me a neon snake game")
    assert plan["title"] == "Neon Snake"
    assert plan["glow"] > 0
    assert PALETTES["neon"].colors["primary"] in files["config.js"]
    assert f"--bg: {PALETTES['neon'].colors['background']};" in files["style.css"]


def test_speed_and_difficulty_words_for_a_new_game() -> None:
    def settings(message: str) -> dict:
        return P.plan(message, "edit", {})["settings"]

    assert settings("a fast snake")["speed"] == 7
    assert settings("a super fast snake")["speed"] == 8
    assert settings("a slow snake")["speed"] == 3
    assert settings("snake at speed 9")["speed"] == 9
    assert settings("a hard breakout")["difficulty"] == "hard"
    assert settings("an easy breakout for kids")["difficulty"] == "easy"
    assert settings("breakout")["difficulty"] == "normal"
    assert settings("むずかしいブロック崩し")["difficulty"] == "hard"


def test_titles_from_the_request() -> None:
    assert P.plan('a snake game called "Noodle Run"', "edit", {})["title"] == "Noodle Run"
    assert P.plan("a runner named Sky Hopper with coins", "edit", {})["title"] == "Sky Hopper"
    assert P.plan("タイトルは「ヘビくん」のヘビゲーム", "edit", {})["title"] == "ヘビくん"


def test_make_it_faster_edits_the_existing_game_visibly() -> None:
    plan1, files1 = _make("make me a neon snake game")
    assert plan1["settings"]["speed"] == 5
    plan2, files2 = _make("make it faster", _project(files1))
    assert plan2["codegen_strategy"] == "edit"
    assert plan2["template_id"] == "snake"
    assert plan2["settings"]["speed"] == 7
    assert "const SPEED = 5;" in files1["config.js"]
    assert "const SPEED = 7;" in files2["config.js"]
    # Settings not mentioned are kept; only config.js and the marker change.
    assert plan2["palette"] == "neon" and plan2["title"] == "Neon Snake"
    assert plan2["colors"] == plan1["colors"]
    assert files2["game.js"] == files1["game.js"] and files2["runtime.js"] == files1["runtime.js"]
    assert "speed 5 → 7 (faster)" in files2["__summary__"]
    # And again, from the edited game: the marker carried the new speed forward.
    plan3, files3 = _make("even faster", _project(files2))
    assert plan3["settings"]["speed"] == 10
    assert "const SPEED = 10;" in files3["config.js"]


def test_make_it_slower_and_harder() -> None:
    _, files = _make("a breakout game")
    plan, files2 = _make("make it slower and harder", _project(files))
    assert (plan["settings"]["speed"], plan["settings"]["difficulty"]) == (3, "hard")
    assert 'const DIFFICULTY = "hard";' in files2["config.js"]


def test_colour_words_change_colours_and_keep_the_rest() -> None:
    plan1, files1 = _make("a fast runner game")
    plan2, files2 = _make("make it red", _project(files1))
    assert plan2["colors"]["primary"] != plan1["colors"]["primary"]
    assert plan2["colors"]["primary"] == "#ef4444"
    assert plan2["colors"]["background"] == plan1["colors"]["background"]
    assert plan2["settings"]["speed"] == 7 and plan2["template_id"] == "runner"
    assert '"primary":"#ef4444"' in files2["config.js"].replace(" ", "")
    assert "--primary: #ef4444;" in files2["style.css"]


def test_background_colour_word() -> None:
    _, files = _make("neon snake")
    plan = P.plan("make the background blue", "edit", _project(files))
    assert plan["colors"]["primary"] == PALETTES["neon"].colors["primary"]
    assert plan["colors"]["background"] != PALETTES["neon"].colors["background"]
    bg = plan["colors"]["background"]
    assert int(bg[5:7], 16) > int(bg[1:3], 16)  # bluish


def test_palette_change_rederives_an_automatic_title() -> None:
    _, files = _make("neon snake")
    plan = P.plan("make it pastel", "edit", _project(files))
    assert (plan["palette"], plan["title"]) == ("pastel", "Pastel Snake")
    _, files = _make('snake called "Mine"')
    assert P.plan("make it pastel", "edit", _project(files))["title"] == "Mine"


def test_edit_with_japanese_words_switches_the_game_to_japanese() -> None:
    _, files = _make("a snake game")
    plan, files2 = _make("もっと速くして、赤にして", _project(files))
    assert plan["settings"]["speed"] == 7
    assert plan["colors"]["primary"] == "#ef4444"
    assert plan["language"] == "ja" and plan["title"] == "スネーク"
    assert '<html lang="ja">' in files2["index.html"]
    assert "スネークを更新しました" in files2["__summary__"]


def test_edit_naming_nothing_changeable_keeps_the_game_and_says_so() -> None:
    _, files = _make("neon snake")
    plan, files2 = _make("add a leaderboard", _project(files))
    assert plan["changes"] == []
    assert _project(files2) == _project(files)  # byte-identical: publish makes no commit
    assert "unchanged" in files2["__summary__"]
    assert "Online play and rankings is not supported" in files2["__summary__"]


def test_switching_game_type_on_request_keeps_earlier_choices() -> None:
    _, files = _make("neon snake, slow")
    assert P.plan("make the snake red", "edit", _project(files))["template_id"] == "snake"
    plan = P.plan("turn it into a breakout game instead", "edit", _project(files))
    assert plan["template_id"] == "breakout"
    assert plan["codegen_strategy"] == "template"
    assert (plan["palette"], plan["settings"]["speed"]) == ("neon", 3)
    assert P.plan("スネークゲームを作って", "edit", _project(_make("pong")[1]))["template_id"] == (
        "snake"
    )


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
    files = {f["path"]: f["content"] for f in out["files"]}
    assert 'const TEMPLATE_ID = "platformer";' in files["config.js"]
    assert PALETTES["neon"].colors["primary"] in files["config.js"]
    # The sprites it references are the ones image_specs() derives for that plan.
    specs = P.image_specs(foreign_plan)
    assert P.qa_review(out["files"], {**foreign_plan, "image_specs": specs})["issues"] == 0


def test_existing_files_may_be_a_file_list() -> None:
    _, files = _make("neon snake")
    as_list = [{"path": k, "content": v} for k, v in _project(files).items()]
    assert P.plan("faster", "edit", as_list)["settings"]["speed"] == 7


def test_genre_without_a_template_gets_the_nearest_and_says_so() -> None:
    plan, files = _make("a quiz game")
    assert plan["template_id"] == "memory"
    assert files["__summary__"].startswith("There is no quiz game yet, so I made the closest one")
    plan, files = _make("パズルゲームを作って")
    assert plan["template_id"] == "blocks"
    assert files["__summary__"].startswith("パズルゲームのテンプレートはまだないので")


def test_subjects_are_drawn_and_named() -> None:
    plan = P.plan("a cat catches fish", "edit", {})
    assert (plan["template_id"], plan["subject"], plan["item"]) == ("catcher", "cat", "fish")
    assert plan["title"] == "Cat Catch!"
    prompts = {s["name"]: s["prompt"] for s in plan["image_specs"]}
    assert prompts["assets/catcher.png"].startswith("cute cat")
    assert prompts["assets/treat.png"].startswith("cute fish")
    images = dict(P.images(plan, plan["image_specs"]))
    plain = P.plan("a catching game", "edit", {})
    assert (
        images["assets/catcher.png"]
        != dict(P.images(plain, plain["image_specs"]))["assets/catcher.png"]
    )


def test_a_background_theme_keeps_the_earlier_colour_and_title() -> None:
    _, files = _make("a snake game")
    red, files = _make("make it red", _project(files))
    plan, files = _make("change the background to a starry sky", _project(files))
    assert plan["settings"]["background"] == "stars"
    assert (plan["colors"], plan["title"], plan["palette"]) == (
        red["colors"],
        red["title"],
        red["palette"],
    )
    assert 'const BACKGROUND = "stars";' in files["config.js"]
    assert "function drawStars(" in files["runtime.js"]
    assert "background → starry sky" in files["__summary__"]


def test_a_request_that_changes_nothing_is_answered_in_its_language() -> None:
    """The plan records the request's language; the game keeps its own when unchanged."""
    _, files = _make("a snake game")
    plan, files2 = _make("マルチプレイにして", _project(files))
    assert (plan["language"], plan["game_language"]) == ("ja", "en")
    assert _project(files2) == _project(files)
    assert "マルチプレイにはまだ対応していません" in files2["__summary__"]
    plan, files3 = _make("もっと速くして", _project(files))
    assert (plan["language"], plan["game_language"]) == ("ja", "ja")  # a change: in Japanese
    assert '<html lang="ja">' in files3["index.html"]


def test_a_japanese_request_switched_to_another_template_by_another_planner_is_japanese() -> None:
    """An English game, a Japanese request, and a planner that names another template:
    the new game is made in the request's language, like its summary."""
    _, english = _make("a snake game")
    foreign_plan = {"dimension": "2d", "skills": [], "template_id": "breakout"}
    out = P.codegen("もっと楽しいゲームにして", foreign_plan, _project(english))
    files = {f["path"]: f["content"] for f in out["files"]}
    assert 'const TEMPLATE_ID = "breakout";' in files["config.js"]
    assert '<html lang="ja">' in files["index.html"]
    assert any("\u3040" <= ch <= "\u30ff" for ch in out["summary"])
