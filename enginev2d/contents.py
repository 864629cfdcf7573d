"""File contents stored once: a job's ``code`` artifacts hold the text of its files;
task outputs and inputs name the artifact (``{"path", "artifact": id}``) instead of
repeating it. Without this a game's files were written six times per job (codegen's
output and artifacts, qa_review's and publish_prep's inputs, the partialResult event,
the v1 result); the event and ``job_runs.result`` keep theirs, because clients read them
as they are (design 13, 14).

The runner keeps a :class:`ContentIndex` of the artifacts its completions committed; a
takeover turns references back into text with :func:`resolve` (one query).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import SchedulerError
from .sql import load_queries

REF = "artifact"


def _code_file(row: Mapping[str, Any]) -> tuple[str, str] | None:
    content = row.get("content")
    if row.get("kind") != "code" or not isinstance(content, Mapping):
        return None
    path, text = content.get("path"), content.get("content")
    if isinstance(path, str) and isinstance(text, str):
        return path, text
    return None


class ContentIndex:
    """path -> (text, artifact id) of the job's code artifacts, the latest per path."""

    def __init__(self) -> None:
        self._by_path: dict[str, tuple[str, str]] = {}

    def stage(self, rows: Iterable[dict[str, Any]]) -> dict[str, tuple[str, str]]:
        """Entries for artifact rows about to be written (ids assigned here)."""
        staged: dict[str, tuple[str, str]] = {}
        for row in rows:
            found = _code_file(row)
            if found is not None:
                row.setdefault("id", str(uuid.uuid4()))
                staged[found[0]] = (found[1], str(row["id"]))
        return staged

    def commit(self, staged: Mapping[str, tuple[str, str]]) -> None:
        """The completion that wrote them committed: later documents may refer to them."""
        self._by_path.update(staged)

    def compact(
        self, doc: Mapping[str, Any] | None, staged: Mapping[str, tuple[str, str]] | None = None
    ) -> Mapping[str, Any] | None:
        """``doc`` with each file whose exact text an artifact holds as a reference."""
        files = doc.get("files") if isinstance(doc, Mapping) else None
        if not isinstance(files, list) or not files:
            return doc
        staged = staged or {}
        out: list[Any] = []
        for f in files:
            known = None
            if isinstance(f, Mapping) and isinstance(f.get("content"), str):
                known = staged.get(f.get("path")) or self._by_path.get(f.get("path"))
            if known is not None and (known[0] is f["content"] or known[0] == f["content"]):
                out.append({"path": f["path"], REF: known[1]})
            else:
                out.append(f)
        return {**doc, "files": out}  # type: ignore[dict-item]


def resolve(conn: Any, outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Outputs read back from the database with every reference replaced by its text."""
    ids = {
        f[REF]
        for o in outputs.values()
        for f in (o.get("files") or [] if isinstance(o, Mapping) else [])
        if isinstance(f, Mapping) and REF in f
    }
    if not ids:
        return {k: dict(v) for k, v in outputs.items()}
    rows = conn.execute(load_queries("scheduler")["artifact_texts"], {"ids": sorted(ids)})
    text = {str(r["id"]): r["text"] for r in rows.fetchall()}
    missing = ids - text.keys()
    if missing:  # a clear scheduler error, not a KeyError deep in a takeover
        raise SchedulerError(
            f"task outputs refer to {len(missing)} code artifact(s) that no longer exist"
        )

    def inline(f: Any) -> Any:
        if isinstance(f, Mapping) and REF in f:
            return {"path": f["path"], "content": text[f[REF]]}
        return f

    return {
        k: ({**o, "files": [inline(f) for f in o["files"]]} if o.get("files") else dict(o))
        for k, o in outputs.items()
    }
