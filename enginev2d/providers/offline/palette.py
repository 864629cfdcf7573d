"""Named palettes, colour words and the little colour arithmetic the planner needs.

A palette is five hex colours plus a glow radius (canvas ``shadowBlur``; 0 = flat).
Colour words ("make it red", "赤") recolour the primary colour, or the background
when the request says so ("black background").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COLOR_KEYS = ("primary", "secondary", "accent", "background", "text")
HEX_RE = re.compile(r"^#[0-9a-f]{6}$")


@dataclass(frozen=True)
class Palette:
    name: str
    primary: str
    secondary: str
    accent: str
    background: str
    text: str
    glow: int = 0
    # Style palettes (neon, pastel...) beat thematic ones (ocean, space...) when a
    # request names both: "a neon space shooter" is neon.
    style: bool = False

    def colors(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in COLOR_KEYS}


PALETTES: dict[str, Palette] = {
    p.name: p
    for p in (
        Palette("classic", "#4ade80", "#16a34a", "#f43f5e", "#0f172a", "#e2e8f0", 0),
        Palette("neon", "#39ff14", "#00e5ff", "#ff2bd6", "#07060f", "#eafffd", 16, True),
        Palette("pastel", "#f9a8d4", "#93c5fd", "#fcd34d", "#fdf4ff", "#4c3a5e", 0, True),
        Palette("retro", "#9bbc0f", "#8bac0f", "#e0f8d0", "#0f380f", "#c4f0c2", 0, True),
        Palette("dark", "#8b5cf6", "#4f46e5", "#f59e0b", "#09090b", "#d4d4d8", 4, True),
        Palette("mono", "#f5f5f5", "#a3a3a3", "#ffffff", "#0a0a0a", "#fafafa", 0, True),
        Palette("candy", "#ff4fa3", "#8b5cf6", "#22d3ee", "#2a0b2e", "#ffe4f3", 6, True),
        Palette("ocean", "#22d3ee", "#0284c7", "#fbbf24", "#03263b", "#e0f7ff", 6),
        Palette("fire", "#ff5a1f", "#b91c1c", "#ffd23f", "#1a0500", "#fff1e0", 12),
        Palette("forest", "#84cc16", "#15803d", "#facc15", "#0c1f10", "#ecfccb", 0),
        Palette("space", "#a78bfa", "#3b82f6", "#f472b6", "#050816", "#e0e7ff", 8),
        Palette("sunset", "#fb7185", "#7c3aed", "#fde047", "#2d1b3d", "#ffe4e6", 4),
    )
}

# (pattern over the lower-cased request, palette name)
PALETTE_WORDS: tuple[tuple[str, str], ...] = (
    (r"\bneon\b|\bcyberpunk\b|\bsynthwave\b|\bglow(?:ing|y)?\b|ネオン|サイバー", "neon"),
    (r"\bpastel\b|\bsoft colou?rs?\b|パステル", "pastel"),
    (r"\bretro\b|\bgame ?boy\b|\b8[- ]?bit\b|\bpixel\b|レトロ|ドット", "retro"),
    (r"\bdark(?: mode| theme)?\b|ダーク|暗い", "dark"),
    (r"\bmono(?:chrome)?\b|\bblack and white\b|\bgr[ae]yscale\b|白黒|モノクロ", "mono"),
    (r"\bcandy\b|\bsweet\b|\bcute\b|キャンディ|かわいい|可愛い", "candy"),
    (r"\bocean\b|\bsea\b|\bunderwater\b|\baqua(?:tic)?\b|海|オーシャン", "ocean"),
    (r"\bfiery\b|\bflames?\b|\blava\b|\binferno\b|\bvolcan(?:o|ic)\b|炎|火", "fire"),
    (r"\bfire (?:theme|themed|colou?rs?|palette|style)\b|\bon fire\b", "fire"),
    (r"\bforest\b|\bjungle\b|\bwoods\b|\bnature\b|森|ジャングル", "forest"),
    (r"\bspace\b|\bgalaxy\b|\bcosmic\b|\bstars?\b|\bstarry\b|宇宙|銀河", "space"),
    (r"\bsunset\b|\bdusk\b|\bvapou?rwave\b|夕焼け|夕日", "sunset"),
)

# Colour word -> (normal, vivid-for-neon) hex.
COLOR_WORDS: dict[str, tuple[str, str]] = {
    "red": ("#ef4444", "#ff2d55"),
    "blue": ("#3b82f6", "#2d7dff"),
    "green": ("#22c55e", "#39ff14"),
    "yellow": ("#facc15", "#faff00"),
    "orange": ("#fb923c", "#ff8a00"),
    "purple": ("#a855f7", "#b026ff"),
    "pink": ("#ec4899", "#ff2bd6"),
    "cyan": ("#22d3ee", "#00f0ff"),
    "white": ("#f8fafc", "#ffffff"),
    "black": ("#111827", "#1a1a2e"),
    "gold": ("#fbbf24", "#ffd700"),
    "silver": ("#cbd5e1", "#e5e7eb"),
    "brown": ("#a16207", "#c2410c"),
}

# (pattern over the lower-cased request, colour word). Japanese single-kanji colours
# need guards: 面白い is "interesting", 赤ちゃん "baby", お金 "money".
COLOR_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\b(?:red|crimson|scarlet)\b|赤(?!ちゃん)|レッド", "red"),
    (r"\b(?:blue|navy)\b|青|ブルー", "blue"),
    (r"\b(?:green|lime|emerald)\b|緑|グリーン", "green"),
    (r"\byellow\b|黄色|イエロー", "yellow"),
    (r"\borange\b|オレンジ", "orange"),
    (r"\b(?:purple|violet)\b|紫|パープル", "purple"),
    (r"\b(?:pink|magenta)\b|ピンク", "pink"),
    (r"\b(?:cyan|aqua|turquoise|teal)\b|水色", "cyan"),
    (r"\bwhite\b|(?<!面)白(?!黒)|ホワイト", "white"),
    (r"\bblack\b|(?<!白)黒|ブラック", "black"),
    (r"\b(?:gold|golden)\b|金色|ゴールド", "gold"),
    (r"\b(?:silver|gr[ae]y)\b|銀色|灰色|グレー", "silver"),
    (r"\bbrown\b|茶色", "brown"),
)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def mix(a: str, b: str, t: float) -> str:
    """``a`` moved ``t`` (0..1) of the way towards ``b``."""
    ra, rb = _rgb(a), _rgb(b)
    return _hex(tuple(x + (y - x) * t for x, y in zip(ra, rb, strict=True)))


def rgb(hex_color: str) -> tuple[int, int, int]:
    return _rgb(hex_color)


def luminance(hex_color: str) -> float:
    """WCAG relative luminance."""

    def chan(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = _rgb(hex_color)
    return 0.2126 * chan(r) + 0.7152 * chan(g) + 0.0722 * chan(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def color_word_hex(word: str, palette: str) -> str:
    """The hex for a colour word, tuned to the palette (vivid for neon, soft for pastel)."""
    normal, vivid = COLOR_WORDS[word]
    if palette == "neon":
        return vivid
    if palette == "pastel":
        return mix(normal, "#ffffff", 0.45)
    return normal


def recolor_primary(colors: dict[str, str], hex_color: str) -> dict[str, str]:
    """New primary plus a matching secondary, kept readable on the background."""
    out = dict(colors)
    out["primary"] = hex_color
    dark_bg = luminance(out["background"]) < 0.3
    out["secondary"] = mix(hex_color, "#000000" if dark_bg else "#ffffff", 0.35)
    if contrast(hex_color, out["background"]) < 1.8:
        # e.g. "make it black" on a dark background: flip the background.
        out["background"] = "#f1f5f9" if dark_bg else "#0f172a"
        out["text"] = "#0f172a" if dark_bg else "#f1f5f9"
    return out


def recolor_background(colors: dict[str, str], word: str) -> dict[str, str]:
    """A background in the named colour: deep shades for saturated colours."""
    out = dict(colors)
    if word == "white":
        bg = "#f8fafc"
    elif word == "black":
        bg = "#000000"
    else:
        bg = mix(COLOR_WORDS[word][0], "#000000", 0.62)
    out["background"] = bg
    out["text"] = "#0f172a" if luminance(bg) > 0.4 else "#f8fafc"
    if contrast(out["primary"], bg) < 1.8:
        out["primary"] = mix(out["primary"], out["text"], 0.6)
    return out


def valid_colors(value: object) -> dict[str, str] | None:
    """``value`` if it is a complete ``{key: "#rrggbb"}`` colour map, else None."""
    if not isinstance(value, dict):
        return None
    out: dict[str, str] = {}
    for key in COLOR_KEYS:
        v = value.get(key)
        if not isinstance(v, str) or not HEX_RE.match(v.lower()):
            return None
        out[key] = v.lower()
    return out
