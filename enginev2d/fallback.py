"""v1 compatibility and fallback signalling (design 9, 14, 15).

* :func:`validate_output` / :func:`to_v1_response`: design 14, with the exact v1 shape
  ``{"type": "completed", "files": [{path, content}], "images": [{name, uri}], "summary"}``.
* :func:`job_result`: that response for a finished job, read from its artifacts; the
  engine builds it (:func:`job_result_rows`, :func:`result_from_rows`, several jobs
  in one read) inside the transaction that marks the run succeeded.
* :func:`notify_fallback`: the optional webhook, in a daemon thread, retried with
  backoff, never blocking the caller. The primary fallback signal is the ``fallback``
  event and its NOTIFY, written by the engine in the failing transaction.

Artifact shapes accepted (what the task bodies record)::

    code:  content={"path": p, "content": text}  (or uri=p / metadata.path=p, content=text)
    image: content={"name": n, "uri": u}         (or metadata.name=n / only uri=u, as name too)
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import requests
from psycopg.rows import dict_row

from . import backoff
from .sql import load_queries

if TYPE_CHECKING:
    import psycopg

    from .config import Config

logger = logging.getLogger(__name__)


def _is_file(f: Any) -> bool:
    return (
        isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("content"), str)
    )


def validate_output(result: Any) -> bool:
    """Design 14: files present, one of them ``index.html``, a non-empty summary.

    Stricter than the design's JS in one respect: every file must be a
    ``{path: str, content: str}`` object and ``images``, when present, a list of
    ``{name: str, uri: str}``; v1's frontend would otherwise receive garbage.
    """
    if not isinstance(result, dict):
        return False
    files = result.get("files")
    summary = result.get("summary")
    if not files or not isinstance(files, list) or not all(_is_file(f) for f in files):
        return False
    if not isinstance(summary, str) or not summary.strip():
        return False
    images = result.get("images", [])
    if images is None:
        images = []
    if not isinstance(images, list) or not all(
        isinstance(i, dict) and isinstance(i.get("name"), str) and isinstance(i.get("uri"), str)
        for i in images
    ):
        return False
    return any(f["path"] == "index.html" for f in files)


def _code_entry(a: dict[str, Any]) -> dict[str, str] | None:
    content = a.get("content")
    meta = a.get("metadata") or {}
    if isinstance(content, dict):
        path, text = content.get("path"), content.get("content")
    else:
        path, text = a.get("path") or meta.get("path") or a.get("uri"), content
    if isinstance(path, str) and isinstance(text, str):
        return {"path": path, "content": text}
    return None


def _image_entry(a: dict[str, Any]) -> dict[str, str] | None:
    content = a.get("content")
    meta = a.get("metadata") or {}
    if isinstance(content, dict):
        name, uri = content.get("name"), content.get("uri") or a.get("uri")
    else:
        name, uri = a.get("name") or meta.get("name") or a.get("uri"), a.get("uri")
    if isinstance(name, str) and isinstance(uri, str):
        return {"name": name, "uri": uri}
    return None


def to_v1_response(v2_result: dict[str, Any]) -> dict[str, Any]:
    """Design 14: ``{type: 'completed', files, images, summary}`` from ``artifacts``.

    Files are ``{path, content}`` and images ``{name, uri}`` exactly (artifact rows are
    reduced to those keys; malformed ones are dropped).
    """
    artifacts = v2_result.get("artifacts") or []
    files = [e for a in artifacts if a.get("kind") == "code" if (e := _code_entry(a))]
    images = [e for a in artifacts if a.get("kind") == "image" if (e := _image_entry(a))]
    return {
        "type": "completed",
        "files": files,
        "images": images,
        "summary": v2_result.get("summary"),
    }


def job_result(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any]:
    """The v1-shaped response of a finished job, from its artifacts and outputs.

    Files: the latest ``code`` artifact per path, fix over codegen. A restore job
    (intent ``restore``) answers with publish_prep's artifacts (the restored tree) and
    its summary. Images: the latest ``image`` artifact per name.
    """
    return result_from_rows(job_result_rows(conn, [job_id]).get(job_id) or {})


def job_result_rows(conn: psycopg.Connection[Any], job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What the responses of ``job_ids`` are made of (outputs, files, images), by job,
    in one statement: a batch that ends several jobs reads them in one round trip."""
    query = load_queries("publish")["job_result_rows"]
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, {"job_ids": job_ids}).fetchall()
    return {row.pop("job_id"): row for row in rows}


def result_from_rows(parts: dict[str, Any]) -> dict[str, Any]:
    """:func:`job_result` from one job's :func:`job_result_rows`."""
    outputs = {k: v or {} for k, v in (parts.get("outputs") or {}).items()}
    artifacts: list[dict[str, Any]] = [
        {"kind": "code", "content": f} for f in parts.get("code") or []
    ] + [{"kind": "image", "content": i} for i in parts.get("images") or []]
    if parts.get("restore"):
        summary = (outputs.get("publish_prep") or {}).get("summary")
    else:
        summary = (outputs.get("codegen") or {}).get("summary") or (outputs.get("fix") or {}).get(
            "summary"
        )
    return to_v1_response({"artifacts": artifacts, "summary": summary})


# --------------------------------------------------------------------------- webhook


class _WebhookFailed(Exception):
    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


def _post_once(url: str, payload: dict[str, Any], timeout_s: float) -> bool:
    try:
        resp = requests.post(url, json=payload, timeout=timeout_s)
    except requests.RequestException as exc:
        raise _WebhookFailed(type(exc).__name__, True) from exc
    if resp.status_code >= 300:
        retryable = resp.status_code in (408, 425, 429) or resp.status_code >= 500
        raise _WebhookFailed(f"HTTP {resp.status_code}", retryable)
    return True


def _post_with_retries(
    url: str,
    payload: dict[str, Any],
    *,
    timeout_s: float,
    retries: int,
    backoff_s: float,
) -> bool:
    tries = {"n": 1}

    def counted(exc: Exception, retry: int, delay: float) -> None:
        tries["n"] = retry + 1

    try:
        backoff.retry(
            lambda: _post_once(url, payload, timeout_s),
            retries=retries,
            backoff=backoff.Backoff(initial_s=backoff_s, max_s=backoff_s * 64, jitter=0.0),
            should_retry=lambda e: isinstance(e, _WebhookFailed) and e.retryable,
            on_retry=counted,
        )
    except _WebhookFailed as exc:
        logger.warning(
            "fallback webhook given up after %d attempt(s): %s",
            tries["n"],
            exc,
            extra={"action": "fallback_webhook_failed", "job_id": payload["job_id"]},
        )
        return False
    logger.info(
        "fallback webhook delivered",
        extra={"action": "fallback_webhook", "job_id": payload["job_id"]},
    )
    return True


def notify_fallback(
    cfg: Config, job_id: str, error_code: str, *, backoff_s: float = 0.5
) -> threading.Thread | None:
    """POST ``{"type": "fallback", "job_id", "error_code"}`` to
    ``publish.fallback_webhook_url`` (if set) from a daemon thread: up to
    ``1 + fallback_webhook_retries`` attempts, exponential backoff from ``backoff_s``,
    retrying connection errors, timeouts, 408/425/429 and 5xx. Returns at once (the
    thread, for tests to join; callers may ignore it)."""
    url = cfg.publish.fallback_webhook_url
    if not url:
        return None
    payload = {"type": "fallback", "job_id": str(job_id), "error_code": error_code}
    thread = threading.Thread(
        target=_post_with_retries,
        args=(url, payload),
        kwargs={
            "timeout_s": cfg.publish.fallback_webhook_timeout_s,
            "retries": cfg.publish.fallback_webhook_retries,
            "backoff_s": backoff_s,
        },
        name=f"fallback-webhook-{job_id}",
        daemon=True,
    )
    thread.start()
    return thread
