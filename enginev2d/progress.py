"""Progressive display (design 13): event payloads and the resume API.

Events are written by the scheduler's SQL functions (``engine_v2._event``, the same rows
and per-job ``seq`` as ``engine_v2.emit_event``, with one ``job_runs`` update per call) in
the transaction of the state change they describe; every event's ``data`` carries
``type`` and (except ``fallback``) ``progress``. This module builds the one payload that
needs Python (``partialResult``: inline files up to ``limits.partial_inline_bytes``,
else per-file URIs naming stored artifact rows), reads events back for a client that
resumes after a disconnect, and reads the ``NOTIFY engine_v2_events`` hint that tells a
listener which jobs to read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .sql import load_queries

Q = load_queries("scheduler")

ARTIFACT_URI_PREFIX = "engine_v2://job_task_artifacts/"

# Event types and the keys of their data (besides `type` and `progress`).
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "jobSubmitted": ("mode",),
    "taskStarted": ("task_key", "label", "attempt"),
    "taskDone": ("task_key", "label", "attempt", "latency_ms"),
    "taskSkipped": ("task_key", "reason"),
    "taskRetry": ("task_key", "attempt", "next_attempt", "error"),
    "taskFailed": ("task_key", "attempt", "error"),
    "taskCanceled": ("task_key", "error_code"),
    "partialResult": ("task_key", "ref", "files", "total_bytes"),
    "dagDeadlock": ("error_code", "stuck"),
    "jobCompleted": (),
    "jobFailed": ("error_code", "message"),
    "jobCanceled": ("reason", "error_code"),
    "jobRetried": ("tasks",),
    "fallback": ("error_code", "job_id"),
}


def weighted_progress(tasks: Iterable[tuple[str, int]], *, succeeded: bool = False) -> int:
    """Python twin of ``engine_v2._refresh_progress``: floor of the weight share of
    tasks in a terminal state, capped at 99 until the job succeeded."""
    total = done = 0
    for status, weight in tasks:
        w = max(weight, 0)
        total += w
        if status in ("succeeded", "skipped", "failed", "canceled"):
            done += w
    if succeeded:
        return 100
    return min(99, 100 * done // total) if total else 0


def artifact_uri(artifact_id: str) -> str:
    return f"{ARTIFACT_URI_PREFIX}{artifact_id}"


@dataclass
class PartialResult:
    """The ``partialResult`` data and any artifact rows it references."""

    data: dict[str, Any]
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # extra rows to store


def _file_bytes(f: Mapping[str, Any]) -> int:
    content = f.get("content")
    if isinstance(content, str):
        return len(content.encode("utf-8"))
    return 0


def partial_result(
    files: list[Mapping[str, Any]] | None,
    *,
    inline_limit: int,
    task_artifacts: list[dict[str, Any]] | None = None,
) -> PartialResult | None:
    """Files inline when their total size is <= ``inline_limit`` bytes, else a URI per
    file. A URI names the task's own ``code`` artifact for that path when there is one
    (``task_artifacts`` rows get an ``id`` assigned here), otherwise a new
    ``partial_file`` artifact row holding the file is added."""
    files = [f for f in (files or []) if isinstance(f, Mapping) and f.get("path")]
    if not files:
        return None
    sizes = [_file_bytes(f) for f in files]  # utf-8 encoding of big contents: once
    total = sum(sizes)
    if total <= inline_limit:
        return PartialResult(
            {
                "ref": "inline",
                "files": [{"path": f["path"], "content": f.get("content", "")} for f in files],
                "total_bytes": total,
            }
        )
    by_path: dict[str, dict[str, Any]] = {}
    for a in task_artifacts or []:
        if a.get("kind") != "code":
            continue
        meta = a.get("metadata") or {}
        content = a.get("content")
        path = meta.get("path") or (content.get("path") if isinstance(content, Mapping) else None)
        if path and path not in by_path:
            by_path[path] = a
    extra: list[dict[str, Any]] = []
    refs = []
    for f, size in zip(files, sizes, strict=True):
        row = by_path.get(f["path"])
        if row is None:
            row = {
                "kind": "partial_file",
                "uri": None,
                "content": {"path": f["path"], "content": f.get("content", "")},
                "metadata": {"path": f["path"], "bytes": size},
            }
            extra.append(row)
        row.setdefault("id", str(uuid.uuid4()))
        refs.append({"path": f["path"], "bytes": size, "uri": artifact_uri(row["id"])})
    return PartialResult({"ref": "uri", "files": refs, "total_bytes": total}, extra)


def events_after(conn: Any, job_id: str, seq: int = 0) -> list[dict[str, Any]]:
    """Events of ``job_id`` with ``seq > seq``, in order (the resume API)."""
    cur = conn.execute(Q["events_after"], {"job_id": job_id, "seq": seq})
    rows = cur.fetchall()
    if rows and not isinstance(rows[0], Mapping):
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in rows]
    return [dict(r) for r in rows]


def notified_jobs(payload: str) -> dict[str, int]:
    """The jobs a ``NOTIFY engine_v2_events`` payload names, as ``{job_id: last seq}``.

    The daemon sends ``{"jobs": {"<job_id>": <last seq>, ...}}``, one notification per
    committing transaction (issue 17); a daemon from before it sent
    ``{"job_id": "<job_id>", "seq": N}`` per job, which is read too (a rolling upgrade).
    A notification is only a hint, so anything malformed (not JSON, another shape, a
    non-integer seq) names nothing rather than raising: the listener's safety poll
    catches the job up anyway.
    """
    try:
        hint = json.loads(payload)
    except (TypeError, ValueError):
        return {}
    if not isinstance(hint, dict):
        return {}
    jobs = hint.get("jobs")
    if isinstance(jobs, dict):
        named = list(jobs.items())
    elif "job_id" in hint:
        named = [(hint["job_id"], hint.get("seq"))]
    else:
        return {}
    return {
        job: seq
        for job, seq in named
        if isinstance(job, str) and isinstance(seq, int) and not isinstance(seq, bool)
    }
