"""Drawings of the subjects a request can name (the library's ``[subjects]``): "a cat
catches fish" draws a cat for the player sprite and a fish for what it collects.

Each drawer fills a :class:`~.raster.Raster` of any size (coordinates are fractions of
its width and height) in the subject's own colours, tinted towards the palette.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .palette import mix
from .raster import Colors, Raster, circle, ellipse, rect, rounded_rect, solid, star, vgradient

INK = "#1f2937"


def _tint(natural: str, c: Colors, k: float = 0.3) -> str:
    return mix(natural, c["primary"], k)


def _eyes(r: Raster, xs: tuple[float, float], y: float, size: float) -> None:
    w, h = r.w, r.h
    for x in xs:
        r.fill(circle(w * x, h * y, w * size), solid("#ffffff"))
        r.fill(circle(w * (x + size * 0.3), h * y, w * size * 0.55), solid(INK))


def cat(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    fur = _tint("#f59e0b", c)
    r.fill(ellipse(w * 0.5, h * 0.74, w * 0.3, h * 0.22), solid(fur))  # body
    r.fill(
        [(w * 0.78, h * 0.8), (w * 0.98, h * 0.5), (w * 0.92, h * 0.46), (w * 0.72, h * 0.7)],
        solid(fur),
    )  # tail
    for sx in (-1, 1):  # ears
        x = 0.5 + sx * 0.2
        r.fill(
            [(w * x, h * 0.06), (w * (x - sx * 0.14), h * 0.3), (w * (x + sx * 0.06), h * 0.3)],
            solid(fur),
        )
        r.fill(
            [(w * x, h * 0.12), (w * (x - sx * 0.08), h * 0.28), (w * (x + sx * 0.03), h * 0.28)],
            solid("#fda4af"),
        )
    r.fill(ellipse(w * 0.5, h * 0.38, w * 0.3, h * 0.24), solid(fur))  # head
    _eyes(r, (0.4, 0.6), 0.36, 0.065)
    r.fill([(w * 0.47, h * 0.45), (w * 0.53, h * 0.45), (w * 0.5, h * 0.49)], solid("#fb7185"))
    for sy in (0.47, 0.51):  # whiskers
        r.fill(rect(w * 0.14, h * sy, w * 0.2, h * 0.012), solid(INK, 0.7))
        r.fill(rect(w * 0.66, h * sy, w * 0.2, h * 0.012), solid(INK, 0.7))


def dog(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    fur = _tint("#b45309", c, 0.25)
    light = mix(fur, "#ffffff", 0.5)
    r.fill(ellipse(w * 0.5, h * 0.76, w * 0.3, h * 0.2), solid(fur))
    r.fill(ellipse(w * 0.5, h * 0.4, w * 0.3, h * 0.27), solid(fur))
    for sx in (-1, 1):
        r.fill(
            ellipse(w * (0.5 + sx * 0.3), h * 0.42, w * 0.09, h * 0.2),
            solid(mix(fur, "#000000", 0.35)),
        )
    r.fill(ellipse(w * 0.5, h * 0.52, w * 0.16, h * 0.12), solid(light))
    r.fill(ellipse(w * 0.5, h * 0.47, w * 0.07, h * 0.045), solid(INK))
    _eyes(r, (0.39, 0.61), 0.34, 0.06)
    r.fill(ellipse(w * 0.5, h * 0.62, w * 0.05, h * 0.05), solid("#fb7185"))  # tongue


def car(r: Raster, c: Colors, body: str | None = None) -> None:
    w, h = r.w, r.h
    paint = body or c["primary"]
    for x in (0.08, 0.8):
        for y in (0.16, 0.66):
            r.fill(rounded_rect(w * x, h * y, w * 0.14, h * 0.2, w * 0.04), solid(INK))
    r.fill(
        rounded_rect(w * 0.14, h * 0.04, w * 0.72, h * 0.92, w * 0.22),
        vgradient(mix(paint, "#ffffff", 0.35), paint, 0, h),
    )
    r.fill(rounded_rect(w * 0.24, h * 0.24, w * 0.52, h * 0.18, w * 0.08), solid("#1e293b", 0.85))
    r.fill(rounded_rect(w * 0.26, h * 0.66, w * 0.48, h * 0.12, w * 0.06), solid("#1e293b", 0.7))
    r.fill(rect(w * 0.46, h * 0.05, w * 0.08, h * 0.9), solid("#ffffff", 0.35))  # racing stripe


def ship(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill([(w * 0.5, h * 0.78), (w * 0.38, h), (w * 0.62, h)], solid(c["accent"], 0.9))
    r.fill(
        [(w * 0.5, h * 0.2), (w * 0.98, h * 0.82), (w * 0.5, h * 0.7), (w * 0.02, h * 0.82)],
        solid(c["secondary"]),
    )
    r.fill(
        [(w * 0.5, h * 0.02), (w * 0.7, h * 0.72), (w * 0.5, h * 0.84), (w * 0.3, h * 0.72)],
        vgradient(mix(c["primary"], "#ffffff", 0.4), c["primary"], 0, h * 0.84),
    )
    r.fill(ellipse(w * 0.5, h * 0.4, w * 0.07, h * 0.12), solid(c["accent"]))


def fish(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    scale = _tint("#fb923c", c)
    r.fill(
        [(w * 0.3, h * 0.5), (w * 0.04, h * 0.2), (w * 0.04, h * 0.8)],
        solid(mix(scale, "#000000", 0.2)),
    )
    r.fill(
        ellipse(w * 0.56, h * 0.5, w * 0.38, h * 0.3),
        vgradient(mix(scale, "#ffffff", 0.35), scale, h * 0.2, h * 0.8),
    )
    r.fill([(w * 0.5, h * 0.22), (w * 0.66, h * 0.08), (w * 0.7, h * 0.26)], solid(scale))
    r.fill(circle(w * 0.76, h * 0.44, w * 0.06), solid("#ffffff"))
    r.fill(circle(w * 0.77, h * 0.44, w * 0.03), solid(INK))
    for k in range(3):
        r.fill(rect(w * (0.42 + k * 0.08), h * 0.36, w * 0.02, h * 0.28), solid("#ffffff", 0.25))


def bird(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    feather = _tint("#facc15", c)
    r.fill(ellipse(w * 0.48, h * 0.55, w * 0.38, h * 0.38), solid(feather))
    r.fill(
        ellipse(w * 0.4, h * 0.6, w * 0.2, h * 0.14), solid(mix(feather, "#000000", 0.2))
    )  # wing
    r.fill(ellipse(w * 0.55, h * 0.7, w * 0.2, h * 0.12), solid(mix(feather, "#ffffff", 0.5)))
    r.fill([(w * 0.8, h * 0.46), (w * 1.0, h * 0.54), (w * 0.8, h * 0.62)], solid("#f97316"))
    r.fill(circle(w * 0.66, h * 0.4, w * 0.09), solid("#ffffff"))
    r.fill(circle(w * 0.69, h * 0.4, w * 0.045), solid(INK))


def robot(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    metal = mix("#94a3b8", c["primary"], 0.35)
    r.fill(rect(w * 0.48, h * 0.02, w * 0.04, h * 0.12), solid(INK))
    r.fill(circle(w * 0.5, h * 0.04, w * 0.05), solid(c["accent"]))
    r.fill(rounded_rect(w * 0.2, h * 0.12, w * 0.6, h * 0.36, w * 0.08), solid(metal))
    r.fill(rounded_rect(w * 0.3, h * 0.22, w * 0.14, h * 0.1, w * 0.03), solid(c["accent"]))
    r.fill(rounded_rect(w * 0.56, h * 0.22, w * 0.14, h * 0.1, w * 0.03), solid(c["accent"]))
    r.fill(rect(w * 0.34, h * 0.38, w * 0.32, h * 0.04), solid(INK, 0.7))
    r.fill(
        rounded_rect(w * 0.16, h * 0.52, w * 0.68, h * 0.4, w * 0.08),
        solid(mix(metal, "#000000", 0.15)),
    )
    r.fill(circle(w * 0.5, h * 0.7, w * 0.08), solid(c["primary"]))
    r.fill(rect(w * 0.24, h * 0.92, w * 0.14, h * 0.08), solid(INK))
    r.fill(rect(w * 0.62, h * 0.92, w * 0.14, h * 0.08), solid(INK))


def rabbit(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    fur = _tint("#f1f5f9", c, 0.15)
    for x in (0.38, 0.62):
        r.fill(ellipse(w * x, h * 0.22, w * 0.09, h * 0.2), solid(fur))
        r.fill(ellipse(w * x, h * 0.22, w * 0.04, h * 0.14), solid("#fda4af"))
    r.fill(ellipse(w * 0.5, h * 0.78, w * 0.28, h * 0.2), solid(fur))
    r.fill(circle(w * 0.5, h * 0.5, w * 0.24), solid(fur))
    _eyes(r, (0.41, 0.59), 0.48, 0.05)
    r.fill(ellipse(w * 0.5, h * 0.57, w * 0.04, h * 0.025), solid("#fb7185"))


def frog(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    skin = _tint("#22c55e", c, 0.2)
    r.fill(ellipse(w * 0.5, h * 0.66, w * 0.44, h * 0.3), solid(skin))
    for x in (0.3, 0.7):
        r.fill(circle(w * x, h * 0.36, w * 0.15), solid(skin))
        r.fill(circle(w * x, h * 0.36, w * 0.09), solid("#ffffff"))
        r.fill(circle(w * x, h * 0.37, w * 0.05), solid(INK))
    r.fill(ellipse(w * 0.5, h * 0.72, w * 0.22, h * 0.05), solid(mix(skin, "#000000", 0.4)))
    r.fill(ellipse(w * 0.5, h * 0.8, w * 0.26, h * 0.1), solid(mix(skin, "#ffffff", 0.45)))


def penguin(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(ellipse(w * 0.5, h * 0.55, w * 0.36, h * 0.43), solid(mix(INK, c["secondary"], 0.2)))
    r.fill(ellipse(w * 0.5, h * 0.62, w * 0.24, h * 0.32), solid("#f8fafc"))
    _eyes(r, (0.4, 0.6), 0.32, 0.06)
    r.fill([(w * 0.44, h * 0.42), (w * 0.56, h * 0.42), (w * 0.5, h * 0.5)], solid("#f97316"))
    r.fill(ellipse(w * 0.38, h * 0.97, w * 0.1, h * 0.03), solid("#f97316"))
    r.fill(ellipse(w * 0.62, h * 0.97, w * 0.1, h * 0.03), solid("#f97316"))


def ghost(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    body = _tint("#f8fafc", c, 0.2)
    # The dome from right to left, then the wavy hem back from left to right.
    pts = [
        (
            w * (0.5 + 0.4 * math.cos(math.pi * i / 16)),
            h * (0.44 - 0.38 * math.sin(math.pi * i / 16)),
        )
        for i in range(17)
    ]
    for i in range(7):
        pts.append((w * (0.1 + i * (0.8 / 6)), h * (0.95 if i % 2 == 0 else 0.82)))
    r.fill(pts, solid(body, 0.95))
    r.fill(ellipse(w * 0.38, h * 0.4, w * 0.07, h * 0.1), solid(INK))
    r.fill(ellipse(w * 0.62, h * 0.4, w * 0.07, h * 0.1), solid(INK))
    r.fill(ellipse(w * 0.5, h * 0.6, w * 0.08, h * 0.06), solid(INK, 0.8))


def apple(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    red = _tint("#ef4444", c, 0.15)
    r.fill(circle(w * 0.38, h * 0.58, w * 0.3), solid(red))
    r.fill(circle(w * 0.62, h * 0.58, w * 0.3), solid(red))
    r.fill(rect(w * 0.48, h * 0.12, w * 0.05, h * 0.2), solid("#78350f"))
    r.fill(ellipse(w * 0.64, h * 0.18, w * 0.14, h * 0.07), solid("#22c55e"))
    r.fill(ellipse(w * 0.34, h * 0.48, w * 0.07, h * 0.1), solid("#ffffff", 0.6))


def star_subject(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    gold = _tint("#facc15", c, 0.15)
    r.fill(star(w / 2, h * 0.54, w * 0.48, w * 0.2), solid(mix(gold, "#000000", 0.25)))
    r.fill(star(w / 2, h * 0.52, w * 0.42, w * 0.18), solid(gold))
    r.fill(circle(w * 0.42, h * 0.45, w * 0.05), solid(INK))
    r.fill(circle(w * 0.58, h * 0.45, w * 0.05), solid(INK))


def heart(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    pink = _tint("#f43f5e", c, 0.15)
    r.fill(circle(w * 0.32, h * 0.38, w * 0.22), solid(pink))
    r.fill(circle(w * 0.68, h * 0.38, w * 0.22), solid(pink))
    r.fill([(w * 0.12, h * 0.46), (w * 0.88, h * 0.46), (w * 0.5, h * 0.92)], solid(pink))
    r.fill(ellipse(w * 0.3, h * 0.32, w * 0.07, h * 0.05), solid("#ffffff", 0.6))


def gem(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    stone = c["accent"]
    r.fill(
        [
            (w * 0.2, h * 0.3),
            (w * 0.8, h * 0.3),
            (w * 0.96, h * 0.42),
            (w * 0.5, h * 0.95),
            (w * 0.04, h * 0.42),
        ],
        solid(mix(stone, "#000000", 0.2)),
    )
    r.fill(
        [(w * 0.2, h * 0.3), (w * 0.8, h * 0.3), (w * 0.66, h * 0.42), (w * 0.34, h * 0.42)],
        solid(mix(stone, "#ffffff", 0.45)),
    )
    r.fill([(w * 0.34, h * 0.42), (w * 0.66, h * 0.42), (w * 0.5, h * 0.95)], solid(stone))


def bone(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    ivory = "#f5f0e1"
    r.fill(rounded_rect(w * 0.2, h * 0.4, w * 0.6, h * 0.2, h * 0.08), solid(ivory))
    for x in (0.16, 0.84):
        for y in (0.38, 0.62):
            r.fill(circle(w * x, h * y, w * 0.11), solid(ivory))


def carrot(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill([(w * 0.3, h * 0.3), (w * 0.7, h * 0.3), (w * 0.52, h * 0.98)], solid("#f97316"))
    for dx in (-0.1, 0.0, 0.1):
        r.fill(ellipse(w * (0.5 + dx), h * 0.18, w * 0.06, h * 0.16), solid("#22c55e"))
    for y in (0.45, 0.6, 0.75):
        r.fill(rect(w * 0.4, h * y, w * 0.12, h * 0.02), solid("#9a3412", 0.6))


def coin(r: Raster, c: Colors) -> None:
    w = r.w
    gold = c["accent"]
    r.fill(circle(w / 2, w / 2, w * 0.46), solid(mix(gold, "#000000", 0.3)))
    r.fill(circle(w / 2, w / 2, w * 0.38), solid(mix(gold, "#ffffff", 0.2)))
    r.fill(
        rounded_rect(w * 0.44, w * 0.28, w * 0.12, w * 0.44, w * 0.05),
        solid(mix(gold, "#000000", 0.25)),
    )


SUBJECTS: dict[str, Callable[[Raster, Colors], None]] = {
    "cat": cat,
    "dog": dog,
    "car": car,
    "ship": ship,
    "fish": fish,
    "bird": bird,
    "robot": robot,
    "rabbit": rabbit,
    "frog": frog,
    "penguin": penguin,
    "ghost": ghost,
    "apple": apple,
    "star": star_subject,
    "heart": heart,
    "gem": gem,
    "bone": bone,
    "carrot": carrot,
    "coin": coin,
}
