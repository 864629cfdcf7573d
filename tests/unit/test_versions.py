"""Restore summaries (enginev2d.versions) in the request's language."""

from __future__ import annotations

from enginev2d import versions


def test_a_restore_the_history_cannot_place_is_summarised_in_the_request_s_language() -> None:
    commit = "0123456789abcdef0123"
    assert versions.describe_unplaced(commit, "ja") == "バージョン 0123456789ab に戻しました。"
    assert versions.describe_unplaced(commit, "en") == "Restored to version 0123456789ab."
    assert versions.describe_unplaced(commit, "fr") == "Restored to version 0123456789ab."


def test_every_language_has_every_summary() -> None:
    keys = {lang: set(table) for lang, table in versions.SUMMARIES.items()}
    assert keys["ja"] == keys["en"]
