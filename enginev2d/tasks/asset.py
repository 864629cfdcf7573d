"""asset: the plan's images, generated and written into staging (design 7.3).

``run`` generates ``image_count`` images (Vertex AI through the google provider, or the
offline provider's procedural PNGs) and keeps their bytes in memory under
``ctx.extra["_image_bytes"]`` (keys starting with ``_`` are never persisted); ``validate``
checks names and that the bytes really are images; ``apply`` writes them with
``ctx.staging.write_bytes`` and records one ``image`` artifact each (uri = the relative
path, metadata mime/bytes/model). An injected output carries no bytes: apply only
records the artifacts.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from .. import providers
from .base import TaskContext
from .prompts import image as image_prompt
from .schemas import (
    IMAGE_NAME,
    MAX_IMAGES,
    invalid,
    require_list,
    require_object,
    sniff_image,
    validate_image_specs,
)

KEY = "asset"
BYTES_KEY = "_image_bytes"


def build_input(ctx: TaskContext) -> dict[str, Any]:
    plan = dict(ctx.upstream.get("plan") or {})
    count = plan.get("image_count") or 0
    specs = validate_image_specs(KEY, plan.get("image_specs"), count, ctx.job.message[:500])
    return {"plan": plan, "image_specs": specs}


def run(ctx: TaskContext, task_input: dict[str, Any]) -> Any:
    plan, specs = task_input["plan"], task_input["image_specs"]
    name = providers.provider_for(ctx.config, KEY)
    data: dict[str, dict[str, Any]] = {}
    if name == "offline":
        pairs = providers.offline_provider().images(plan, specs) if specs else []
        ctx.record_usage("offline", images=len(pairs))
        for img_name, png in pairs:
            data[img_name] = {"data": png, "mime": sniff_image(png) or "", "model": "offline"}
    else:
        for spec in specs:
            ctx.check()
            reply = providers.call_image(
                ctx,
                name,
                prompt=image_prompt(spec, plan),
                width=spec["width"],
                height=spec["height"],
            )
            data[spec["name"]] = {"data": reply.data, "mime": reply.mime, "model": reply.model}
    ctx.extra[BYTES_KEY] = data
    return {"images": [{"name": n, "uri": n} for n in data]}


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR, or None when the header is broken."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


def validate(ctx: TaskContext, output: Any) -> dict[str, Any]:
    try:
        return _validate(ctx, output)
    except Exception:
        ctx.extra.pop(BYTES_KEY, None)
        raise


def _validate(ctx: TaskContext, output: Any) -> dict[str, Any]:
    obj = require_object(KEY, output)
    raw = require_list(KEY, obj, "images", max_items=MAX_IMAGES)
    data: dict[str, dict[str, Any]] | None = ctx.extra.get(BYTES_KEY)
    images: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        img = require_object(KEY, item, f"images[{i}]")
        name, uri = img.get("name"), img.get("uri")
        if not isinstance(name, str) or not IMAGE_NAME.match(name):
            raise invalid(KEY, f"images[{i}].name {name!r} is not like 'assets/player.png'")
        if not isinstance(uri, str) or not uri:
            raise invalid(KEY, f"images[{i}].uri must be a non-empty string")
        if name in seen:
            raise invalid(KEY, f"image {name!r} listed twice")
        seen.add(name)
        if data is not None:
            blob = data.get(name)
            if blob is None:
                raise invalid(KEY, f"no image data for {name!r}")
            kind = sniff_image(blob["data"])
            if kind is None or (kind == "image/png" and png_size(blob["data"]) is None):
                raise invalid(KEY, f"provider returned bytes that are not an image for {name!r}")
            if len(blob["data"]) > ctx.config.limits.max_file_bytes:
                raise invalid(KEY, f"image {name!r} is over the per-file size limit")
            blob["mime"] = kind
        images.append({"name": name, "uri": uri})
    return {"images": images}


def apply(ctx: TaskContext, output: dict[str, Any]) -> None:
    data: dict[str, dict[str, Any]] = ctx.extra.pop(BYTES_KEY, None) or {}
    for img in output["images"]:
        blob = data.get(img["name"])
        if blob is None:  # injected output: nothing to write
            ctx.add_artifact("image", uri=img["uri"], metadata={"injected": True})
            continue
        rel = ctx.staging.write_bytes(img["name"], blob["data"])
        # The bytes ride along in the artifact: staging is discarded and rebuilt when
        # another daemon takes the job over, and publish_prep restores them from here.
        ctx.add_artifact(
            "image",
            uri=rel,
            content={
                "name": img["name"],
                "uri": rel,
                "data_base64": base64.b64encode(blob["data"]).decode("ascii"),
            },
            metadata={"mime": blob["mime"], "bytes": len(blob["data"]), "model": blob["model"]},
        )
