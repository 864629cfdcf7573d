"""Contents stored once: references replace exactly the texts an artifact holds."""

from __future__ import annotations

from enginev2d.contents import REF, ContentIndex


def code(path: str, text: str) -> dict:
    return {"kind": "code", "uri": path, "content": {"path": path, "content": text}}


def test_a_document_refers_to_staged_and_committed_artifacts_and_keeps_the_rest():
    index = ContentIndex()
    first = [code("index.html", "<html>1</html>"), {"kind": "image", "content": {"name": "a"}}]
    staged = index.stage(first)
    assert list(staged) == ["index.html"] and "id" in first[0] and "id" not in first[1]
    doc = {"files": [{"path": "index.html", "content": "<html>1</html>"}], "summary": "s"}
    assert index.compact(doc, staged) == {
        "files": [{"path": "index.html", REF: first[0]["id"]}], "summary": "s",
    }  # fmt: skip
    assert index.compact(doc) == doc  # not committed yet: nothing to refer to
    index.commit(staged)
    changed = {"files": [{"path": "index.html", "content": "<html>2</html>"}, {"path": "x.js"}]}
    assert index.compact(changed) == changed  # other text, or no text: kept as it is
    assert index.compact(doc)["files"][0] == {"path": "index.html", REF: first[0]["id"]}
    assert index.compact(None) is None and index.compact({"issues": 0}) == {"issues": 0}


class _Rows:
    def __init__(self, rows: list[dict]) -> None:
        self._rows = rows

    def execute(self, query: str, params: dict) -> _Rows:
        return self

    def fetchall(self) -> list[dict]:
        return self._rows


def test_resolve_inlines_references_and_names_missing_artifacts():
    import pytest

    from enginev2d.contents import resolve
    from enginev2d.errors import SchedulerError

    outputs = {"codegen": {"files": [{"path": "index.html", REF: "a1"}], "summary": "s"}}
    conn = _Rows([{"id": "a1", "text": "<html></html>"}])
    assert resolve(conn, outputs)["codegen"]["files"] == [
        {"path": "index.html", "content": "<html></html>"}
    ]
    with pytest.raises(SchedulerError, match="1 code artifact"):
        resolve(_Rows([]), outputs)
