"""Procedurally drawn sprites: one small vector drawing per sprite role or subject.

Roles are the templates' sprite roles (``head``, ``paddle``...); subjects the things a
request names (:mod:`.subjects`: cat, dog, car, fish...). Everything is deterministic:
same role, size and colours, same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

from .palette import mix
from .png import encode_png
from .raster import (
    Colors,
    Raster,
    circle,
    ellipse,
    radial,
    rect,
    rounded_rect,
    solid,
    star,
    vgradient,
)
from .subjects import SUBJECTS

MAX_SIDE = 2048  # the largest image side the asset task accepts
DRAW_SIDE = 160  # larger sprites are drawn at this size, then scaled up (nearest neighbour)

# ---- sprites by role -----------------------------------------------------------


def _head(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(rounded_rect(w * 0.06, h * 0.06, w * 0.88, h * 0.88, w * 0.3), solid(c["secondary"]))
    r.fill(
        rounded_rect(w * 0.1, h * 0.1, w * 0.8, h * 0.8, w * 0.26),
        radial(mix(c["primary"], "#ffffff", 0.35), c["primary"], w * 0.4, h * 0.35, w * 0.6),
    )
    for ey in (0.3, 0.7):
        r.fill(circle(w * 0.66, h * ey, w * 0.12), solid("#ffffff"))
        r.fill(circle(w * 0.7, h * ey, w * 0.06), solid("#111111"))
    r.fill(rect(w * 0.88, h * 0.47, w * 0.1, h * 0.06), solid(c["accent"]))  # tongue


def _food(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(circle(w / 2, h * 0.56, w * 0.4), solid(c["accent"], 0.25))
    r.fill(
        circle(w / 2, h * 0.56, w * 0.33),
        radial(mix(c["accent"], "#ffffff", 0.5), c["accent"], w * 0.4, h * 0.45, w * 0.4),
    )
    r.fill(ellipse(w * 0.62, h * 0.2, w * 0.13, h * 0.07), solid(c["primary"]))
    r.fill(circle(w * 0.4, h * 0.45, w * 0.07), solid("#ffffff", 0.7))


def _paddle(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    if h > w:  # a vertical paddle (pong)
        r.fill(
            rounded_rect(0, 0, w, h, w / 2),
            vgradient(mix(c["primary"], "#ffffff", 0.3), c["secondary"], 0, h),
        )
        r.fill(
            rounded_rect(w * 0.18, h * 0.06, w * 0.18, h * 0.88, w * 0.09), solid("#ffffff", 0.45)
        )
        return
    r.fill(
        rounded_rect(0, 0, w, h, h / 2),
        vgradient(mix(c["primary"], "#ffffff", 0.3), c["secondary"], 0, h),
    )
    r.fill(rounded_rect(w * 0.06, h * 0.18, w * 0.88, h * 0.18, h * 0.09), solid("#ffffff", 0.45))


def _ball(r: Raster, c: Colors) -> None:
    w = r.w
    r.fill(
        circle(w / 2, w / 2, w * 0.46), radial("#ffffff", c["text"], w * 0.38, w * 0.36, w * 0.55)
    )
    r.fill(circle(w * 0.38, w * 0.34, w * 0.1), solid("#ffffff", 0.9))


def _brick(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(rounded_rect(0, 0, w, h, 4), solid(mix(c["primary"], "#000000", 0.35)))
    r.fill(rounded_rect(0, 0, w - 3, h - 3, 4), solid(mix(c["primary"], "#ffffff", 0.35)))
    r.fill(rect(3, 3, w - 6, h - 6), vgradient(c["primary"], c["secondary"], 0, h))


_INVADER = (
    "..X.....X..",
    "...X...X...",
    "..XXXXXXX..",
    ".XX.XXX.XX.",
    "XXXXXXXXXXX",
    "X.XXXXXXX.X",
    "X.X.....X.X",
    "...XX.XX...",
)


def _enemy(r: Raster, c: Colors) -> None:
    cols, rows = len(_INVADER[0]), len(_INVADER)
    cw, ch = r.w / cols, r.h / rows
    body = solid(c["accent"])
    for j, line in enumerate(_INVADER):
        i = 0
        while i < cols:  # one rectangle per run of cells: no seams between cells
            if line[i] != "X":
                i += 1
                continue
            end = i
            while end < cols and line[end] == "X":
                end += 1
            bottom = rows if j == rows - 1 else j + 1.1  # overlap the next row a little
            r.fill(rect(i * cw, j * ch, (end - i) * cw, (bottom - j) * ch), body)
            i = end


def _laser(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(rounded_rect(0, 0, w, h, w / 2), solid(c["primary"], 0.55))
    r.fill(rounded_rect(w * 0.3, h * 0.08, w * 0.4, h * 0.84, w * 0.2), solid("#ffffff"))


def _powerup(r: Raster, c: Colors) -> None:
    w = r.w
    r.fill(circle(w / 2, w / 2, w * 0.47), solid(c["secondary"]))
    r.fill(circle(w / 2, w / 2, w * 0.38), solid(c["background"]))
    r.fill(star(w / 2, w / 2 + w * 0.02, w * 0.3, w * 0.13), solid(c["accent"]))


def _hero(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(rounded_rect(w * 0.14, h * 0.82, w * 0.26, h * 0.16, w * 0.06), solid(c["secondary"]))
    r.fill(rounded_rect(w * 0.6, h * 0.82, w * 0.26, h * 0.16, w * 0.06), solid(c["secondary"]))
    r.fill(
        rounded_rect(w * 0.04, h * 0.04, w * 0.92, h * 0.82, w * 0.24),
        vgradient(mix(c["primary"], "#ffffff", 0.3), c["primary"], 0, h * 0.86),
    )
    r.fill(circle(w * 0.66, h * 0.32, w * 0.14), solid("#ffffff"))
    r.fill(circle(w * 0.71, h * 0.33, w * 0.07), solid("#111111"))
    r.fill(
        rounded_rect(w * 0.5, h * 0.58, w * 0.3, h * 0.06, h * 0.03), solid(c["background"], 0.6)
    )


def _obstacle(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    spikes = 4
    for i in range(spikes):
        x0 = w * i / spikes
        r.fill(
            [(x0, h * 0.3), (x0 + w / spikes / 2, 0), (x0 + w / spikes, h * 0.3)], solid(c["text"])
        )
    r.fill(rect(0, h * 0.28, w, h * 0.72), solid(mix(c["accent"], "#000000", 0.3)))
    r.fill(rect(w * 0.08, h * 0.34, w * 0.84, h * 0.6), solid(c["accent"]))
    for k in range(3):  # hazard stripes
        y = h * (0.42 + k * 0.18)
        r.fill(
            [
                (w * 0.08, y + h * 0.1),
                (w * 0.92, y),
                (w * 0.92, y + h * 0.06),
                (w * 0.08, y + h * 0.16),
            ],
            solid(c["background"], 0.35),
        )


def _orb(r: Raster, c: Colors) -> None:
    w = r.w
    r.fill(circle(w / 2, w / 2, w * 0.49), solid(c["primary"], 0.25))
    r.fill(
        circle(w / 2, w / 2, w * 0.44),
        radial(mix(c["primary"], "#ffffff", 0.55), c["secondary"], w * 0.38, w * 0.34, w * 0.62),
    )
    r.fill(ellipse(w * 0.37, w * 0.28, w * 0.14, w * 0.08), solid("#ffffff", 0.75))


def _bonus(r: Raster, c: Colors) -> None:
    w = r.w
    r.fill(star(w / 2, w * 0.53, w * 0.48, w * 0.22), solid(mix(c["accent"], "#000000", 0.3)))
    r.fill(
        star(w / 2, w * 0.53, w * 0.4, w * 0.18),
        radial("#ffffff", c["accent"], w * 0.45, w * 0.4, w * 0.4),
    )


def _pipe(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(
        rect(w * 0.06, 0, w * 0.88, h),
        vgradient(c["secondary"], mix(c["secondary"], "#000000", 0.3), 0, h),
    )
    r.fill(rect(w * 0.2, 0, w * 0.12, h), solid("#ffffff", 0.22))
    r.fill(rect(0, 0, w, h * 0.09), solid(c["primary"]))
    r.fill(rect(0, h * 0.09, w, h * 0.012), solid("#000000", 0.3))


def _block(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(rounded_rect(0, 0, w, h, w * 0.15), solid("#000000", 0.35))
    r.fill(rounded_rect(0, 0, w * 0.94, h * 0.94, w * 0.15), solid("#ffffff", 0.55))
    r.fill(rounded_rect(w * 0.12, h * 0.12, w * 0.76, h * 0.76, w * 0.1), solid("#808080", 0.5))


def _card(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(rounded_rect(0, 0, w, h, w * 0.12), solid(c["primary"]))
    r.fill(rounded_rect(w * 0.08, h * 0.06, w * 0.84, h * 0.88, w * 0.08), solid(c["secondary"]))
    for i in range(3):
        for j in range(4):
            cx, cy = w * (0.28 + i * 0.22), h * (0.2 + j * 0.2)
            r.fill(star(cx, cy, w * 0.08, w * 0.035, 4), solid(c["accent"], 0.8))


def _traffic(r: Raster, c: Colors) -> None:
    SUBJECTS["car"](r, {**c, "primary": mix(c["secondary"], "#94a3b8", 0.4)})


def _catcher(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(
        [(w * 0.04, h * 0.3), (w * 0.96, h * 0.3), (w * 0.82, h * 0.96), (w * 0.18, h * 0.96)],
        solid(mix("#b45309", c["primary"], 0.3)),
    )
    for k in range(4):
        y = h * (0.42 + k * 0.14)
        r.fill(rect(w * 0.12, y, w * 0.76, h * 0.04), solid("#000000", 0.2))
    r.fill(
        rounded_rect(0, h * 0.22, w, h * 0.12, h * 0.06), solid(mix("#92400e", c["primary"], 0.25))
    )


def _bomb(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill(circle(w * 0.46, h * 0.58, w * 0.38), solid("#1f2937"))
    r.fill(circle(w * 0.34, h * 0.46, w * 0.08), solid("#ffffff", 0.35))
    r.fill(rect(w * 0.62, h * 0.12, w * 0.1, h * 0.16), solid("#6b7280"))
    r.fill(star(w * 0.74, h * 0.1, w * 0.12, w * 0.05, 6), solid("#f97316"))


def _slime(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    goo = mix("#e23b4e", c["accent"], 0.2)
    r.fill(ellipse(w * 0.5, h * 0.62, w * 0.46, h * 0.38), solid(goo))
    r.fill(rect(w * 0.04, h * 0.62, w * 0.92, h * 0.36), solid(goo))
    r.fill(circle(w * 0.34, h * 0.5, w * 0.1), solid("#ffffff"))
    r.fill(circle(w * 0.66, h * 0.5, w * 0.1), solid("#ffffff"))
    r.fill(circle(w * 0.36, h * 0.52, w * 0.05), solid("#111111"))
    r.fill(circle(w * 0.64, h * 0.52, w * 0.05), solid("#111111"))
    r.fill(rect(w * 0.24, h * 0.36, w * 0.18, h * 0.05), solid("#111111"))
    r.fill(rect(w * 0.58, h * 0.36, w * 0.18, h * 0.05), solid("#111111"))


def _generic(r: Raster, c: Colors) -> None:
    side = min(r.w, r.h)
    r.fill(
        ellipse(r.w / 2, r.h / 2, r.w * 0.45, r.h * 0.45),
        radial(mix(c["primary"], "#ffffff", 0.4), c["primary"], r.w * 0.4, r.h * 0.35, side * 0.6),
    )


DRAWERS: dict[str, Callable[[Raster, Colors], None]] = {
    "head": _head,
    "food": _food,
    "paddle": _paddle,
    "ball": _ball,
    "brick": _brick,
    "enemy": _enemy,
    "laser": _laser,
    "powerup": _powerup,
    "hero": _hero,
    "obstacle": _obstacle,
    "orb": _orb,
    "bonus": _bonus,
    "pipe": _pipe,
    "block": _block,
    "card": _card,
    "traffic": _traffic,
    "catcher": _catcher,
    "treat": _food,
    "bomb": _bomb,
    "slime": _slime,
    **SUBJECTS,  # cat, dog, car, ship, fish, bird, robot, ... gem, coin
}


def draw_sprite(role: str, width: int, height: int, colors: Colors) -> bytes:
    """PNG bytes (exactly ``width`` x ``height``, clamped to 1..MAX_SIDE) of the sprite for
    ``role`` (a template's sprite role or a subject); unknown ones get a generic orb."""
    w = max(1, min(MAX_SIDE, int(width)))
    h = max(1, min(MAX_SIDE, int(height)))
    return _draw_cached(role, w, h, tuple(sorted(colors.items())))


@lru_cache(maxsize=256)
def _draw_cached(role: str, w: int, h: int, colors: tuple[tuple[str, str], ...]) -> bytes:
    # Drawing is deterministic, so identical requests can share the bytes.
    scale = max(1, math.ceil(max(w, h) / DRAW_SIDE))
    raster = Raster(math.ceil(w / scale), math.ceil(h / scale))
    DRAWERS.get(role, _generic)(raster, dict(colors))
    if scale == 1:
        return raster.png()
    return encode_png(w, h, _upscale(raster, w, h))


def _upscale(r: Raster, w: int, h: int) -> bytes:
    """Nearest-neighbour resize of ``r`` to w x h; each distinct source row built once."""
    xs = [x * r.w // w for x in range(w)]
    rows: dict[int, bytes] = {}
    out = bytearray()
    for y in range(h):
        sy = y * r.h // h
        if sy not in rows:
            src = r.px[sy * r.w * 4 : (sy + 1) * r.w * 4]
            rows[sy] = b"".join(src[x * 4 : x * 4 + 4] for x in xs)
        out += rows[sy]
    return bytes(out)
