"""Procedurally drawn sprites: small anti-aliased vector drawings rasterised in Python.

One primitive does the work: :meth:`Raster.fill` scan-converts a polygon with four
sub-scanlines per row and exact horizontal coverage, so edges are smooth without
supersampling whole images. Circles and rounded rectangles are fine polygons.
Everything is deterministic: same role, size and colours, same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from .palette import mix, rgb
from .png import encode_png

Point = tuple[float, float]
Paint = tuple[int, int, int, float] | Callable[[float, float], tuple[int, int, int, float]]
_SUB = 4  # sub-scanlines per pixel row
MAX_SIDE = 2048  # the largest image side the asset task accepts
DRAW_SIDE = 160  # larger sprites are drawn at this size, then scaled up (nearest neighbour)


class Raster:
    def __init__(self, width: int, height: int) -> None:
        self.w = width
        self.h = height
        self.px = bytearray(width * height * 4)  # transparent

    def _blend(self, x: int, y: int, r: int, g: int, b: int, a: float) -> None:
        if a <= 0:
            return
        i = (y * self.w + x) * 4
        px = self.px
        if a >= 1.0 or px[i + 3] == 0:  # fast paths: opaque source, empty destination
            px[i : i + 4] = bytes((r, g, b, round(min(1.0, a) * 255)))
            return
        da = px[i + 3] / 255
        oa = a + da * (1 - a)
        if oa <= 0:
            return
        k = a / oa
        px[i] = round(r * k + px[i] * (1 - k))
        px[i + 1] = round(g * k + px[i + 1] * (1 - k))
        px[i + 2] = round(b * k + px[i + 2] * (1 - k))
        px[i + 3] = round(oa * 255)

    def fill(self, points: Sequence[Point], paint: Paint) -> None:
        """Fill a polygon (even-odd) with a colour or a ``paint(x, y)`` function."""
        if len(points) < 3:
            return
        ys = [p[1] for p in points]
        y0 = max(0, math.floor(min(ys)))
        y1 = min(self.h, math.ceil(max(ys)))
        edges = [(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
        solid_paint = None if callable(paint) else paint
        for py in range(y0, y1):
            cover = [0.0] * (self.w + 1)
            lo, hi = self.w, -1
            for s in range(_SUB):
                sy = py + (s + 0.5) / _SUB
                xs = []
                for (ax, ay), (bx, by) in edges:
                    if (ay <= sy < by) or (by <= sy < ay):
                        xs.append(ax + (sy - ay) * (bx - ax) / (by - ay))
                xs.sort()
                for k in range(0, len(xs) - 1, 2):
                    self._span(cover, xs[k], xs[k + 1])
                if len(xs) >= 2:
                    lo = min(lo, max(0, int(xs[0])))
                    hi = max(hi, min(self.w - 1, int(xs[-1])))
            for px_x in range(lo, hi + 1):
                c = cover[px_x]
                if c <= 0:
                    continue
                c = min(1.0, c)
                r, g, b, a = solid_paint or paint(px_x + 0.5, py + 0.5)  # type: ignore[operator]
                self._blend(px_x, py, r, g, b, a * c)

    def _span(self, cover: list[float], xa: float, xb: float) -> None:
        xa = max(0.0, min(float(self.w), xa))
        xb = max(0.0, min(float(self.w), xb))
        if xb <= xa:
            return
        ia, ib = int(xa), int(xb)
        w = 1.0 / _SUB
        if ia == ib:
            cover[ia] += (xb - xa) * w
            return
        cover[ia] += (ia + 1 - xa) * w
        for x in range(ia + 1, ib):
            cover[x] += w
        if ib < self.w:
            cover[ib] += (xb - ib) * w

    def png(self) -> bytes:
        return encode_png(self.w, self.h, self.px)


# ---- shapes ------------------------------------------------------------------


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> list[Point]:
    return [
        (cx + rx * math.cos(2 * math.pi * i / n), cy + ry * math.sin(2 * math.pi * i / n))
        for i in range(n)
    ]


def circle(cx: float, cy: float, r: float) -> list[Point]:
    return ellipse(cx, cy, r, r, max(24, min(64, int(r * 2))))


def rect(x: float, y: float, w: float, h: float) -> list[Point]:
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def rounded_rect(x: float, y: float, w: float, h: float, r: float) -> list[Point]:
    r = max(0.0, min(r, w / 2, h / 2))
    if r == 0:
        return rect(x, y, w, h)
    pts: list[Point] = []
    corners = (
        (x + w - r, y + r, -90),
        (x + w - r, y + h - r, 0),
        (x + r, y + h - r, 90),
        (x + r, y + r, 180),
    )
    for cx, cy, start in corners:
        for i in range(9):
            a = math.radians(start + 90 * i / 8)
            pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return pts


def star(cx: float, cy: float, r_out: float, r_in: float, n: int = 5) -> list[Point]:
    pts = []
    for i in range(n * 2):
        r = r_out if i % 2 == 0 else r_in
        a = -math.pi / 2 + math.pi * i / n
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return pts


# ---- paints ------------------------------------------------------------------


def solid(hex_color: str, alpha: float = 1.0) -> tuple[int, int, int, float]:
    r, g, b = rgb(hex_color)
    return (r, g, b, alpha)


def vgradient(top: str, bottom: str, y0: float, y1: float) -> Paint:
    a, b = rgb(top), rgb(bottom)
    span = max(1e-6, y1 - y0)

    def paint(_x: float, y: float) -> tuple[int, int, int, float]:
        t = max(0.0, min(1.0, (y - y0) / span))
        return (
            round(a[0] + (b[0] - a[0]) * t),
            round(a[1] + (b[1] - a[1]) * t),
            round(a[2] + (b[2] - a[2]) * t),
            1.0,
        )

    return paint


def radial(inner: str, outer: str, cx: float, cy: float, r: float) -> Paint:
    a, b = rgb(inner), rgb(outer)

    def paint(x: float, y: float) -> tuple[int, int, int, float]:
        t = max(0.0, min(1.0, math.hypot(x - cx, y - cy) / max(1e-6, r)))
        return (
            round(a[0] + (b[0] - a[0]) * t),
            round(a[1] + (b[1] - a[1]) * t),
            round(a[2] + (b[2] - a[2]) * t),
            1.0,
        )

    return paint


# ---- sprites by role -----------------------------------------------------------

Colors = Mapping[str, str]


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


def _ship(r: Raster, c: Colors) -> None:
    w, h = r.w, r.h
    r.fill([(w * 0.5, h * 0.78), (w * 0.38, h), (w * 0.62, h)], solid(c["accent"], 0.9))  # flame
    r.fill(
        [(w * 0.5, h * 0.2), (w * 0.98, h * 0.82), (w * 0.5, h * 0.7), (w * 0.02, h * 0.82)],
        solid(c["secondary"]),
    )
    r.fill(
        [(w * 0.5, h * 0.02), (w * 0.7, h * 0.72), (w * 0.5, h * 0.84), (w * 0.3, h * 0.72)],
        vgradient(mix(c["primary"], "#ffffff", 0.4), c["primary"], 0, h * 0.84),
    )
    r.fill(ellipse(w * 0.5, h * 0.4, w * 0.07, h * 0.12), solid(c["accent"]))


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


def _coin(r: Raster, c: Colors) -> None:
    w = r.w
    gold = c["accent"]
    r.fill(circle(w / 2, w / 2, w * 0.46), solid(mix(gold, "#000000", 0.3)))
    r.fill(
        circle(w / 2, w / 2, w * 0.38),
        radial(mix(gold, "#ffffff", 0.5), gold, w * 0.4, w * 0.38, w * 0.45),
    )
    r.fill(
        rounded_rect(w * 0.44, w * 0.28, w * 0.12, w * 0.44, w * 0.05),
        solid(mix(gold, "#000000", 0.25)),
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
    "ship": _ship,
    "enemy": _enemy,
    "laser": _laser,
    "powerup": _powerup,
    "hero": _hero,
    "obstacle": _obstacle,
    "coin": _coin,
    "orb": _orb,
    "bonus": _bonus,
}


def draw_sprite(role: str, width: int, height: int, colors: Colors) -> bytes:
    """PNG bytes (exactly ``width`` x ``height``, clamped to 1..MAX_SIDE) of the sprite
    for ``role``; unknown roles get a generic orb."""
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
