"""Intent classification table: restore (undo / redo), chat (with a reply in the message's
language) or edit, in English and Japanese."""

from __future__ import annotations

import re

import pytest

from enginev2d.providers.offline import OfflineProvider

CASES = [
    # (message, has_project, expected intent, restore step)
    ("undo", True, "restore", "undo"),
    ("please revert that", True, "restore", "undo"),
    ("roll back to the previous version", True, "restore", "undo"),
    ("go back to the last version", True, "restore", "undo"),
    ("元に戻して", True, "restore", "undo"),
    ("前のバージョンに戻して", True, "restore", "undo"),
    ("redo", True, "restore", "redo"),
    ("redo that please", True, "restore", "redo"),
    ("やり直して", True, "restore", "redo"),
    ("やっぱりやり直して", True, "restore", "redo"),
    ("undo", False, "chat", None),  # nothing to restore yet
    ("元に戻して", False, "chat", None),
    ("hello", False, "chat", None),
    ("Hi there!", True, "chat", None),
    ("what can you do?", False, "chat", None),
    ("thanks", True, "chat", None),
    ("Thank you so much", True, "chat", None),
    ("how does this work?", True, "chat", None),
    ("what games can you make?", False, "chat", None),
    ("can you help me?", False, "chat", None),
    ("こんにちは", False, "chat", None),
    ("ありがとう！", True, "chat", None),
    ("何ができるの？", False, "chat", None),
    ("", True, "chat", None),
    ("make me a neon snake game", False, "edit", None),
    ("make it faster", True, "edit", None),
    ("make it red", True, "edit", None),
    ("can you make it slower?", True, "edit", None),
    ("hello! make me a breakout game", False, "edit", None),
    ("thanks, now make it harder", True, "edit", None),
    ("add a timer", True, "edit", None),
    ("bigger paddle please", True, "edit", None),
    ("I want a racing game", False, "edit", None),
    ("ヘビのゲームを作って", False, "edit", None),
    ("もっと速くして", True, "edit", None),
    ("速くしないで", True, "edit", None),
    ("ＭＡＫＥ ＩＴ ＦＡＳＴＥＲ", True, "edit", None),  # full-width input
]
_JA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.mark.parametrize(("message", "has_project", "expected", "step"), CASES)
def test_intent_table(message: str, has_project: bool, expected: str, step: str | None) -> None:
    out = OfflineProvider().intent(message, has_project=has_project)
    assert out["intent"] == expected
    assert out.get("step") == step
    if expected == "chat":
        reply = out["reply"]
        assert 0 < len(reply) <= 400
        assert bool(_JA.search(reply)) == bool(_JA.search(message))  # the user's language
    else:
        assert "reply" not in out


def test_help_reply_lists_the_games_in_the_users_language() -> None:
    en = OfflineProvider().intent("what can you do?", has_project=False)["reply"]
    ja = OfflineProvider().intent("何ができるの？", has_project=False)["reply"]
    assert "Falling Blocks" in en and "Tic-Tac-Toe" in en and "undo" in en
    assert "落ちものパズル" in ja and "三目並べ" in ja and "元に戻して" in ja


def test_undo_without_a_game_says_so() -> None:
    reply = OfflineProvider().intent("undo", has_project=False)["reply"]
    assert "nothing to undo" in reply
