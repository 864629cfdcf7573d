"""Minimal PNG encoder/decoder (8-bit RGB/RGBA, no interlace) with zlib and struct only."""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, rgba: bytes | bytearray) -> bytes:
    """An RGBA PNG from ``width * height * 4`` bytes, rows top to bottom."""
    if width <= 0 or height <= 0:
        raise ValueError("PNG dimensions must be positive")
    stride = width * 4
    if len(rgba) != stride * height:
        raise ValueError(f"expected {stride * height} bytes of RGBA, got {len(rgba)}")
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter type 0 (None) per row
        raw += rgba[y * stride : (y + 1) * stride]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(line: bytearray, prev: bytearray, ftype: int, channels: int) -> None:
    """Undo the Sub (1), Average (3) or Paeth (4) filter of one row, in place."""
    for x in range(len(line)):
        a = line[x - channels] if x >= channels else 0
        b = prev[x]
        if ftype == 1:
            line[x] = (line[x] + a) & 255
        elif ftype == 3:
            line[x] = (line[x] + ((a + b) >> 1)) & 255
        else:
            c = prev[x - channels] if x >= channels else 0
            line[x] = (line[x] + _paeth(a, b, c)) & 255


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, pixels) for 8-bit grey/RGB/RGBA non-interlaced PNGs.

    Checks the signature and every chunk CRC; raises ValueError on anything else.
    """
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG (bad signature)")
    pos = len(SIGNATURE)
    ihdr = None
    idat = bytearray()
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("truncated chunk header")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise ValueError(f"truncated {kind!r} chunk")
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if crc != zlib.crc32(kind + body):
            raise ValueError(f"bad CRC in {kind!r} chunk")
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if ihdr is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, color_type, _comp, _filter, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color_type)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {color_type})")
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError(f"IDAT holds {len(raw)} bytes, expected {height * (stride + 1)}")
    out = bytearray(height * stride)
    prev = bytearray(stride)
    # Lane masks for adding two rows byte-wise in one big-int operation (the Up filter).
    high = int.from_bytes(b"\x80" * stride, "little")
    low = high ^ ((1 << (8 * stride)) - 1)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if ftype == 2:
            a = int.from_bytes(line, "little")
            b = int.from_bytes(prev, "little")
            line = bytearray(
                (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(stride, "little")
            )
        elif ftype in (1, 3, 4):
            _unfilter(line, prev, ftype, channels)
        elif ftype != 0:
            raise ValueError(f"bad filter type {ftype} on row {y}")
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return width, height, channels, bytes(out)
