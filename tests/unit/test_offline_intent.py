"""Intent classification table: restore, chat or edit, in English and Japanese."""

from __future__ import annotations

import pytest

from enginev2d.providers.offline import OfflineProvider

CASES = [
    # (message, has_project, expected)
    ("undo", True, "restore"),
    ("please revert that", True, "restore"),
    ("roll back to the previous version", True, "restore"),
    ("go back to the last version", True, "restore"),
    ("元に戻して", True, "restore"),
    ("前のバージョンに戻して", True, "restore"),
    ("undo", False, "chat"),  # nothing to restore yet
    ("元に戻して", False, "chat"),
    ("hello", False, "chat"),
    ("Hi there!", True, "chat"),
    ("what can you do?", False, "chat"),
    ("thanks", True, "chat"),
    ("Thank you so much", True, "chat"),
    ("how does this work?", True, "chat"),
    ("what games can you make?", False, "chat"),
    ("can you help me?", False, "chat"),
    ("こんにちは", False, "chat"),
    ("ありがとう", True, "chat"),
    ("何ができるの？", False, "chat"),
    ("", True, "chat"),
    ("make me a neon snake game", False, "edit"),
    ("make it faster", True, "edit"),
    ("make it red", True, "edit"),
    ("can you make it slower?", True, "edit"),
    ("hello! make me a breakout game", False, "edit"),
    ("thanks, now make it harder", True, "edit"),
    ("add a timer", True, "edit"),
    ("bigger paddle please", True, "edit"),
    ("I want a racing game", False, "edit"),
    ("ヘビのゲームを作って", False, "edit"),
    ("もっと速くして", True, "edit"),
    ("ＭＡＫＥ ＩＴ ＦＡＳＴＥＲ", True, "edit"),  # full-width input
]


@pytest.mark.parametrize(("message", "has_project", "expected"), CASES)
def test_intent_table(message: str, has_project: bool, expected: str) -> None:
    assert OfflineProvider().intent(message, has_project=has_project) == {"intent": expected}
