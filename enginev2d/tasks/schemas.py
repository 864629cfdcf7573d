"""Schema checks for model answers (design 7.3 shapes).

Every failure is :class:`~enginev2d.errors.OutputInvalid` with a ``repair_hint`` written
for the model: the engine passes it to the next attempt's prompt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..config import LimitsConfig
from ..errors import OutputInvalid

MAX_TEXT = 4000  # summary, descriptions, hints, prompts
MAX_SKILLS = 20
MAX_SKILL_LEN = 64
MAX_IMAGES = 8
MAX_FINDINGS = 50
MIN_IMAGE_SIDE = 16
MAX_IMAGE_SIDE = 2048
DIMENSIONS = ("2d", "3d")
INTENTS = ("chat", "edit", "restore")
# The offline provider's levels (info, warning, error) plus critical; common synonyms map in.
SEVERITIES = ("info", "warning", "error", "critical")
BLOCKING_SEVERITIES = ("warning", "error", "critical")
SEVERITY_ALIASES = {
    "note": "info",
    "low": "warning",
    "minor": "warning",
    "warn": "warning",
    "medium": "warning",
    "high": "error",
    "major": "error",
    "blocker": "critical",
    "fatal": "critical",
}
TEMPLATE_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
IMAGE_NAME = re.compile(r"^assets/[A-Za-z0-9][A-Za-z0-9_\-]{0,63}\.png$")
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.S)

JSON_HINT = "Reply with exactly one JSON object and nothing else: no prose, no code fences."


def invalid(task: str, message: str, hint: str | None = None) -> OutputInvalid:
    return OutputInvalid(f"{task}: {message}", repair_hint=hint or f"Previous answer: {message}.")


# --------------------------------------------------------------------------- JSON


def parse_json(task: str, text: str, *, truncated: bool = False) -> Any:
    """The JSON object in a model's text: tolerates ```json fences and prose around it."""
    if not isinstance(text, str) or not text.strip():
        raise invalid(task, "empty answer", JSON_HINT)
    body = text.strip()
    m = _FENCE.match(body)
    if m:
        body = m.group(1).strip()
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        pass
    start, end = body.find("{"), body.rfind("}")
    if 0 <= start < end:
        try:
            return json.loads(body[start : end + 1])
        except json.JSONDecodeError:
            pass
    if truncated:
        raise invalid(
            task,
            "answer was cut off at the output token limit",
            "Your previous answer was too long and got cut off. Be more concise: shorter "
            "code, no comments, no unused features. " + JSON_HINT,
        )
    raise invalid(task, "answer is not valid JSON", JSON_HINT)


# --------------------------------------------------------------------------- fields


def require_object(task: str, value: Any, what: str = "output") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(task, f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def require_str(
    task: str,
    obj: Mapping[str, Any],
    key: str,
    *,
    max_len: int = MAX_TEXT,
    allow_empty: bool = False,
    where: str = "",
) -> str:
    name = f"{where}{key}"
    if key not in obj:
        raise invalid(task, f"missing required key {name!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise invalid(task, f"{name!r} must be a string")
    if not allow_empty and not value.strip():
        raise invalid(task, f"{name!r} must not be empty")
    if len(value) > max_len:
        raise invalid(task, f"{name!r} is longer than {max_len} characters")
    return value


def require_int(
    task: str, obj: Mapping[str, Any], key: str, *, lo: int = 0, hi: int | None = None
) -> int:
    if key not in obj:
        raise invalid(task, f"missing required key {key!r}")
    value = obj[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(task, f"{key!r} must be an integer")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise invalid(task, f"{key!r} must be {bound}, got {value}")
    return value


def require_enum(task: str, obj: Mapping[str, Any], key: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if key not in obj:
        raise invalid(task, f"missing required key {key!r}")
    value = obj[key]
    norm = value.strip().lower() if isinstance(value, str) else value
    if norm not in allowed:
        raise invalid(
            task,
            f"{key!r} must be one of {', '.join(allowed)}, got {value!r}",
            f"Set {key!r} to exactly one of: {', '.join(allowed)}.",
        )
    return norm


def require_list(
    task: str, obj: Mapping[str, Any], key: str, *, max_items: int, min_items: int = 0
) -> list[Any]:
    if key not in obj:
        raise invalid(task, f"missing required key {key!r}")
    value = obj[key]
    if not isinstance(value, list):
        raise invalid(task, f"{key!r} must be a list")
    if len(value) < min_items:
        raise invalid(task, f"{key!r} needs at least {min_items} item(s)")
    if len(value) > max_items:
        raise invalid(task, f"{key!r} has {len(value)} items, at most {max_items} allowed")
    return value


# --------------------------------------------------------------------------- files


def check_path(task: str, path: Any) -> str:
    """A model-supplied relative file path: no escape, no hidden git, no odd characters."""
    if not isinstance(path, str) or not path.strip():
        raise invalid(task, "every file needs a non-empty string 'path'")
    p = path.strip()
    hint = (
        "File paths must be relative paths inside the project like 'index.html' or "
        "'js/game.js': no leading '/', no '..', no backslashes, nothing under '.git'."
    )
    parts = p.split("/")
    if (
        p.startswith("/")
        or "\\" in p
        or "\x00" in p
        or ":" in parts[0]
        or any(part in ("", ".", "..") for part in parts)
        or any(part.lower() == ".git" for part in parts)
        or len(p) > 255
    ):
        raise invalid(task, f"unsafe file path {path!r}", hint)
    return p


def validate_files(
    task: str,
    obj: Mapping[str, Any],
    limits: LimitsConfig,
    *,
    min_items: int = 1,
    key: str = "files",
) -> list[dict[str, str]]:
    raw = require_list(task, obj, key, max_items=limits.max_files, min_items=min_items)
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    total = 0
    for i, item in enumerate(raw):
        f = require_object(task, item, f"{key}[{i}]")
        path = check_path(task, f.get("path"))
        content = f.get("content")
        if not isinstance(content, str):
            raise invalid(task, f"{key}[{i}] ({path}) needs a string 'content'")
        if path in seen:
            raise invalid(task, f"file {path!r} appears twice", "List every file once.")
        seen.add(path)
        size = len(content.encode("utf-8"))
        if size > limits.max_file_bytes:
            raise invalid(
                task,
                f"file {path!r} is {size} bytes, over the {limits.max_file_bytes} limit",
                "Keep every file smaller; split or simplify the code.",
            )
        total += size
        out.append({"path": path, "content": content})
    if total > limits.max_total_bytes:
        raise invalid(
            task,
            f"files total {total} bytes, over the {limits.max_total_bytes} limit",
            "Produce less code in total.",
        )
    return out


# --------------------------------------------------------------------------- images


def image_name(index: int) -> str:
    return f"assets/image_{index}.png"


def validate_image_specs(
    task: str, specs: Any, image_count: int, default_prompt: str
) -> list[dict[str, Any]]:
    """``image_count`` specs: the model's (checked), then derived ``assets/image_<i>.png``."""
    if specs is None:
        specs = []
    if not isinstance(specs, list):
        raise invalid(task, "'image_specs' must be a list")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, raw in enumerate(specs[:image_count]):
        s = require_object(task, raw, f"image_specs[{i}]")
        name = s.get("name")
        if not isinstance(name, str) or not IMAGE_NAME.match(name):
            raise invalid(
                task,
                f"image_specs[{i}].name {name!r} is not like 'assets/player.png'",
                "Name images 'assets/<name>.png' with letters, digits, '_' or '-' only.",
            )
        if name in names:
            raise invalid(task, f"image name {name!r} is used twice")
        names.add(name)
        prompt = s.get("prompt") or default_prompt
        if not isinstance(prompt, str):
            raise invalid(task, f"image_specs[{i}].prompt must be a string")
        spec = {"name": name, "prompt": prompt[:MAX_TEXT]}
        for side in ("width", "height"):
            v = s.get(side, 512)
            if isinstance(v, bool) or not isinstance(v, int):
                raise invalid(task, f"image_specs[{i}].{side} must be an integer")
            if not MIN_IMAGE_SIDE <= v <= MAX_IMAGE_SIDE:
                raise invalid(
                    task,
                    f"image_specs[{i}].{side} must be between {MIN_IMAGE_SIDE} and "
                    f"{MAX_IMAGE_SIDE}, got {v}",
                )
            spec[side] = v
        out.append(spec)
    i = 0
    while len(out) < image_count:
        name = image_name(i)
        i += 1
        if name in names:
            continue
        names.add(name)
        out.append({"name": name, "prompt": default_prompt, "width": 512, "height": 512})
    return out


IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)


def sniff_image(data: bytes) -> str | None:
    """The image type by magic bytes (PNG, JPEG, GIF, WEBP), or None."""
    for magic, mime in IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def normalize_severity(task: str, value: Any, where: str) -> str:
    v = value.strip().lower() if isinstance(value, str) else value
    v = SEVERITY_ALIASES.get(v, v)
    if v not in SEVERITIES:
        raise invalid(
            task,
            f"{where}.severity must be one of {', '.join(SEVERITIES)}, got {value!r}",
            f"Use a severity among: {', '.join(SEVERITIES)}.",
        )
    return v
