"""Intent by rules (design 7.3, ``intent``): restore (undo or redo), chat (with a reply), edit.

Order matters: a restore request wins (when there is something to restore), then anything
naming a game or a change is an edit, then greetings, thanks and questions are chat;
whatever is left is an edit (design: a new game is an edit of an empty project). A chat
gets a short helpful reply in the message's language.
"""

from __future__ import annotations

import re
from typing import Any

from ...templates import catalogue, detect_language, normalize, pick
from .request import parse_request

_REDO = (
    r"\bredo\b|\bre-do\b|\bundo (?:the|my|that|your) undo\b|\bgo forward\b|\bstep forward\b"
    r"|\bbring (?:it|that) back\b|\bctrl ?\+? ?(?:y|shift ?\+? ?z)\b"
    r"|やり直|やりなおし|リドゥ|戻したのを(?:元に)?戻|取り消しを取り消|進めて"
)
_RESTORE = (
    r"\b(?:undo|revert|rollback|roll (?:it )?back|restore|go back|put it back)\b",
    r"\b(?:previous|last|earlier|older|old) version\b",
    r"\bback to (?:the )?(?:previous|last|old|earlier|original)\b",
    r"\bctrl ?\+? ?z\b",
    r"元に戻|もとに戻|戻して|もどして|前のバージョン|前の状態|取り消|取消|アンドゥ|巻き戻",
)
_EDIT_VERBS = (
    r"\b(?:make|create|build|generate|code|write|design|add|remove|delete|change|turn"
    r"|replace|fix|improve|increase|decrease|reduce|set|use|give|put|move|adjust"
    r"|update|modify|rename|tweak|enlarge|shrink|double|halve)\b",
    r"作って|つくって|作成|生成|追加|変更|変えて|かえて|直して|なおして|修正|増やして"
    r"|減らして|大きく|小さく|にして|消して|削除|入れて|つけて|付けて",
)
_GREETING = (
    r"^(?:hi|hello|hey|yo|hiya|howdy|greetings|good (?:morning|afternoon|evening))\b"
    r"|^(?:こんにちは|こんばんは|おはよう|はじめまして|やあ)"
)
_THANKS = (
    r"^(?:thanks|thank you|thx|ty|cheers|great|cool|nice|awesome|wow|ok|okay|lol|perfect"
    r"|love it|i love it)\b|^(?:ありがとう|どうも|サンキュー|すごい|いいね|了解|最高|かわいい)"
)
_BYE = r"^(?:bye|goodbye|see you|good night)\b|^(?:さようなら|またね|おやすみ|バイバイ)"
_HELP = (
    r"\bwhat can you (?:do|make)\b|\bwhat (?:games|kinds?|else)\b|\bhelp\b"
    r"|\bhow does (?:this|it) work\b|\bwho are you\b|^\?$"
    r"|何ができ|なにができ|何を作れ|使い方|ヘルプ|どんなゲーム"
)
_QUESTION_START = (
    r"^(?:what|which|who|whom|whose|why|where|when|how|is|are|am|was|were|do|does|did"
    r"|can you tell|could you tell|tell me|explain)\b"
)
_QUESTION_JA = r"(?:とは|って何|ですか|なに|何|どう|教えて|できる|の？|の\?)[？?]?$"

REPLIES = {
    "en": {
        "hello": 'Hi! I make small games you can play in the browser. Try "make a snake game", '
        '"a cat catches fish" or "a racing game with a starry sky".',
        "thanks": 'You\'re welcome! Tell me if you want another change, or say "undo" to go back.',
        "bye": "Bye! Your game is saved; come back any time to change it.",
        "help": "I can make these games: {genres}. Then I can change the speed, difficulty, "
        'size, colours, background (stars, sky, sea), sound effects or title; "undo" and '
        '"redo" step through your versions.',
        "nothing_to_undo": "There is nothing to undo yet: make a game first, for example "
        '"make a snake game".',
        "other": "I make and change small browser games. Tell me what you would like, for "
        'example "make a platformer" or "make it slower".',
    },
    "ja": {
        "hello": "こんにちは！ブラウザで遊べる小さなゲームを作ります。「スネークゲームを作って」"
        "「猫が魚をキャッチするゲーム」「背景が星空のレースゲーム」のように話しかけてください。",
        "thanks": "どういたしまして！ほかに変えたいところがあれば言ってください。"
        "「元に戻して」で前のバージョンに戻せます。",
        "bye": "またね！ゲームは保存されています。いつでも続きを変えられます。",
        "help": "作れるゲーム：{genres}。作ったあとで、スピード、難易度、大きさ、色、背景"
        "（星空・青空・海）、効果音、タイトルを変えられます。「元に戻して」「やり直して」で"
        "バージョンを行き来できます。",
        "nothing_to_undo": "まだ元に戻せるものがありません。まず「スネークゲームを作って」のように"
        "ゲームを作ってください。",
        "other": "小さなブラウザゲームを作ったり変えたりします。「ジャンプアクションを作って」"
        "「もっとゆっくりにして」のように話しかけてください。",
    },
}


def _any(patterns: tuple[str, ...] | str, text: str) -> bool:
    if isinstance(patterns, str):
        patterns = (patterns,)
    return any(re.search(p, text) for p in patterns)


def restore_step(message: str) -> str | None:
    """``undo``, ``redo`` or None when the message asks for neither."""
    text = normalize(message)
    if _any(_REDO, text):
        return "redo"
    if _any(_RESTORE, text):
        return "undo"
    return None


def reply(message: str, kind: str) -> str:
    """A short helpful chat answer in the message's language."""
    lang = detect_language(message)
    table = REPLIES.get(lang, REPLIES["en"])
    sep = "、" if lang == "ja" else ", "
    genres = sep.join(pick(m.title, lang) for m in catalogue().values())
    return table.get(kind, table["other"]).format(genres=genres)


def _chat_kind(text: str) -> str:
    for kind, pattern in (
        ("help", _HELP),
        ("hello", _GREETING),
        ("thanks", _THANKS),
        ("bye", _BYE),
    ):
        if re.search(pattern, text):
            return kind
    return "other"


def chat_reply(message: str) -> str:
    """The reply to a message treated as chat (for a planner that gave none)."""
    return reply(message, _chat_kind(normalize(message)))


def classify(message: str, *, has_project: bool) -> dict[str, Any]:
    """``{"intent": ..., "reply"?: ..., "step"?: ...}`` for one message."""
    text = normalize(message)
    if not text:
        return {"intent": "chat", "reply": reply(message, "help")}
    step = restore_step(message)
    if step is not None:
        if has_project:
            return {"intent": "restore", "step": step}
        return {"intent": "chat", "reply": reply(message, "nothing_to_undo")}
    names_change = parse_request(text).names_anything()
    is_question = (
        text.endswith("?")
        or bool(re.search(_QUESTION_START, text))
        or bool(re.search(_QUESTION_JA, text))
    )
    asks_to_do = bool(re.match(r"^(?:can|could|would|will) you\b", text))
    if names_change and not (is_question and not asks_to_do and _any(_HELP, text)):
        return {"intent": "edit"}
    chatty = _any((_GREETING, _THANKS, _BYE, _HELP), text)
    if (is_question and not asks_to_do) or (chatty and not _any(_EDIT_VERBS, text)):
        return {"intent": "chat", "reply": reply(message, _chat_kind(text))}
    if is_question and not _any(_EDIT_VERBS, text):
        return {"intent": "chat", "reply": reply(message, _chat_kind(text))}
    return {"intent": "edit"}
