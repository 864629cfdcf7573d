"""Local fake HTTP servers that speak the model providers' real wire formats.

Reusable by any test: see :mod:`tests.fakes.server` (the server) and
:mod:`tests.fakes.wire` (reply bodies for Anthropic, Gemini, Vertex Imagen and Modal,
streamed answers and model lists included).
"""

from .server import FakeServer, Recorded, Reply
from .wire import (
    anthropic_error,
    anthropic_message,
    anthropic_models,
    anthropic_not_found,
    anthropic_stream,
    code_answer,
    gemini_blocked,
    gemini_error,
    gemini_image,
    gemini_models,
    gemini_not_found,
    gemini_rate_limited,
    gemini_stream,
    gemini_text,
    imagen_predict,
    modal_error,
    modal_text,
    realistic,
    tiny_png,
)

__all__ = [
    "FakeServer",
    "Recorded",
    "Reply",
    "anthropic_error",
    "anthropic_message",
    "anthropic_models",
    "anthropic_not_found",
    "anthropic_stream",
    "code_answer",
    "gemini_blocked",
    "gemini_error",
    "gemini_image",
    "gemini_models",
    "gemini_not_found",
    "gemini_rate_limited",
    "gemini_stream",
    "gemini_text",
    "imagen_predict",
    "modal_error",
    "modal_text",
    "realistic",
    "tiny_png",
]
