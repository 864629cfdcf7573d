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
    model: str = "claude-haiku-5-5",
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
    404: "not_found_error",
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


def gemini_image(
    png: bytes,
    *,
    mime: str = "image/png",
    text: str | None = None,
    image_tokens: int = 1120,
    text_tokens: int = 0,
    thoughts: int = 0,
) -> Reply:
    """A Gemini image model's answer: image tokens reported per modality."""
    parts: list[dict[str, Any]] = []
    if text:
        parts.append({"text": text})
    parts.append({"inlineData": {"mimeType": mime, "data": b64(png)}})
    details = [{"modality": "IMAGE", "tokenCount": image_tokens}]
    if text_tokens:
        details.append({"modality": "TEXT", "tokenCount": text_tokens})
    return Reply(
        200,
        {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
            "usageMetadata": {
                "promptTokenCount": 9,
                "candidatesTokenCount": image_tokens + text_tokens,
                "candidatesTokensDetails": details,
                "thoughtsTokenCount": thoughts,
            },
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
    model: str = "claude-haiku-5-5",
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


def gemini_rate_limited(retry_delay: str = "4s", *, status: int = 429) -> Reply:
    """A real Gemini quota 429: the wait is in the body (google.rpc.RetryInfo), no header."""
    body = {
        "error": {
            "code": status,
            "message": "You exceeded your current quota, please check your plan and billing "
            "details. Please retry in " + retry_delay + ".",
            "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_paid_tier_input_token_count",
                            "quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute",
                            "quotaDimensions": {"location": "global", "model": "gemini-3.8-flash"},
                            "quotaValue": "1000000",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
            ],
        }
    }
    return Reply(status, body)


def gemini_not_found(model: str) -> Reply:
    message = (
        f"models/{model} is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods."
    )
    return Reply(404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})


def anthropic_not_found(model: str) -> Reply:
    return anthropic_error(404, f"model: {model}")


# --------------------------------------------------------------------------- streaming
# Anthropic: POST /v1/messages with "stream": true -> text/event-stream, events
# message_start, content_block_start/delta/stop, ping, message_delta, message_stop, error.
# Gemini: POST .../models/{m}:streamGenerateContent?alt=sse -> "data: {response}" chunks.


def sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def anthropic_stream(
    text: str | dict[str, Any],
    *,
    model: str = "claude-sonnet-5-5",
    input_tokens: int = 11,
    output_tokens: int = 7,
    stop_reason: str | None = "end_turn",
    chunk_chars: int = 64,
    first_delay: float = 0.0,
    delay: float = 0.0,
    thinking: str = "",
    error: str | None = None,
    drop: bool = False,
    ping_every: int = 0,
) -> Reply:
    """A streamed Messages answer. ``error`` (an error type such as ``overloaded_error``)
    ends the stream with an ``error`` event after the text; ``drop`` cuts the
    connection before ``message_stop``; ``stop_reason=None`` leaves message_delta out."""
    if not isinstance(text, str):
        text = json.dumps(text)
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_fake_stream",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    }
    chunks: list[tuple[float, bytes]] = [(first_delay, sse("message_start", start))]
    index = 0
    if thinking:
        block = {"type": "thinking", "thinking": "", "signature": ""}
        chunks.append((0.0, sse("content_block_start", _block_start(index, block))))
        for piece in pieces(thinking, chunk_chars):
            d = {"type": "thinking_delta", "thinking": piece}
            chunks.append((delay, sse("content_block_delta", _delta(index, d))))
        d = {"type": "signature_delta", "signature": "c2ln"}
        chunks.append((0.0, sse("content_block_delta", _delta(index, d))))
        stop = {"type": "content_block_stop", "index": index}
        chunks.append((0.0, sse("content_block_stop", stop)))
        index += 1
    block = {"type": "text", "text": ""}
    chunks.append((0.0, sse("content_block_start", _block_start(index, block))))
    for n, piece in enumerate(pieces(text, chunk_chars)):
        d = {"type": "text_delta", "text": piece}
        chunks.append((delay, sse("content_block_delta", _delta(index, d))))
        if ping_every and n % ping_every == 0:
            chunks.append((0.0, sse("ping", {"type": "ping"})))
    if error:
        body = {"type": "error", "error": {"type": error, "message": "Overloaded"}}
        chunks.append((0.0, sse("error", body)))
        return Reply(200, stream=chunks)
    chunks.append((0.0, sse("content_block_stop", {"type": "content_block_stop", "index": index})))
    if stop_reason is not None:
        md = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        }
        chunks.append((0.0, sse("message_delta", md)))
    if not drop:
        chunks.append((0.0, sse("message_stop", {"type": "message_stop"})))
    return Reply(200, stream=chunks, drop=drop)


def _block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def gemini_stream(
    text: str | dict[str, Any],
    *,
    model: str = "gemini-3.8-flash",
    prompt_tokens: int = 13,
    candidate_tokens: int = 17,
    thoughts_tokens: int = 0,
    thinking: str = "",
    finish_reason: str | None = "STOP",
    chunk_chars: int = 64,
    first_delay: float = 0.0,
    delay: float = 0.0,
    error_after: Reply | None = None,
    drop: bool = False,
) -> Reply:
    """``streamGenerateContent?alt=sse``: one GenerateContentResponse per event, counts
    cumulative, ``finishReason`` and the final usage on the last chunk. ``error_after``
    (a Gemini error Reply) is sent as a final ``data:`` chunk after the text."""
    if not isinstance(text, str):
        text = json.dumps(text)
    texts = pieces(text, chunk_chars)
    chunks: list[tuple[float, bytes]] = []
    if thinking:
        part = {"text": thinking, "thought": True}
        chunks.append((first_delay, _gemini_chunk(model, [part], prompt_tokens, 0, None)))
    for n, piece in enumerate(texts):
        last = n == len(texts) - 1 and error_after is None
        done = round(candidate_tokens * (n + 1) / len(texts))
        wait = first_delay if not chunks else delay
        reason = finish_reason if last else None
        thoughts = thoughts_tokens if last else 0
        body = _gemini_chunk(model, [{"text": piece}], prompt_tokens, done, reason, thoughts)
        chunks.append((wait, body))
    if error_after is not None:
        chunks.append((0.0, b"data: " + json.dumps(error_after.body).encode() + b"\r\n\r\n"))
    return Reply(200, stream=chunks, drop=drop)


def _gemini_chunk(
    model: str,
    parts: list[dict[str, Any]],
    prompt: int,
    cands: int,
    finish: str | None,
    thoughts: int = 0,
) -> bytes:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    usage: dict[str, Any] = {"promptTokenCount": prompt, "totalTokenCount": prompt + cands}
    if cands:
        usage["candidatesTokenCount"] = cands
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
        usage["totalTokenCount"] += thoughts
    body = {"candidates": [cand], "usageMetadata": usage, "modelVersion": model}
    return b"data: " + json.dumps(body).encode() + b"\r\n\r\n"


def realistic(
    text: str, *, first_token_s: float = 0.5, tokens_per_s: float = 100.0, scale: float = 1.0
) -> dict[str, Any]:
    """Stream timing of a real model (about 0.5 s to the first token, 60-150 tokens/s,
    4 characters a token), times ``scale`` (tests use a small scale, bench/ uses 1)."""
    chunk_chars = 40  # ~10 tokens an event, as the services send
    per_chunk = chunk_chars / 4 / tokens_per_s
    return {
        "chunk_chars": chunk_chars,
        "first_delay": first_token_s * scale,
        "delay": per_chunk * scale,
    }


# --------------------------------------------------------------------------- model lists
# Anthropic GET /v1/models; Gemini GET /v1beta/models (models.list)


def anthropic_models(
    *ids: str, lifecycle: dict[str, str] | None = None, has_more: bool = False
) -> Reply:
    data = [
        {
            "type": "model",
            "id": i,
            "display_name": i,
            "created_at": "2026-10-07T00:00:00Z",
            "lifecycle": (lifecycle or {}).get(i, "active"),
        }
        for i in ids
    ]
    first = ids[0] if ids else None
    last = ids[-1] if ids else None
    return Reply(200, {"data": data, "has_more": has_more, "first_id": first, "last_id": last})


def gemini_models(*names: str, next_page_token: str | None = None) -> Reply:
    models = [
        {
            "name": f"models/{n}",
            "version": "001",
            "displayName": n,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }
        for n in names
    ]
    body: dict[str, Any] = {"models": models}
    if next_page_token:
        body["nextPageToken"] = next_page_token
    return Reply(200, body)


# --------------------------------------------------------------------------- code answers


def code_answer(files: list[dict[str, str]], summary: str | None = None) -> str:
    """An answer in the codegen/fix file format (enginev2d.tasks.codefiles)."""
    header: dict[str, Any] = {}
    if summary is not None:
        header["summary"] = summary
    header["files"] = [f["path"] for f in files]
    blocks = "".join(f'<file path="{f["path"]}">\n{f["content"]}\n</file>\n' for f in files)
    return json.dumps(header) + "\n" + blocks
