"""What a message asks for, read with word lists in English and Japanese.

:func:`parse_request` turns "it's too fast, and green instead of red" into a
:class:`Request`. It understands directions and their negations ("too fast" means
slower, "don't make it faster" keeps the speed, "速すぎる" 遅く, "速くしないで" keeps it),
colours named to be replaced ("green instead of red", "赤じゃなくて緑"), background themes,
sound, sizes, features the games have or cannot have, titles, subjects ("a cat catches
fish") and the kind of game (the template library's keywords, and genres it lacks).
Text is normalised first (NFKC, lower case); matched phrases are blanked out as they are
used so that "too fast" is not read again as "fast".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from ...templates import (
    common,
    detect_language,
    manifest,
    near_genre,
    normalize,
    template_scores,
)
from ...templates.library import Near
from ...templates.matching import GENRE_WEIGHT, Score, subjects_in, word_pattern
from .palette import COLOR_PATTERNS, PALETTE_WORDS, PALETTES

# ---- directions -------------------------------------------------------------------------

_EN_NEG_BEFORE = re.compile(
    r"\b(?:don'?t|do not|doesn'?t|does not|didn'?t|never|not|no|stop|without|shouldn'?t"
    r"|should not|isn'?t|won'?t|no need to)\b(?:\s+[\w']+){0,3}\s*$"
)
_JA_NEG_AFTER = re.compile(
    r"^(?:に|く)?(?:し|さ|す|せ|なら)?(?:ないで|なくて|なくていい|なくても|ないように|るな|ません|ない|ず)"
)
_EN_MUCH = re.compile(
    r"\b(?:much|way|a lot|lots|far|even|so much|super|very|really|extremely|way way|waaay)\s+$"
)
_EN_BIT = re.compile(r"\b(?:a (?:little )?bit|a little|slightly|a tad|somewhat|just a bit|bit)\s+$")
_JA_MUCH = re.compile(
    r"(?:もっともっと|すごく|すっごく|めっちゃ|めちゃくちゃ|とても|かなり|超|ずっと|はるかに)$"
)
_JA_BIT = re.compile(r"(?:少し|すこし|ちょっと|やや|少しだけ|ちょっとだけ|ちょびっと)$")
# A Japanese adjective at the end of a sentence is a complaint: "速いので" = too fast.
_JA_COMPLAINT_AFTER = re.compile(r"^(?:の?で|から|です|よ|ね|!|！|。|けど|$)")


@dataclass(frozen=True)
class Axis:
    """One numeric setting and the words that move it."""

    name: str
    absolute: tuple[str, ...] = ()  # patterns whose group 1 is the value
    up: tuple[str, ...] = ()  # "faster": more
    down: tuple[str, ...] = ()
    too_much: tuple[str, ...] = ()  # "too fast": less
    too_little: tuple[str, ...] = ()
    up_adj: tuple[str, ...] = ()  # "a fast snake": more (a complaint when it ends a sentence)
    down_adj: tuple[str, ...] = ()
    steps: tuple[int, int, int] = (1, 2, 3)  # delta for a bit / plain / a lot


AXES: tuple[Axis, ...] = (
    Axis(
        "speed",
        absolute=(
            r"\bspeed\s*(?:to|=|:|of|at|level)?\s*(\d{1,2})\b",
            r"\b(\d{1,2})\s*(?:/\s*10\s*)?speed\b",
            r"(?:スピード|速さ|速度)(?:を|は|が)?\s*(\d{1,2})",
        ),
        up=(
            r"\bfaster\b",
            r"\bquicker\b",
            r"\bspeedier\b",
            r"\bspeed (?:it |things )?up\b",
            r"\bmore speed\b",
            r"\b(?:increase|raise) (?:the )?speed\b",
            r"\bhurry\b",
            r"速く|早く|はやく|スピードアップ|加速|速め|早め|高速に",
        ),
        down=(
            r"\bslower\b",
            r"\bslow (?:it |things |the game )?down\b",
            r"\bless fast\b",
            r"\b(?:decrease|reduce|lower) (?:the )?speed\b",
            r"遅く|おそく|ゆっくり|スロー|減速|遅め|低速に",
        ),
        too_much=(
            r"\btoo (?:fast|quick|speedy)\b",
            r"\b(?:it'?s|it is|this is|that'?s|its|is) (?:so |very |really |kind of |quite )?"
            r"(?:fast|quick)\b",
            r"速すぎ|早すぎ|はやすぎ|速過ぎ|早過ぎ",
        ),
        too_little=(
            r"\btoo slow\b",
            r"\b(?:it'?s|it is|this is|that'?s|its|is) (?:so |very |really |kind of |quite )?"
            r"slow\b",
            r"遅すぎ|おそすぎ|遅過ぎ",
        ),
        up_adj=(r"\b(?:fast|quick|rapid|speedy)\b", r"速い|早い|はやい|高速"),
        down_adj=(r"\b(?:slow|relaxed|chill|calm|leisurely)\b", r"遅い|おそい|低速"),
    ),
    Axis(
        "difficulty",
        up=(
            r"\bharder\b",
            r"\bmore (?:difficult|challenging)\b",
            r"\btougher\b",
            r"\bless easy\b",
            r"\bmore enemies\b",
            r"難しく|むずかしく|ハードに|手ごたえ",
        ),
        down=(
            r"\beasier\b",
            r"\bless (?:difficult|hard|challenging)\b",
            r"\bsimpler\b",
            r"\bmore forgiving\b",
            r"簡単に|かんたんに|易しく|やさしく|優しく|イージーに",
        ),
        too_much=(
            r"\btoo (?:hard|difficult|tough|challenging)\b",
            r"\b(?:it'?s|it is|this is|that'?s|its|is) (?:so |very |really |kind of |quite )?"
            r"(?:hard|difficult|tough)\b",
            r"\bi (?:keep|always) (?:dying|losing)\b",
            r"難しすぎ|むずかしすぎ|難し過ぎ|ムズすぎ",
        ),
        too_little=(
            r"\btoo (?:easy|simple)\b",
            r"\b(?:it'?s|it is|this is|that'?s|its|is) (?:so |very |really |kind of |quite )?"
            r"easy\b",
            r"簡単すぎ|かんたんすぎ|易しすぎ|やさしすぎ|簡単過ぎ",
        ),
        steps=(1, 1, 2),
    ),
    Axis(
        "size",
        up=(
            r"\bbigger\b",
            r"\blarger\b",
            r"\benlarge\b",
            r"\bmake (?:the |it |them )?(?:\w+ )?(?:big|large|huge)\b",
            r"\b(?:increase|grow) (?:the )?size\b",
            r"大きく|おおきく|でかく|巨大に|ビッグに",
        ),
        down=(
            r"\bsmaller\b",
            r"\btinier\b",
            r"\bshrink\b",
            r"\bmake (?:the |it |them )?(?:\w+ )?(?:small|tiny)\b",
            r"\b(?:decrease|reduce) (?:the )?size\b",
            r"小さく|ちいさく|ちっちゃく",
        ),
        too_much=(r"\btoo (?:big|large|huge)\b", r"大きすぎ|でかすぎ|大き過ぎ"),
        too_little=(r"\btoo (?:small|tiny)\b", r"小さすぎ|ちいさすぎ|小さ過ぎ"),
        steps=(1, 1, 2),
    ),
    Axis(
        "lives",
        absolute=(r"\b(\d)\s+(?:lives|hearts)\b", r"(?:ライフ|残機)(?:を|は)?\s*(\d)"),
        up=(
            r"\bmore (?:lives|hearts|chances)\b",
            r"\bextra (?:lives|life)\b",
            r"(?:ライフ|残機)を(?:増や|多く)",
        ),
        down=(r"\b(?:fewer|less) (?:lives|hearts)\b", r"(?:ライフ|残機)を(?:減ら|少なく)"),
        steps=(1, 2, 3),
    ),
    Axis(
        "length",
        absolute=(r"\blength\s*(?:to|of|=)?\s*(\d{1,2})\b",),
        up=(r"\blonger\b", r"長く|ながく"),
        down=(r"\bshorter\b", r"短く|みじかく"),
        steps=(1, 2, 4),
    ),
    Axis(
        "points",
        absolute=(
            r"\b(?:first to|play to|up to)\s*(\d{1,2})\b",
            r"\b(\d{1,2})\s*points? to win\b",
            r"(\d{1,2})\s*点(?:先取|で勝)",
        ),
    ),
)

_DIFFICULTY_WORDS = (
    (r"\b(?:easy|casual|beginners?|relaxing|for kids|kid[- ]friendly)(?: mode)?\b", "easy"),
    (r"\b(?:normal|medium|standard) (?:difficulty|mode|level)\b", "normal"),
    (r"\b(?:hard|difficult|challenging|brutal|insane|expert|hardcore)(?: mode)?\b", "hard"),
    (r"イージー|初心者|子供向け|こども向け|子ども向け|簡単な|かんたんな", "easy"),
    (r"ノーマル|普通の難易度|ふつうの難易度", "normal"),
    (r"ハード|鬼畜|難しい|むずかしい|激ムズ", "hard"),
)


@dataclass(frozen=True)
class Change:
    """A requested change of one setting: an absolute value, a step, or "keep it"."""

    absolute: int | str | bool | None = None
    delta: int = 0
    keep: bool = False  # named only to say it should not change ("don't make it faster")


# ---- the other things a request names ----------------------------------------------------

_THEMES: tuple[tuple[str, str, str], ...] = (
    # (theme, words meaning it anywhere, words meaning it when the background is named)
    (
        "stars",
        r"\bstarry(?: sky| night)?\b|\bstar ?field\b|\bnight sky\b|\bstars in the background\b"
        r"|星空|夜空|満天",
        r"\bstars?\b|\bspace\b|\bgalaxy\b|\bnight\b|宇宙|銀河|星|夜",
    ),
    ("sky", r"\bblue sky\b|\bclouds?\b|\bcloudy\b|\bdaytime sky\b|青空|雲", r"\bsky\b|空"),
    (
        "sea",
        r"\bunder ?(?:the )?(?:sea|water|ocean)\b|\bunderwater\b|\bdeep sea\b"
        r"|海の中|海中|水中|深海|海底",
        r"\bsea\b|\bocean\b|\bwaves?\b|\bbeach\b|海|波",
    ),
    (
        "plain",
        r"\b(?:plain|simple|solid|no) background\b|背景なし|背景を?なくして|無地",
        r"\bplain\b|\bsimple\b|\bnothing\b|シンプル|なし",
    ),
)
_BG_CONTEXT = re.compile(r"\b(?:background|bg|backdrop|scenery|setting)\b|背景|バック")
_BG_WORD = r"(?:background|bg|backdrop|背景)"

_SOUND_OFF = (
    r"\bmute(?:d)?\b|\bno sounds?\b|\bwithout (?:the )?sounds?\b|\bsilent\b|\bquiet\b"
    r"|\bturn (?:the )?sounds? off\b|\bturn off (?:the )?sounds?\b|\bsounds? off\b"
    r"|\b(?:disable|remove|stop) (?:the )?sounds?\b"
    r"|音を(?:消|切|止め|オフ|なし)|音なし|無音|ミュート|消音|サウンド(?:なし|を消|オフ)"
)
_SOUND_ON = (
    r"\bsound ?effects?\b|\bsfx\b|\bbeeps?\b|\bsounds?\b|\bunmute\b"
    r"|効果音|音を(?:つけ|付け|出|鳴ら|入れ|追加|オン)|音あり|音が(?:出|鳴|欲し|ほし)|サウンド"
)

_SWITCH = re.compile(
    r"\binstead\b|\b(?:switch|change|turn|convert|transform)\b|\bfrom scratch\b"
    r"|\b(?:a |an )?(?:new|different|another|fresh) game\b"
    r"|に変え|に変更|にかえ|に作り直|作り直|新しいゲーム|別のゲーム"
)
_MAKE = re.compile(
    r"\b(?:make|create|build|generate|design|code|write|give me|i want|i'?d like|let'?s"
    r"|play|need)\b|作って|つくって|作成|作りたい|つくりたい|遊びたい|やりたい|にして|がいい|ほしい|欲しい"
)
_FILLER = re.compile(
    r"\b(?:a|an|the|game|games|please|pls|now|one|it|me|play|let'?s|some|version)\b"
    r"|ゲーム|を|で|が|お願い|ください|して|です|にして|に|の|一つ|ひとつ|[\s!?.,、。！？]"
)

_QUOTED_TITLE = re.compile(
    r"(?:called|named|titled|title(?:d)?(?: it)?(?: to)?|rename(?: it)?(?: to)?|name(?: it)?"
    r"|call it)\s*[:\-]?\s*[\"“'「『]([^\"”'」』]{1,60})[\"”'」』]",
    re.IGNORECASE,
)
_BARE_TITLE = re.compile(
    r"(?:called|named|titled|rename(?: it)? to|call it)\s+([^\s\"'.,!?;:][^.,!?;:\n]{0,59}?)"
    r"(?=$|[.,!?;:\n]| with | and | that | where | which | in )",
    re.IGNORECASE,
)
_JA_TITLE = re.compile(
    r"(?:タイトル|名前)(?:は|を)?\s*「([^」]{1,60})」|「([^」]{1,60})」(?:という|って名前|に改名)"
)

_ITEM_BEFORE_EN = re.compile(
    r"\b(?:catch(?:es|ing)?|eat(?:s|ing)?|collect(?:s|ing)?|grab(?:s|bing)?|gather(?:s|ing)?"
    r"|chas(?:e|es|ing)|hunt(?:s|ing)?|pick(?:s|ing)? up|get(?:s|ting)?)\s+"
    r"(?:the |some |all )?(?:\w+ )?$"
)
_ITEM_AFTER_JA = re.compile(r"^(?:を|たち?を)")


@dataclass(frozen=True)
class Request:
    """Everything a message asks for; empty/None means "not mentioned"."""

    text: str  # normalised message
    language: str
    scores: tuple[Score, ...] = ()  # templates named, best first
    near: Near | None = None  # a genre the library has no template for
    make: bool = False  # "make a ... game", "〜を作って"
    switch: bool = False  # "instead", "turn it into", "〜に変えて"
    only_genre: bool = False  # the message is little more than a genre ("breakout")
    palette: str | None = None
    primary: str | None = None  # colour word
    background_color: str | None = None
    theme: str | None = None  # background theme
    changes: dict[str, Change] = field(default_factory=dict)  # setting -> change
    title: str | None = None
    subject: str | None = None
    item: str | None = None
    features: tuple[str, ...] = ()  # features asked for (added, not removed)
    keep_color: bool = False  # "don't make it red": the colours stay as they are

    @property
    def template(self) -> str | None:
        return self.scores[0].template_id if self.scores else None

    @property
    def genre_named(self) -> str | None:
        """The template whose genre itself is named ("snake", "テトリス"), if any."""
        named = [s for s in self.scores if s.top >= GENRE_WEIGHT]
        return named[0].template_id if named else None

    def names_anything(self) -> bool:
        return bool(
            self.scores
            or self.near
            or self.palette
            or self.primary
            or self.background_color
            or self.theme
            or self.changes
            or self.title
            or self.subject
            or self.item
            or self.features
            or self.keep_color
        )


# ---- helpers --------------------------------------------------------------------------------


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


_CLAUSE_BREAK = re.compile(r"[,.;!?、。！？]|\b(?:and|but|then)\b|けど|ので|から")


def _clause_start(text: str, pos: int) -> int:
    ends = [m.end() for m in _CLAUSE_BREAK.finditer(text[:pos])]
    return ends[-1] if ends else 0


def _clause_end(text: str, pos: int) -> int:
    m = _CLAUSE_BREAK.search(text[pos:])
    return pos + m.start() if m else len(text)


def _negated(text: str, start: int, end: int) -> bool:
    before = text[_clause_start(text, start) : start]
    return bool(_EN_NEG_BEFORE.search(before) or _JA_NEG_AFTER.match(text[end : end + 8]))


def _strength(text: str, start: int) -> int:
    before = text[max(0, start - 24) : start]
    if _EN_MUCH.search(before) or _JA_MUCH.search(before):
        return 3
    if _EN_BIT.search(before) or _JA_BIT.search(before):
        return 1
    return 2


def _find(patterns: tuple[str, ...], text: str) -> Iterator[re.Match[str]]:
    for p in patterns:
        yield from re.finditer(p, text)


# ---- each part ------------------------------------------------------------------------------


def _axis_change(axis: Axis, text: str) -> Change | None:
    """The change the text asks for along one axis; later absolute values win, a plain
    direction keeps its strongest step, "keep" only when nothing else is asked."""
    work = text
    absolute = None
    for m in _find(axis.absolute, work):
        if absolute is None or m.start() >= absolute[0]:
            absolute = (m.start(), int(m.group(1)))
        work = _blank(work, m.start(), m.end())
    if absolute is not None:
        return Change(absolute=absolute[1])
    signals: list[tuple[int, int]] = []  # (position, signed delta)
    keep = False
    groups = (
        (axis.too_much, -1, "complaint"),
        (axis.too_little, +1, "complaint"),
        (axis.up, +1, "verb"),
        (axis.down, -1, "verb"),
        (axis.up_adj, +1, "adjective"),
        (axis.down_adj, -1, "adjective"),
    )
    for patterns, sign, kind in groups:
        for m in list(_find(patterns, work)):
            strength = _strength(work, m.start())
            negated = _negated(work, m.start(), m.end())
            sign_here = sign
            ja_adjective = kind == "adjective" and re.match(r"[\u3040-\u9fff]", m.group(0))
            if ja_adjective and _JA_COMPLAINT_AFTER.match(text[m.end() : m.end() + 4]):
                sign_here = -sign  # "速いので": it is too fast
            if negated and kind == "verb":
                keep = True  # "don't make it faster": leave the speed alone
            elif negated:
                signals.append((m.start(), sign_here * axis.steps[0]))  # "not too fast": a bit
            else:
                signals.append((m.start(), sign_here * axis.steps[strength - 1]))
            work = _blank(work, m.start(), m.end())
    if signals:
        ups = [d for _, d in signals if d > 0]
        downs = [d for _, d in signals if d < 0]
        if ups and downs:  # mixed signals: the last one named wins
            return Change(delta=sorted(signals)[-1][1])
        return Change(delta=max(ups) if ups else min(downs))
    return Change(keep=True) if keep else None


def _difficulty_word(text: str) -> str | None:
    found = []
    work = text
    for axis in AXES:  # complaints and comparatives are not plain adjectives
        if axis.name == "difficulty":
            for m in _find(axis.too_much + axis.too_little + axis.up + axis.down, work):
                work = _blank(work, m.start(), m.end())
    for pattern, level in _DIFFICULTY_WORDS:
        for m in re.finditer(pattern, work):
            if _negated(work, m.start(), m.end()):
                continue
            if re.match(r"[\u3040-\u9fff]", m.group(0)) and _JA_COMPLAINT_AFTER.match(
                work[m.end() : m.end() + 4]
            ):
                continue  # "難しいので...": a complaint, read by the axis
            found.append((m.start(), level))
    return max(found)[1] if found else None


def _settings(text: str) -> dict[str, Change]:
    out: dict[str, Change] = {}
    for axis in AXES:
        change = _axis_change(axis, text)
        if change is not None:
            out[axis.name] = change
    if "difficulty" not in out or out["difficulty"].keep:
        level = _difficulty_word(text)
        if level:
            out["difficulty"] = Change(absolute=level)
    sound = _sound(text)
    if sound is not None:
        out["sound"] = sound
    return out


def _sound(text: str) -> Change | None:
    work = text
    for value, pattern in ((False, _SOUND_OFF), (True, _SOUND_ON)):
        for m in re.finditer(pattern, work):
            work = _blank(work, m.start(), m.end())
            if _negated(text, m.start(), m.end()):
                return Change(keep=True)
            return Change(absolute=value)
    return None


def _themes(text: str) -> tuple[str | None, list[tuple[int, int]]]:
    """The background theme named (the last one) and the spans its words took."""
    found: list[tuple[int, str]] = []
    spans: list[tuple[int, int]] = []
    work = text
    for theme, strong, _ in _THEMES:
        for m in re.finditer(strong, work):
            if not _negated(work, m.start(), m.end()):
                found.append((m.start(), theme))
            spans.append((m.start(), m.end()))
            work = _blank(work, m.start(), m.end())
    for theme, _, generic in _THEMES:
        for m in re.finditer(generic, work):
            lo, hi = _clause_start(work, m.start()), _clause_end(work, m.end())
            if not _BG_CONTEXT.search(text[lo:hi]) or _negated(work, m.start(), m.end()):
                continue
            found.append((m.start(), theme))
            spans.append((m.start(), m.end()))
            work = _blank(work, m.start(), m.end())
    return (max(found)[1] if found else None), spans


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < b and a < end for a, b in spans)


def _palette(text: str, taken: list[tuple[int, int]]) -> str | None:
    found: list[tuple[int, int, str]] = []  # (style rank, position, name)
    for pattern, name in PALETTE_WORDS:
        for m in re.finditer(pattern, text):
            if _overlaps(m.start(), m.end(), taken) or _negated(text, m.start(), m.end()):
                continue
            found.append((1 if PALETTES[name].style else 0, m.start(), name))
    # Style palettes beat thematic ones; among equals the last mentioned wins.
    return max(found)[2] if found else None


_EN_NOT_THIS_COLOR = re.compile(
    r"\b(?:instead of|rather than|not|no|no more|replace|from|except|without)\s+(?:the\s+)?"
    r"(?:colou?r\s+)?$"
)
_EN_FROM_COLOR = re.compile(r"^\s*(?:colou?r\s+)?(?:to|into|->|→)\s")
_JA_NOT_THIS_COLOR = re.compile(
    r"^(?:色)?(?:じゃなくて|じゃなく|ではなく|ではなくて|でなく|の代わりに|のかわりに|をやめて"
    r"|はやめて|以外|から|にしないで|にしなくて)"
)


def _colors(text: str, taken: list[tuple[int, int]]) -> tuple[str | None, str | None, bool]:
    """(primary colour word, background colour word, a colour was refused): the last of each
    that is wanted ("green instead of red" wants green; "don't make it red" wants none)."""
    primary: tuple[int, str] | None = None
    background: tuple[int, str] | None = None
    refused = False
    for pattern, word in COLOR_PATTERNS:
        for m in re.finditer(pattern, text):
            if _overlaps(m.start(), m.end(), taken):
                continue
            before = text[_clause_start(text, m.start()) : m.start()]
            after = text[m.end() : m.end() + 14]
            if _negated(text, m.start(), m.end()):
                refused = True
                continue
            if (
                _EN_NOT_THIS_COLOR.search(text[max(0, m.start() - 30) : m.start()])
                or _EN_FROM_COLOR.match(after)
                or _JA_NOT_THIS_COLOR.match(after)
            ):
                continue
            is_bg = bool(
                re.match(r"\s*(?:colou?red\s+)?(?:の)?" + _BG_WORD, after)
                or re.search(
                    _BG_WORD
                    + r"(?:\s+(?:colou?r))?\s*(?:to|into|is|=|:|を|は|の色を|の色は)?\s*(?:be\s+)?"
                    r"(?:a\s+|an\s+)?$",
                    before,
                )
            )
            if is_bg:
                if background is None or m.start() > background[0]:
                    background = (m.start(), word)
            elif primary is None or m.start() > primary[0]:
                primary = (m.start(), word)
    chosen = (primary[1] if primary else None), (background[1] if background else None)
    return chosen[0], chosen[1], refused and not any(chosen)


def clean_title(raw: str) -> str | None:
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = " ".join(text.split()).strip(" -:")
    return text[:40].rstrip() or None


def _title(message: str) -> tuple[str | None, tuple[int, int] | None]:
    """The title asked for, and where it is in the NFKC text (to keep it from being read
    as anything else)."""
    text = unicodedata.normalize("NFKC", message or "")
    for regex in (_QUOTED_TITLE, _JA_TITLE):
        m = regex.search(text)
        if m:
            group = m.lastindex or 1
            return clean_title(text[m.start(group) : m.end(group)]), (m.start(), m.end())
    m = _BARE_TITLE.search(text)
    if m:
        return clean_title(m.group(1)), (m.start(), m.end())
    return None, None


def _subjects(text: str, taken: list[tuple[int, int]]) -> tuple[str | None, str | None]:
    """(player subject, collected subject): "a cat catches fish" -> (cat, fish)."""
    player = item = None
    for start, end, sid in subjects_in(text):
        if _negated(text, start, end) or _overlaps(start, end, taken):
            continue
        before = text[_clause_start(text, start) : start]
        is_item = bool(_ITEM_BEFORE_EN.search(before) or _ITEM_AFTER_JA.match(text[end:]))
        if is_item and item is None:
            item = sid
        elif not is_item and player is None:
            player = sid
        elif item is None:
            item = sid
    return player, item


def _features(text: str) -> tuple[str, ...]:
    found = []
    for fid, feature in common().features.items():
        for words in feature.words.values():
            for word in words:
                m = word_pattern(word).search(text)
                if m and not _negated(text, m.start(), m.end()):
                    found.append((m.start(), fid))
                    break
            else:
                continue
            break
    return tuple(fid for _, fid in sorted(found))


def parse_request(message: str) -> Request:
    title, title_span = _title(message)
    text = normalize(message)
    if title_span is not None:  # the title's words are not requests ("call it Star Hunter")
        a, b = title_span
        raw = unicodedata.normalize("NFKC", message)
        text = normalize(raw[:a] + " " * (b - a) + raw[b:])
    theme, taken = _themes(text)
    primary, background, keep_color = _colors(text, taken)
    subject, item = _subjects(text, taken)
    scores = template_scores(text)
    near = near_genre(text)
    return Request(
        text=text,
        language=detect_language(message),
        scores=scores,
        near=near[0] if near else None,
        make=bool(_MAKE.search(text)),
        switch=bool(_SWITCH.search(text)),
        only_genre=_only_genre(text, scores),
        palette=_palette(text, taken),
        primary=primary,
        background_color=background,
        theme=theme,
        changes=_settings(text),
        title=title,
        subject=subject,
        item=item,
        features=_features(text),
        keep_color=keep_color,
    )


def _only_genre(text: str, scores: tuple[Score, ...]) -> bool:
    """Whether the message is a genre and filler words only ("breakout", "テトリス")."""
    if not scores or scores[0].top < GENRE_WEIGHT:
        return False
    rest = text
    for words in manifest(scores[0].template_id).keywords.values():
        for word in sorted(words, key=len, reverse=True):
            rest = word_pattern(word).sub(" ", rest)
    return not _FILLER.sub("", rest).strip()
