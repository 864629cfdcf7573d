"""Intent detection by rules: restore, chat or edit (design 7.3, ``intent`` task).

Order matters: a restore request wins (when there is something to restore), then
anything naming a game or a change is an edit, then greetings, thanks and
questions are chat; whatever is left is an edit (design: a new game is an edit of
an empty project).
"""

from __future__ import annotations

import re

from .request import has_change_words, normalize

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
    r"|減らして|大きく|小さく|にして|消して|削除|入れて",
)
_GREETING = (
    r"^(?:hi|hello|hey|yo|hiya|howdy|greetings|good (?:morning|afternoon|evening|night))\b",
    r"^(?:thanks|thank you|thx|ty|cheers|great|cool|nice|awesome|wow|ok|okay|lol|bye|goodbye"
    r"|see you|perfect|love it|i love it)\b",
    r"^(?:こんにちは|こんばんは|おはよう|ありがとう|どうも|よろしく|さようなら|すごい|いいね|了解)",
    r"^(?:help|\?)$",
)
_QUESTION_START = (
    r"^(?:what|which|who|whom|whose|why|where|when|how|is|are|am|was|were|do|does|did"
    r"|can you tell|could you tell|tell me|explain)\b",
)
_QUESTION_JA = r"(?:とは|って何|ですか|なに|何|どう|教えて|できる)[？?]?$"


def _matches(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.search(p, text) for p in patterns)


def classify_intent(message: str, *, has_project: bool) -> str:
    text = normalize(message)
    if not text:
        return "chat"
    if _matches(_RESTORE, text):
        # Nothing to restore without a project: answer in chat instead.
        return "restore" if has_project else "chat"
    names_change = has_change_words(text)
    # Questions are chat unless they name something to change ("can you make it red?").
    is_question = (
        text.endswith("?") or _matches(_QUESTION_START, text) or bool(re.search(_QUESTION_JA, text))
    )
    if names_change:
        return "edit"
    if is_question and not re.match(r"^(?:can|could|would|will) you\b", text):
        return "chat"
    if _matches(_GREETING, text) and not _matches(_EDIT_VERBS, text):
        return "chat"
    if is_question and not _matches(_EDIT_VERBS, text):
        return "chat"
    return "edit"
