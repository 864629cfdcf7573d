"""asset: the plan's images, generated and written into staging (design 7.3).

``run`` generates ``image_count`` images concurrently, each through the task's route
(:func:`enginev2d.providers.draw`: a Gemini image model by default, the offline
provider's procedural PNGs, or Imagen on Vertex AI), so the task takes as long as its
slowest image, not the sum; the provider bounds how many images run at once across the
daemon (``providers.google.image_concurrency``). It keeps their bytes in memory under
``ctx.extra["_image_bytes"]`` (keys starting with ``_`` are never persisted); ``validate``
checks names and that the bytes really are images; ``apply`` writes them with
``ctx.staging.write_bytes`` and records one ``image`` artifact each (uri = the relative
path, metadata mime/bytes/model). An injected output carries no bytes: apply only
records the artifacts.
"""

from __future__ import annotations

import base64
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
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
    route = ctx.config.providers.chain(KEY)
    if all(step.provider == "offline" for step in route):
        pairs = providers.offline_provider().images(plan, specs) if specs else []
        ctx.record_usage("offline", images=len(pairs))
        ctx.extra[BYTES_KEY] = {
            name: {"data": png, "mime": sniff_image(png) or "", "model": "offline"}
            for name, png in pairs
        }
        return {"images": [{"name": n, "uri": n} for n, _ in pairs]}
    if not specs:
        ctx.extra[BYTES_KEY] = {}
        return {"images": []}
    drawn = _draw_all(ctx, plan, specs)
    ctx.extra[BYTES_KEY] = {spec["name"]: blob for spec, blob in zip(specs, drawn, strict=True)}
    return {"images": [{"name": s["name"], "uri": s["name"]} for s in specs]}


def _draw_all(
    ctx: TaskContext, plan: dict[str, Any], specs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every spec's image, one thread each, in spec order (the first error is raised)."""
    lock = threading.Lock()
    offline: dict[str, bytes] = {}

    def drawn_offline(name: str) -> tuple[bytes, str]:
        with lock:  # one pass draws every sprite (they share the palette)
            if not offline:
                offline.update(providers.offline_provider().images(plan, specs))
        png = offline[name]
        return png, sniff_image(png) or ""

    def one(spec: dict[str, Any]) -> dict[str, Any]:
        return providers.draw(
            ctx,
            prompt=image_prompt(spec, plan),
            width=spec["width"],
            height=spec["height"],
            offline=lambda: drawn_offline(spec["name"]),
            check=lambda data: image_kind(ctx, spec["name"], data),
        )

    with ThreadPoolExecutor(max_workers=len(specs), thread_name_prefix="asset") as pool:
        return list(pool.map(one, specs))


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR, or None when the header is broken."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


def image_kind(ctx: TaskContext, name: str, data: bytes) -> str:
    """The MIME type of image ``name``'s bytes; OutputInvalid when they are no usable
    image (checked as each image is drawn, so only that one is asked for again)."""
    kind = sniff_image(data)
    if kind is None or (kind == "image/png" and png_size(data) is None):
        raise invalid(KEY, f"provider returned bytes that are not an image for {name!r}")
    if len(data) > ctx.config.limits.max_file_bytes:
        raise invalid(KEY, f"image {name!r} is over the per-file size limit")
    return kind


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
            blob["mime"] = image_kind(ctx, name, blob["data"])
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
