"""Sprites are valid PNGs, checked chunk by chunk with zlib and struct (not our decoder)."""

from __future__ import annotations

import struct
import zlib

import pytest

from enginev2d.providers.offline import TEMPLATE_IDS, OfflineProvider
from enginev2d.providers.offline.png import decode_png, encode_png

SIG = b"\x89PNG\r\n\x1a\n"


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == SIG
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        out.append((kind, body))
        pos += 12 + length
    assert pos == len(data), "trailing bytes after the last chunk"
    return out


def _check_png(data: bytes, width: int, height: int) -> bytes:
    """Validate structure and return the raw (filtered) scanlines."""
    chunks = _chunks(data)
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    w, h, depth, color_type, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (w, h) == (width, height)
    assert (depth, color_type, comp, filt, interlace) == (8, 6, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (1 + width * 4)
    return raw


def _plan(template_id: str, message: str = "") -> dict:
    return OfflineProvider().plan(f"{message} {template_id} game", "edit", {})


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_every_sprite_is_a_valid_png_of_the_spec_size(template_id: str) -> None:
    p = OfflineProvider()
    plan = _plan(template_id)
    specs = p.image_specs(plan)
    images = p.images(plan, specs)
    assert [name for name, _ in images] == [s["name"] for s in specs]
    for (_name, data), spec in zip(images, specs, strict=True):
        raw = _check_png(data, spec["width"], spec["height"])
        stride = 1 + spec["width"] * 4
        alphas = [
            raw[y * stride + 1 + x * 4 + 3]
            for y in range(spec["height"])
            for x in range(spec["width"])
        ]
        opaque = sum(1 for a in alphas if a > 0)
        # Something is drawn, and it is a sprite with a transparent surround, not a filled box.
        assert opaque > 0.1 * len(alphas)
        assert min(alphas) == 0


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_images_are_deterministic_and_follow_the_palette(template_id: str) -> None:
    p = OfflineProvider()
    neon = _plan(template_id, "neon")
    pastel = _plan(template_id, "pastel")
    assert p.images(neon, p.image_specs(neon)) == p.images(neon, p.image_specs(neon))
    if neon["image_specs"]:  # tic-tac-toe draws everything itself
        assert p.images(neon, p.image_specs(neon)) != p.images(pastel, p.image_specs(pastel))


def test_unknown_roles_and_odd_sizes_still_give_valid_pngs() -> None:
    p = OfflineProvider()
    specs = [
        {"name": "assets/dragon.png", "prompt": "a dragon", "width": 33, "height": 17},
        {"name": "img/tiny.png", "prompt": "", "width": 1, "height": 1},
        {"name": "assets/image_0.png", "prompt": "", "width": 512, "height": 300},
        {"name": "assets/huge.png", "prompt": "", "width": 5000, "height": 20},
    ]
    images = p.images({"template_id": "snake"}, specs)
    assert [n for n, _ in images] == [s["name"] for s in specs]
    _check_png(images[0][1], 33, 17)
    _check_png(images[1][1], 1, 1)
    _check_png(images[2][1], 512, 300)  # drawn small, scaled up to the exact size
    _check_png(images[3][1], 2048, 20)  # clamped to the asset task's maximum side


def test_encoder_and_decoder_round_trip() -> None:
    w, h = 5, 3
    pixels = bytes(b for y in range(h) for x in range(w) for b in (x * 40, y * 80, x + y, 255 - x))
    data = encode_png(w, h, pixels)
    assert _check_png(data, w, h)
    assert decode_png(data) == (w, h, 4, pixels)


def test_decoder_rejects_a_corrupted_chunk() -> None:
    data = bytearray(encode_png(2, 2, bytes(16)))
    data[-20] ^= 0xFF  # inside the IDAT body
    with pytest.raises(ValueError, match="CRC"):
        decode_png(bytes(data))
    with pytest.raises(ValueError, match="signature"):
        decode_png(b"GIF89a")


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filtered_png(w: int, h: int, rgb: bytes) -> bytes:
    """An RGB PNG whose row y uses filter type y % 5 (browsers use them all)."""
    stride, bpp = w * 3, 3
    raw = bytearray()
    prev = bytes(stride)
    for y in range(h):
        row = rgb[y * stride : (y + 1) * stride]
        ftype = y % 5
        raw.append(ftype)
        for x in range(stride):
            a = row[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][ftype]
            raw.append((row[x] - pred) & 255)
        prev = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        SIG + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    )


def test_decoder_undoes_every_filter_type() -> None:
    w, h = 7, 10
    rgb = bytes(
        (x * 37 + y * 11 + k * 90) % 256 for y in range(h) for x in range(w) for k in range(3)
    )
    assert decode_png(_filtered_png(w, h, rgb)) == (w, h, 3, rgb)
