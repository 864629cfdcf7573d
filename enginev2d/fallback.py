"""v1 compatibility and fallback signalling (design 9, 14, 15). Interface stub: the
publish issue implements it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from .config import Config


def validate_output(result: Any) -> bool:
    """Design 14: files present, one of them index.html, a summary."""
    if not result or not result.get("files") or not result.get("summary"):
        return False
    return any(f.get("path") == "index.html" for f in result["files"])


def to_v1_response(v2_result: dict[str, Any]) -> dict[str, Any]:
    """Design 14: the exact v1 response shape."""
    artifacts = v2_result.get("artifacts", [])
    return {
        "type": "completed",
        "files": [a for a in artifacts if a.get("kind") == "code"],
        "images": [a for a in artifacts if a.get("kind") == "image"],
        "summary": v2_result.get("summary"),
    }


def job_result(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any]:
    """The v1-shaped response of a finished job, built from its artifacts and outputs."""
    raise NotImplementedError


def notify_fallback(cfg: Config, job_id: str, error_code: str) -> None:
    """Out-of-band fallback signal (optional webhook); never blocks the caller."""
    return None
