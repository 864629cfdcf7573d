"""What a user's message asks for, read with word lists (English and some Japanese).

:func:`parse_request` turns "make it a lot faster and red" into a :class:`Request`;
the planner applies that to a game's settings. Nothing here guesses beyond the words:
a request that names no speed leaves the speed alone.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .catalog import TEMPLATES
from .palette import COLOR_PATTERNS, PALETTE_WORDS, PALETTES

SPEED_MIN, SPEED_MAX, SPEED_DEFAULT = 1, 10, 5
DIFFICULTIES = ("easy", "normal", "hard")

_SPEED_ABS = re.compile(r"\bspeed(?:\s+(?:to|of|at|=|:))?\s*(\d{1,2})\b|スピード\s*(\d{1,2})")
_SPEED_UP_BIG = (
    r"\b(?:much|way|a lot|lots|far|even|so much) (?:faster|quicker)\b",
    r"\b(?:super|very|really|extremely|insanely|crazy|ultra) (?:fast|quick)\b",
    r"\b(?:turbo|lightning|blazing|hyper)\b",
    r"めっちゃ(?:速|早|はや)|すごく(?:速|早|はや)|超(?:速|高速)|爆速",
)
_SPEED_UP = (
    r"\b(?:faster|quicker|speedier|speed (?:it )?up|more speed|increase (?:the )?speed)\b",
    r"\b(?:fast|quick|rapid|speedy)\b",
    r"速く|早く|はやく|速い|早い|スピードアップ|高速|加速",
)
_SPEED_DOWN_BIG = (
    r"\b(?:much|way|a lot|lots|far|even|so much) slower\b",
    r"\b(?:super|very|really|extremely) slow\b",
    r"すごく(?:遅|ゆっくり)|めっちゃ(?:遅|ゆっくり)|超(?:遅|低速)",
)
_SPEED_DOWN = (
    r"\b(?:slower|slow (?:it )?down|less fast|decrease (?:the )?speed|reduce (?:the )?speed)\b",
    r"\b(?:slow|relaxed|chill|calm)\b",
    r"遅く|おそく|ゆっくり|遅い|低速|スローに",
)
_HARDER = (
    r"\b(?:harder|more difficult|more challenging|tougher|less easy)\b",
    r"難しく|むずかしく|ハードに",
)
_EASIER = (
    r"\b(?:easier|less difficult|less hard|simpler to play|more forgiving)\b",
    r"簡単に|かんたんに|易しく|やさしく",
)
_HARD = (
    r"\b(?:hard|difficult|challenging|brutal|insane|expert|hardcore)(?: mode)?\b",
    r"難しい|むずかしい|ハード|鬼畜",
)
_EASY = (
    r"\b(?:easy|casual|beginners?|relaxing|for kids|kid[- ]friendly)(?: mode)?\b",
    r"簡単な|かんたんな|初心者|イージー",
)
_NORMAL = (r"\b(?:normal|medium|standard) (?:difficulty|mode)\b", r"ノーマル|普通の難易度")

_SWITCH = (
    r"\binstead\b",
    r"\b(?:switch|change|turn|convert|transform) (?:it |this |the game )?(?:in)?to\b",
    r"\b(?:a |an )?(?:new|different|another|fresh) game\b",
    r"\bfrom scratch\b",
    r"\bmake (?:it |this )?(?:a|an) (?:\w+ )?(?:game|one)\b",
    r"に変えて|に変更|に作り直|新しいゲーム|別のゲーム",
)

_QUOTED_TITLE = re.compile(
    r"(?:called|named|titled|title(?:d)?(?: it)?(?: to)?|rename(?: it)?(?: to)?|name(?: it)?)"
    r"\s*[:\-]?\s*[\"“'「『]([^\"”'」』]{1,60})[\"”'」』]",
    re.IGNORECASE,
)
_BARE_TITLE = re.compile(
    r"(?:called|named|titled|rename(?: it)? to)\s+([^\s\"'.,!?;:][^.,!?;:\n]{0,59}?)"
    r"(?=$|[.,!?;:\n]| with | and | that | where | which | in )",
    re.IGNORECASE,
)
_JA_TITLE = re.compile(r"(?:タイトル|名前)(?:は|を)?\s*「([^」]{1,60})」|「([^」]{1,60})」という")


@dataclass(frozen=True)
class Request:
    """The changes a message asks for; ``None``/0 means "not mentioned"."""

    template_scores: tuple[tuple[str, int, int], ...] = ()  # (id, score, first position)
    palette: str | None = None
    primary_word: str | None = None
    background_word: str | None = None
    speed_abs: int | None = None
    speed_delta: int = 0
    difficulty_abs: str | None = None
    difficulty_delta: int = 0
    title: str | None = None
    switch: bool = False

    @property
    def template(self) -> str | None:
        """The template the words point to most, ties to the one named first."""
        if not self.template_scores:
            return None
        return min(self.template_scores, key=lambda t: (-t[1], t[2], t[0]))[0]


def normalize(message: str) -> str:
    """NFKC (full-width ASCII to ASCII), lower case, single spaces."""
    text = unicodedata.normalize("NFKC", message or "")
    return " ".join(text.lower().split())


def _first(patterns: tuple[str, ...], text: str) -> int | None:
    """Position of the earliest match of any pattern, or None."""
    hits = [m.start() for p in patterns for m in [re.search(p, text)] if m]
    return min(hits) if hits else None


def _any(patterns: tuple[str, ...], text: str) -> bool:
    return _first(patterns, text) is not None


def template_scores(text: str) -> tuple[tuple[str, int, int], ...]:
    out = []
    for tid, template in TEMPLATES.items():
        score, first = 0, len(text)
        for pattern, weight in template.words:
            matches = list(re.finditer(pattern, text))
            if matches:
                score += weight
                first = min(first, matches[0].start())
        if score:
            out.append((tid, score, first))
    return tuple(out)


def _palette(text: str) -> str | None:
    found: list[tuple[int, int, str]] = []  # (style rank, -position, name)
    for pattern, name in PALETTE_WORDS:
        for m in re.finditer(pattern, text):
            found.append((1 if PALETTES[name].style else 0, m.start(), name))
    if not found:
        return None
    # Style palettes beat thematic ones; among equals the last mentioned wins.
    return max(found)[2]


_BG_WORD = r"(?:background|bg|backdrop|背景)"


def _colors(text: str) -> tuple[str | None, str | None]:
    """(primary colour word, background colour word)."""
    primary: tuple[int, str] | None = None
    background: tuple[int, str] | None = None
    for pattern, word in COLOR_PATTERNS:
        for m in re.finditer(pattern, text):
            before = text[max(0, m.start() - 30) : m.start()]
            after = text[m.end() : m.end() + 14]
            is_bg = bool(
                re.match(r"\s*(?:colou?red\s+)?" + _BG_WORD, after)
                or re.search(
                    _BG_WORD
                    + r"(?:\s+(?:colou?r))?\s*(?:to|into|is|=|:|を|は|の色を)?\s*(?:be\s+)?$",
                    before,
                )
            )
            if is_bg:
                if background is None or m.start() > background[0]:
                    background = (m.start(), word)
            elif primary is None or m.start() > primary[0]:
                primary = (m.start(), word)
    return (primary[1] if primary else None, background[1] if background else None)


def _speed(text: str) -> tuple[int | None, int]:
    m = _SPEED_ABS.search(text)
    if m:
        value = int(m.group(1) or m.group(2))
        return max(SPEED_MIN, min(SPEED_MAX, value)), 0
    up_big, up = _any(_SPEED_UP_BIG, text), _any(_SPEED_UP, text)
    down_big, down = _any(_SPEED_DOWN_BIG, text), _any(_SPEED_DOWN, text)
    delta = (3 if up_big else 2 if up else 0) - (3 if down_big else 2 if down else 0)
    return None, delta


def _difficulty(text: str) -> tuple[str | None, int]:
    delta = (1 if _any(_HARDER, text) else 0) - (1 if _any(_EASIER, text) else 0)
    if delta:
        return None, delta
    hard, easy, normal = _first(_HARD, text), _first(_EASY, text), _first(_NORMAL, text)
    named = [
        (p, d) for p, d in ((hard, "hard"), (easy, "easy"), (normal, "normal")) if p is not None
    ]
    if not named:
        return None, 0
    return max(named)[1], 0  # the last one named


def clean_title(raw: str) -> str | None:
    """A safe one-line title: no control characters, at most 40 characters."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = " ".join(text.split()).strip(" -:")
    if not text:
        return None
    return text[:40].rstrip()


def _title(message: str) -> str | None:
    text = unicodedata.normalize("NFKC", message or "")
    for regex in (_QUOTED_TITLE, _JA_TITLE):
        m = regex.search(text)
        if m:
            start, end = m.span(m.lastindex or 1)
            return clean_title(text[start:end])
    m = _BARE_TITLE.search(text)
    if m:
        return clean_title(m.group(1))
    return None


def parse_request(message: str) -> Request:
    text = normalize(message)
    speed_abs, speed_delta = _speed(text)
    difficulty_abs, difficulty_delta = _difficulty(text)
    primary, background = _colors(text)
    return Request(
        template_scores=template_scores(text),
        palette=_palette(text),
        primary_word=primary,
        background_word=background,
        speed_abs=speed_abs,
        speed_delta=speed_delta,
        difficulty_abs=difficulty_abs,
        difficulty_delta=difficulty_delta,
        title=_title(message),
        switch=_any(_SWITCH, text),
    )


def has_change_words(text: str) -> bool:
    """Whether a normalised message names anything this provider can change."""
    r = parse_request(text)
    return bool(
        r.template_scores
        or r.palette
        or r.primary_word
        or r.background_word
        or r.speed_abs is not None
        or r.speed_delta
        or r.difficulty_abs
        or r.difficulty_delta
        or r.title
    )
