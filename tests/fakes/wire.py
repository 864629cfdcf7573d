"""Reply bodies in the providers' real wire formats (see platform-facts.md)."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

from .server import Reply

# --------------------------------------------------------------------------- PNG


def tiny_png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    """A real, valid RGB PNG (signature, IHDR, IDAT, IEND with correct CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------- Anthropic
# POST /v1/messages


def anthropic_message(
    text: str | dict[str, Any],
    *,
    model: str = "claude-haiku-4-5",
    input_tokens: int = 11,
    output_tokens: int = 7,
    stop_reason: str = "end_turn",
) -> Reply:
    if not isinstance(text, str):
        text = json.dumps(text)
    return Reply(
        200,
        {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        },
    )


_ANTHROPIC_ERR = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str = "boom", retry_after: str | None = None) -> Reply:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    body = {
        "type": "error",
        "error": {"type": _ANTHROPIC_ERR.get(status, "api_error"), "message": message},
    }
    return Reply(status, body, headers)


# --------------------------------------------------------------------------- Gemini / Vertex
# POST .../models/{m}:generateContent   and   .../models/{m}:predict (Imagen, Vertex only)


def gemini_text(
    text: str | dict[str, Any],
    *,
    finish_reason: str = "STOP",
    prompt_tokens: int = 13,
    candidate_tokens: int = 17,
) -> Reply:
    if not isinstance(text, str):
        text = json.dumps(text)
    return Reply(
        200,
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": finish_reason,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": candidate_tokens,
                "totalTokenCount": prompt_tokens + candidate_tokens,
            },
        },
    )


def gemini_blocked(block_reason: str = "SAFETY") -> Reply:
    return Reply(
        200,
        {
            "promptFeedback": {"blockReason": block_reason},
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
        },
    )


def gemini_image(png: bytes, *, mime: str = "image/png", text: str | None = None) -> Reply:
    parts: list[dict[str, Any]] = []
    if text:
        parts.append({"text": text})
    parts.append({"inlineData": {"mimeType": mime, "data": b64(png)}})
    return Reply(
        200,
        {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 1290},
        },
    )


def imagen_predict(*pngs: bytes, mime: str = "image/png") -> Reply:
    return Reply(
        200,
        {"predictions": [{"bytesBase64Encoded": b64(p), "mimeType": mime} for p in pngs]},
    )


_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def gemini_error(status: int, message: str = "boom", retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }
    return Reply(status, body, headers)


# --------------------------------------------------------------------------- Modal v2
# POST <configured url>   (format documented in enginev2d/providers/modal.py)


def modal_text(
    text: str | dict[str, Any],
    *,
    model: str = "claude-haiku-4-5",
    input_tokens: int = 21,
    output_tokens: int = 8,
    stop_reason: str = "end_turn",
) -> Reply:
    if not isinstance(text, str):
        text = json.dumps(text)
    return Reply(
        200,
        {
            "text": text,
            "model": model,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            "stop_reason": stop_reason,
        },
    )


def modal_error(status: int, message: str = "boom", retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(status, {"error": {"type": "error", "message": message}}, headers)
