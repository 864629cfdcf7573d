"""Palettes (from the template library), colour words and the colour arithmetic of edits.

A palette is five hex colours plus a glow radius (canvas ``shadowBlur``; 0 = flat).
Colour words ("make it red", "赤") recolour the primary colour, or the background when
the request says so ("black background").
"""

from __future__ import annotations

from collections.abc import Mapping

from ...templates import common
from ...templates.library import COLOR_KEYS, Palette
from ...templates.render import valid_colors

PALETTES: Mapping[str, Palette] = common().palettes

# (pattern over the normalised request, palette name)
PALETTE_WORDS: tuple[tuple[str, str], ...] = (
    (r"\bneon\b|\bcyberpunk\b|\bsynthwave\b|\bglow(?:ing|y)?\b|ネオン|サイバー", "neon"),
    (r"\bpastel\b|\bsoft colou?rs?\b|パステル", "pastel"),
    (r"\bretro\b|\bgame ?boy\b|\b8[- ]?bit\b|\bpixel\b|レトロ|ドット", "retro"),
    (r"\bdark(?: mode| theme)?\b|ダーク|暗い", "dark"),
    (r"\bmono(?:chrome)?\b|\bblack and white\b|\bgr[ae]yscale\b|白黒|モノクロ", "mono"),
    (r"\bcandy\b|\bsweet\b|\bcute\b|キャンディ|かわいい|可愛い", "candy"),
    (r"\bocean\b|\baqua(?:tic)?\b|オーシャン", "ocean"),
    (r"\bfiery\b|\bflames?\b|\blava\b|\binferno\b|\bvolcan(?:o|ic)\b|炎|火山", "fire"),
    (r"\bfire (?:theme|themed|colou?rs?|palette|style)\b|\bon fire\b", "fire"),
    (r"\bforest\b|\bjungle\b|\bwoods\b|\bnature\b|森|ジャングル", "forest"),
    (r"\bspace\b|\bgalaxy\b|\bcosmic\b|宇宙|銀河", "space"),
    (r"\bsunset\b|\bdusk\b|\bvapou?rwave\b|夕焼け|夕日", "sunset"),
    (r"\bclassic\b|クラシック", "classic"),
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
COLOR_NAMES_JA = {
    "red": "赤",
    "blue": "青",
    "green": "緑",
    "yellow": "黄色",
    "orange": "オレンジ",
    "purple": "紫",
    "pink": "ピンク",
    "cyan": "水色",
    "white": "白",
    "black": "黒",
    "gold": "金色",
    "silver": "銀色",
    "brown": "茶色",
}

# (pattern over the normalised request, colour word). Japanese single-kanji colours need
# guards: 面白い is "interesting", 赤ちゃん "baby", 青空 "blue sky" (a background theme).
COLOR_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\b(?:red|crimson|scarlet)\b|赤(?!ちゃん)|レッド", "red"),
    (r"\b(?:blue|navy)\b(?! sky)|青(?!空)|ブルー", "blue"),
    (r"\b(?:green|lime|emerald)\b|緑|グリーン", "green"),
    (r"\byellow\b|黄色|イエロー", "yellow"),
    (r"\borange\b|オレンジ", "orange"),
    (r"\b(?:purple|violet)\b|紫|パープル", "purple"),
    (r"\b(?:pink|magenta)\b|ピンク", "pink"),
    (r"\b(?:cyan|aqua|turquoise|teal)\b|水色", "cyan"),
    (r"\bwhite\b|(?<!面)白(?!黒)|ホワイト", "white"),
    (r"\bblack\b(?! and white)|(?<!白)黒|ブラック", "black"),
    (r"\b(?:gold|golden)\b|金色|ゴールド", "gold"),
    (r"\b(?:silver|gr[ae]y)\b|銀色|灰色|グレー", "silver"),
    (r"\bbrown\b|茶色", "brown"),
)


def color_name(word: str, language: str) -> str:
    return COLOR_NAMES_JA.get(word, word) if language == "ja" else word


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


def recolor_primary(colors: Mapping[str, str], hex_color: str) -> dict[str, str]:
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


def recolor_background(colors: Mapping[str, str], word: str) -> dict[str, str]:
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


__all__ = [
    "COLOR_KEYS",
    "COLOR_PATTERNS",
    "COLOR_WORDS",
    "PALETTES",
    "PALETTE_WORDS",
    "color_name",
    "color_word_hex",
    "contrast",
    "luminance",
    "mix",
    "recolor_background",
    "recolor_primary",
    "rgb",
    "valid_colors",
]
