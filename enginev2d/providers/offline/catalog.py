"""The offline templates: what each game is called, which sprites it draws, its words.

Each template's own code lives in ``templates/<id>/game.js``; what all games share is in
``templates/_common/``: index.html and style.css (sized by ``Template.canvas``) and
runtime.js, inlined into game.js.
A sprite's *role* is both the key the game looks it up by (``SPRITES.<role>``) and
the stem of its image file: ``assets/<role>.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

TEMPLATE_FILES = ("index.html", "game.js", "style.css")
RUNTIME_PATH = "_common/runtime.js"
SHARED_FILES = frozenset({"index.html", "style.css"})  # one copy in _common/, tokens fill the rest
ASSET_DIR = "assets"


@dataclass(frozen=True)
class SpriteSpec:
    role: str
    width: int
    height: int
    description: str  # subject of the image prompt

    @property
    def path(self) -> str:
        return f"{ASSET_DIR}/{self.role}.png"


@dataclass(frozen=True)
class Template:
    id: str
    name: str  # display name, used in titles: "Neon Snake"
    default_palette: str
    canvas: tuple[int, int]
    sprites: tuple[SpriteSpec, ...]
    skills: tuple[str, ...]
    controls: str
    # (pattern, weight): regexes over the lower-cased request. Weights pick between
    # templates when a request names several ("a space runner" is a runner).
    words: tuple[tuple[str, int], ...]


_BASE_SKILLS = (
    "html5-canvas",
    "game-loop",
    "keyboard-input",
    "touch-input",
    "sprite-assets",
    "score-hud",
    "game-over-restart",
)

TEMPLATES: dict[str, Template] = {
    t.id: t
    for t in (
        Template(
            id="snake",
            name="Snake",
            default_palette="classic",
            canvas=(480, 520),
            sprites=(
                SpriteSpec("head", 48, 48, "snake head seen from above, facing right"),
                SpriteSpec("food", 48, 48, "round glowing fruit pickup"),
            ),
            skills=(*_BASE_SKILLS, "grid-movement", "swipe-controls"),
            controls="Arrows / WASD or swipe to steer · Space or tap to start · P to pause",
            words=(
                (r"\bsnakes?\b", 5),
                (r"\bserpents?\b", 4),
                (r"\bworms?\b", 3),
                (r"\bnibbles\b", 4),
                (r"\bslither", 3),
                (r"ヘビ|へび|蛇|スネーク", 5),
            ),
        ),
        Template(
            id="breakout",
            name="Breakout",
            default_palette="ocean",
            canvas=(480, 640),
            sprites=(
                SpriteSpec("paddle", 128, 24, "rounded paddle bar"),
                SpriteSpec("ball", 32, 32, "shiny ball"),
                SpriteSpec("brick", 64, 24, "beveled brick block"),
            ),
            skills=(*_BASE_SKILLS, "ball-physics", "collision-aabb", "levels"),
            controls="Mouse, drag or Arrows / A D to move · Space or tap to launch · P to pause",
            words=(
                (r"\bbreak ?out\b", 5),
                (r"\bbricks?\b", 4),
                (r"\bbrick ?breaker\b", 5),
                (r"\bblock ?breaker\b", 5),
                (r"\barkanoid\b", 5),
                (r"\bpaddles?\b", 3),
                (r"\bpong\b", 3),
                (r"ブロック崩し|ブロックくずし|ブロック", 5),
            ),
        ),
        Template(
            id="shooter",
            name="Space Shooter",
            default_palette="space",
            canvas=(480, 640),
            sprites=(
                SpriteSpec("ship", 64, 64, "player spaceship seen from above, nose up"),
                SpriteSpec("enemy", 64, 48, "pixel-art alien invader"),
                SpriteSpec("laser", 16, 32, "glowing laser bolt"),
                SpriteSpec("powerup", 40, 40, "power-up capsule with a star"),
            ),
            skills=(*_BASE_SKILLS, "projectiles", "enemy-waves", "particles", "power-ups"),
            controls="Arrows / WASD, mouse or drag to fly · auto-fire · Space or tap to start",
            words=(
                (r"\bshooters?\b", 5),
                (r"\bshoot(?:ing|'?em[ -]?up)?\b", 4),
                (r"\bshmup\b", 5),
                (r"\binvaders?\b", 5),
                (r"\baliens?\b", 3),
                (r"\bgalaga\b", 5),
                (r"\basteroids?\b", 3),
                (r"\bspace ?ships?\b", 3),
                (r"\bufos?\b", 3),
                (r"\blasers?\b", 2),
                (r"\bbullet ?hell\b", 5),
                (r"\bspace\b", 2),
                (r"シューティング|シューター|インベーダー|撃つ", 5),
                (r"宇宙", 2),
            ),
        ),
        Template(
            id="runner",
            name="Runner",
            default_palette="sunset",
            canvas=(640, 360),
            sprites=(
                SpriteSpec("hero", 48, 56, "cute square hero character, side view, facing right"),
                SpriteSpec("obstacle", 48, 64, "spiky crate obstacle"),
                SpriteSpec("coin", 32, 32, "spinning gold coin"),
            ),
            skills=(*_BASE_SKILLS, "gravity-jump", "double-jump", "endless-scrolling"),
            controls="Space / Up / tap to jump (twice to double jump) · Down to drop · P to pause",
            words=(
                (r"\brunners?\b", 5),
                (r"\bendless\b", 3),
                (r"\bplatform(?:er|ing)?s?\b", 5),
                (r"\bjump(?:ing|er)?\b", 3),
                (r"\bdino(?:saur)?\b", 4),
                (r"\bparkour\b", 4),
                (r"\bhop(?:ping)?\b", 2),
                (r"\bobstacles?\b", 2),
                (r"\brun(?:ning)?\b", 2),
                (r"\bmario\b", 4),
                (r"ランナー|ジャンプ|走る|アクション|横スクロール", 5),
            ),
        ),
        Template(
            id="clicker",
            name="Orb Clicker",
            default_palette="candy",
            canvas=(480, 640),
            sprites=(
                SpriteSpec("orb", 128, 128, "big glossy clickable orb"),
                SpriteSpec("bonus", 64, 64, "golden bonus star"),
            ),
            skills=(*_BASE_SKILLS, "upgrades-economy", "timed-round"),
            controls="Click / tap / Space the orb · 1 and 2 buy upgrades · B grabs the bonus",
            words=(
                (r"\bclickers?\b", 5),
                (r"\bidle\b", 5),
                (r"\bcookies?\b", 4),
                (r"\bincremental\b", 5),
                (r"\btapp(?:er|ing)\b", 4),
                (r"\bclick(?:ing)?\b", 2),
                (r"\btap\b", 2),
                (r"クリッカー|クリック|放置|クッキー|タップ", 5),
            ),
        ),
    )
}

TEMPLATE_IDS: tuple[str, ...] = tuple(TEMPLATES)
DEFAULT_TEMPLATE = "snake"

# Names other planners (or people) use for the same games.
TEMPLATE_ALIASES: dict[str, str] = {
    "snake": "snake",
    "breakout": "breakout",
    "brick": "breakout",
    "bricks": "breakout",
    "brick-breaker": "breakout",
    "arkanoid": "breakout",
    "shooter": "shooter",
    "space-shooter": "shooter",
    "shmup": "shooter",
    "invaders": "shooter",
    "runner": "runner",
    "platformer": "runner",
    "endless-runner": "runner",
    "jump": "runner",
    "clicker": "clicker",
    "idle": "clicker",
    "cookie": "clicker",
}


def normalize_template_id(value: object) -> str | None:
    """Our id for ``value`` ("Platformer" -> "runner"), or None when unknown."""
    if not isinstance(value, str):
        return None
    key = value.strip().lower().replace("_", "-").replace(" ", "-")
    return TEMPLATE_ALIASES.get(key)


@cache
def template_source(template_id: str, filename: str) -> str:
    """The raw (unsubstituted) text of one template file; files every template shares
    (the stylesheet) live in ``templates/_common/``."""
    root = resources.files(__package__).joinpath("templates")
    folder = "_common" if filename in SHARED_FILES else template_id
    return root.joinpath(folder).joinpath(filename).read_text(encoding="utf-8")


@cache
def runtime_source() -> str:
    root = resources.files(__package__).joinpath("templates")
    folder, name = RUNTIME_PATH.split("/")
    return root.joinpath(folder).joinpath(name).read_text(encoding="utf-8")
