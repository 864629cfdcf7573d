"""What a user sees early and for chat, through the real runner and the offline
provider: a chat message ends with a short reply in the message's language, and an edit
shows a playable preview (the template with the plan's settings) before codegen ends."""

from __future__ import annotations

from typing import Any

import pytest

from enginev2d.worker import JobRunner
from tests.integration.test_scheduler_support import events, job_row


@pytest.mark.parametrize(
    ("message", "japanese"), [("what can you do?", False), ("ありがとう！", True)]
)
def test_chat_ends_with_a_reply_in_the_message_language(
    conn: Any, config: Any, pool: Any, make_job: Any, message: str, japanese: bool
) -> None:
    job = make_job(message)
    assert JobRunner(config, pool, job_row(conn, job), owner=None).run().status == "succeeded"
    result = job_row(conn, job)["result"]
    assert result["type"] == "chat" and result["reply"].strip()
    has_kana = any("\u3040" <= ch <= "\u30ff" for ch in result["reply"])
    assert has_kana is japanese, result["reply"]


def test_an_edit_shows_a_playable_preview_before_codegen_ends(
    conn: Any, config: Any, pool: Any, make_job: Any
) -> None:
    job = make_job("ブロック崩しを作って")
    assert JobRunner(config, pool, job_row(conn, job), owner=None).run().status == "succeeded"
    ev = events(conn, job)
    kinds = [(e["event_type"], e["data"].get("task_key")) for e in ev]
    preview = [e for e in ev if e["data"].get("stage") == "preview"]
    assert len(preview) == 1 and preview[0]["event_type"] == "partialResult"
    assert preview[0]["data"]["task_key"] == "plan" and preview[0]["data"]["ref"] == "inline"
    files = {f["path"]: f["content"] for f in preview[0]["data"]["files"]}
    assert "index.html" in files and 'lang="ja"' in files["index.html"]
    assert ev.index(preview[0]) < kinds.index(("taskDone", "codegen"))
    assert ev.index(preview[0]) < kinds.index(("taskDone", "plan"))


def test_the_preview_can_be_switched_off(conn: Any, config: Any, pool: Any, make_job: Any) -> None:
    job = make_job("make me a neon snake game")
    cfg = config.replace(engine={"preview": False})
    assert JobRunner(cfg, pool, job_row(conn, job), owner=None).run().status == "succeeded"
    assert not [e for e in events(conn, job) if e["data"].get("stage") == "preview"]
