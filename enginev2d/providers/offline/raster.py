"""A tiny anti-aliased rasteriser: polygons, shapes and paints for the procedural sprites.

One primitive does the work: :meth:`Raster.fill` scan-converts a polygon with four
sub-scanlines per row and exact horizontal coverage, so edges are smooth without
supersampling whole images. Circles and rounded rectangles are fine polygons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from .palette import rgb
from .png import encode_png

Point = tuple[float, float]
Paint = tuple[int, int, int, float] | Callable[[float, float], tuple[int, int, int, float]]
_SUB = 4  # sub-scanlines per pixel row


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


Colors = Mapping[str, str]
