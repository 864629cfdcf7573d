"""Which template a request names: keyword scores from the manifests (English and Japanese),
genres that have no template (and the template closest to each), and named subjects.

Text is compared after :func:`normalize` (NFKC, lower case, single spaces). English words
match whole words, with an optional plural; Japanese words match as substrings.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from .library import Near, catalogue, common

GENRE_WEIGHT = 5  # a keyword this heavy names the genre itself ("snake", "テトリス")


def normalize(message: str | None) -> str:
    """NFKC (full-width ASCII to ASCII), lower case, single spaces."""
    text = unicodedata.normalize("NFKC", message or "")
    return " ".join(text.lower().split())


@cache
def word_pattern(word: str) -> re.Pattern[str]:
    """A compiled pattern for one keyword: whole English words, Japanese substrings."""
    w = normalize(word)
    if re.search(r"[a-z0-9]", w) and not re.search(r"[\u3040-\u9fff]", w):
        body = r"[\s-]*".join(re.escape(part) for part in re.split(r"[\s-]+", w))
        return re.compile(r"(?<![a-z0-9])" + body + r"(?:e?s)?(?![a-z0-9])")
    return re.compile(re.escape(w))


def first_match(words: tuple[str, ...] | list[str], text: str) -> int | None:
    hits = [m.start() for w in words for m in [word_pattern(w).search(text)] if m]
    return min(hits) if hits else None


@dataclass(frozen=True)
class Score:
    template_id: str
    score: int  # sum of the weights of the keywords found
    top: int  # the heaviest keyword found (GENRE_WEIGHT: the genre is named)
    first: int  # where the first keyword starts


def template_scores(text: str) -> tuple[Score, ...]:
    """Every template a normalised text points at, best first (ties: named first)."""
    out = []
    for tid, m in catalogue().items():
        score, top, first = 0, 0, len(text)
        for words in m.keywords.values():
            for word, weight in words.items():
                found = word_pattern(word).search(text)
                if found:
                    score += weight
                    top = max(top, weight)
                    first = min(first, found.start())
        if score:
            out.append(Score(tid, score, top, first))
    return tuple(sorted(out, key=lambda s: (-s.score, s.first, s.template_id)))


def near_genre(text: str) -> tuple[Near, int] | None:
    """A genre without a template that the text names, and where, if any."""
    found = []
    for near in common().near:
        pos = first_match([w for words in near.words.values() for w in words], text)
        if pos is not None:
            found.append((pos, near))
    if not found:
        return None
    pos, near = min(found, key=lambda f: f[0])
    return near, pos


def subjects_in(text: str) -> list[tuple[int, int, str]]:
    """(start, end, subject id) for every subject named, in order of appearance."""
    out = []
    for sid, subject in common().subjects.items():
        for words in subject.words.values():
            for word in words:
                for m in word_pattern(word).finditer(text):
                    out.append((m.start(), m.end(), sid))
    out.sort()
    kept: list[tuple[int, int, str]] = []
    for start, end, sid in out:  # overlapping names ("race car" / "car"): the first, longest
        if kept and start < kept[-1][1]:
            if end - start > kept[-1][1] - kept[-1][0] and start == kept[-1][0]:
                kept[-1] = (start, end, sid)
            continue
        kept.append((start, end, sid))
    return kept
