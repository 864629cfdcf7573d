"""How the offline provider understands an edit: a table of phrasings, half in Japanese.

Each row edits a freshly made game and names the settings that must change (and to what)
or what the answer must be instead: UNSUPPORTED (the template cannot do it: the summary
says so), ALREADY (the game has it) or KEPT ("don't make it faster"). Whatever the row
does not name must stay as it was; a row that changes nothing must leave every file
byte-identical (so publishing makes no empty commit) and say why in the request's
language.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest

from enginev2d.providers.offline import OfflineProvider
from enginev2d.providers.offline.palette import color_word_hex

P = OfflineProvider()
UNSUPPORTED, ALREADY, KEPT = "unsupported", "already", "kept"
_JA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

# base game -> (English request, Japanese request) that makes it
BASES = {
    "snake": ("a snake game", "ヘビのゲームを作って"),
    "snake+sound": ("a snake game with sound", "効果音ありのヘビゲームを作って"),
    "breakout": ("a breakout game", "ブロック崩しを作って"),
    "memory": ("a memory game", "神経衰弱を作って"),
    "pong": ("a pong game", "ピンポンを作って"),
    "snake+stars": ("a snake game with a starry sky background", "背景が星空のヘビゲームを作って"),
}

TABLE: list[tuple[str, str, Any]] = [
    # ---- English ---------------------------------------------------------------------
    ("make it faster", "snake", {"speed": 7}),
    ("it's too fast", "snake", {"speed": 3}),
    ("slow it down, it's too fast", "snake", {"speed": 3}),
    ("way too fast", "snake", {"speed": 2}),
    ("a little slower please", "snake", {"speed": 4}),
    ("much faster", "snake", {"speed": 8}),
    ("don't make it faster", "snake", KEPT),
    ("not too fast", "snake", {"speed": 4}),
    ("it's too slow", "snake", {"speed": 7}),
    ("set the speed to 8", "snake", {"speed": 8}),
    ("too hard for me", "snake", {"difficulty": "easy"}),
    ("it's too easy", "snake", {"difficulty": "hard"}),
    ("make it harder", "snake", {"difficulty": "hard"}),
    ("don't make it harder", "snake", KEPT),
    ("easier please", "snake", {"difficulty": "easy"}),
    ("green instead of red", "snake", {"primary": "green"}),
    ("instead of red, use blue", "snake", {"primary": "blue"}),
    ("make it red", "snake", {"primary": "red"}),
    ("don't make it red", "snake", KEPT),
    ("make the background black", "snake", {"background_color": "black"}),
    ("change the background to a starry sky", "snake", {"background": "stars"}),
    ("add a sky with clouds in the background", "snake", {"background": "sky"}),
    ("put it under the sea", "snake", {"background": "sea"}),
    ("plain background please", "snake+stars", {"background": "plain"}),
    ("make the ball bigger", "breakout", {"size": 4}),
    ("smaller paddle", "breakout", {"size": 2}),
    ("the ball is too small", "breakout", {"size": 4}),
    ("make the cards bigger", "memory", UNSUPPORTED),
    ("add sound", "snake", {"sound": True}),
    ("mute it", "snake+sound", {"sound": False}),
    ("add music", "snake", UNSUPPORTED),
    ("add multiplayer", "snake", UNSUPPORTED),
    ("add a high score", "snake", ALREADY),
    ("make the snake longer", "snake", {"length": 6}),
    ("make it longer", "pong", UNSUPPORTED),
    ("give me more lives", "breakout", {"lives": 5}),
    ("make it 3D", "snake", UNSUPPORTED),
    ("make it neon", "snake", {"palette": "neon"}),
    ('call it "Star Hunter"', "snake", {"title": "Star Hunter"}),
    ("turn it into tetris", "snake", {"template_id": "blocks"}),
    ("make it a quiz game", "snake", UNSUPPORTED),
    ("play to 11", "pong", {"points": 11}),
    # ---- Japanese --------------------------------------------------------------------
    ("もっと速くして", "snake", {"speed": 7}),
    ("ちょっと速くして", "snake", {"speed": 6}),
    ("速すぎる", "snake", {"speed": 3}),
    ("速すぎるのでゆっくりにして", "snake", {"speed": 3}),
    ("速いのでゆっくりにして", "snake", {"speed": 3}),
    ("少し遅くして", "snake", {"speed": 4}),
    ("速くしないで", "snake", KEPT),
    ("すごく速くして", "snake", {"speed": 8}),
    ("遅すぎる", "snake", {"speed": 7}),
    ("スピードを8にして", "snake", {"speed": 8}),
    ("難しすぎる", "snake", {"difficulty": "easy"}),
    ("簡単すぎる", "snake", {"difficulty": "hard"}),
    ("もっと難しくして", "snake", {"difficulty": "hard"}),
    ("難しくしないで", "snake", KEPT),
    ("やさしくして", "snake", {"difficulty": "easy"}),
    ("赤じゃなくて緑にして", "snake", {"primary": "green"}),
    ("赤の代わりに青にして", "snake", {"primary": "blue"}),
    ("赤にして", "snake", {"primary": "red"}),
    ("背景を黒にして", "snake", {"background_color": "black"}),
    ("背景を星空にして", "snake", {"background": "stars"}),
    ("背景を青空にして", "snake", {"background": "sky"}),
    ("背景を海にして", "snake", {"background": "sea"}),
    ("背景を無地にして", "snake+stars", {"background": "plain"}),
    ("赤にしないで", "snake", KEPT),
    ("もう少しゆっくりにして", "snake", {"speed": 4}),
    ("ボールを大きくして", "breakout", {"size": 4}),
    ("パドルを小さくして", "breakout", {"size": 2}),
    ("ボールが小さすぎる", "breakout", {"size": 4}),
    ("カードを大きくして", "memory", UNSUPPORTED),
    ("音をつけて", "snake", {"sound": True}),
    ("音を消して", "snake+sound", {"sound": False}),
    ("BGMをつけて", "snake", UNSUPPORTED),
    ("マルチプレイにして", "snake", UNSUPPORTED),
    ("ハイスコアを追加して", "snake", ALREADY),
    ("ヘビを長くして", "snake", {"length": 6}),
    ("ライフを増やして", "breakout", {"lives": 5}),
    ("3Dにして", "snake", UNSUPPORTED),
    ("ネオンにして", "snake", {"palette": "neon"}),
    ("タイトルは「星ハンター」にして", "snake", {"title": "星ハンター"}),
    ("テトリスに変えて", "snake", {"template_id": "blocks"}),
    ("クイズにして", "snake", UNSUPPORTED),
    ("オンラインランキングをつけて", "snake", UNSUPPORTED),
]

_EXPECTED_NOTES = {
    UNSUPPORTED: {"unsupported", "unsupported_setting", "near_edit"},
    ALREADY: {"already"},
    KEPT: {"kept", "kept_color"},
}


@cache
def _base(name: str, lang: str) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
    message = BASES[name][0 if lang == "en" else 1]
    plan = P.plan(message, "edit", {})
    files = tuple((f["path"], f["content"]) for f in P.codegen(message, plan, {})["files"])
    return plan, files


def _view(plan: dict[str, Any]) -> dict[str, Any]:
    """What a row can name: the settings, the look, the title (when set by the user)."""
    view = dict(plan["settings"])
    view.update(
        template_id=plan["template_id"],
        palette=plan["palette"],
        primary=plan["colors"]["primary"],
        background_color=plan["colors"]["background"],
    )
    if not plan["title_auto"]:
        view["title"] = plan["title"]
    return view


def _expected_value(key: str, value: Any, plan: dict[str, Any]) -> Any:
    if key == "primary":
        return color_word_hex(value, plan["palette"])
    if key == "background_color":
        return {"black": "#000000", "white": "#f8fafc"}.get(value, value)
    return value


def test_the_table_is_large_and_half_japanese() -> None:
    ja = [m for m, _, _ in TABLE if _JA.search(m)]
    assert len(TABLE) >= 60
    assert len(ja) * 2 >= len(TABLE)


@pytest.mark.parametrize(("message", "base", "expected"), TABLE)
def test_phrasing(message: str, base: str, expected: Any) -> None:
    lang = "ja" if _JA.search(message) else "en"
    base_plan, base_files = _base(base, lang)
    project = dict(base_files)
    plan = P.plan(message, "edit", project)
    out = P.codegen(message, plan, project)
    summary = out["summary"]
    assert bool(_JA.search(summary)) == (lang == "ja"), summary
    if isinstance(expected, str):
        kinds = {n["kind"] for n in plan["notes"]}
        assert kinds & _EXPECTED_NOTES[expected], (plan["notes"], summary)
        assert plan["changes"] == []
        # Nothing changes, byte for byte: no new commit, and the summary says why.
        assert tuple((f["path"], f["content"]) for f in out["files"]) == base_files
        assert len(summary) > len(base_plan["title"]) + 10
        return
    if "template_id" in expected:  # a switch: the rest of the settings belong to the new game
        assert plan["template_id"] == expected["template_id"]
        assert plan["palette"] == base_plan["palette"]  # earlier choices are kept
        return
    before, after = _view(base_plan), _view(plan)
    changed = {k: after[k] for k in after if after.get(k) != before.get(k)}
    if "palette" in expected:  # a palette brings its own colours
        changed = {k: v for k, v in changed.items() if k not in ("primary", "background_color")}
    wanted = {k: _expected_value(k, v, plan) for k, v in expected.items()}
    assert changed == wanted, summary
    assert plan["changes"] and plan["codegen_strategy"] == "edit"
