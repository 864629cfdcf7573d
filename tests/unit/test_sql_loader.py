"""sql.parse_queries / load_queries: the named-queries file format."""

from __future__ import annotations

import pytest

from enginev2d.sql import load_queries, parse_queries, sql_root


def test_headers_split_blocks_and_bodies_are_stripped():
    text = """
-- preamble text before the first header is ignored
SELECT 'not a query';

-- claim_task: take one ready task
UPDATE t SET status = 'running'
 WHERE id = %(id)s
RETURNING id;

--finish_task:no space needed
UPDATE t SET status = 'done' WHERE id = %(id)s;
"""
    queries = parse_queries(text)
    assert list(queries) == ["claim_task", "finish_task"]
    assert queries["claim_task"] == (
        "UPDATE t SET status = 'running'\n WHERE id = %(id)s\nRETURNING id;"
    )
    assert queries["finish_task"] == "UPDATE t SET status = 'done' WHERE id = %(id)s;"


def test_ordinary_comments_stay_in_the_body():
    text = "-- q: x\nSELECT 1 -- trailing: comment\n-- TODO: not a header (upper case)\n;"
    assert parse_queries(text) == {
        "q": "SELECT 1 -- trailing: comment\n-- TODO: not a header (upper case)\n;"
    }


def test_duplicate_names_rejected():
    with pytest.raises(ValueError, match="'a' defined twice"):
        parse_queries("-- a: one\nSELECT 1;\n-- a: again\nSELECT 2;\n")


@pytest.mark.parametrize(
    "text",
    ["-- a: x\n", "-- a: x\n   \n\n", "-- a: x\n-- b: y\nSELECT 1;\n"],
)
def test_empty_query_rejected(text):
    with pytest.raises(ValueError, match="'a' is empty"):
        parse_queries(text)


def test_no_headers_means_no_queries():
    assert parse_queries("") == {}
    assert parse_queries("SELECT 1;\n") == {}


def test_header_names_are_identifiers():
    # Not headers: a digit first, upper case, no colon; they stay in the body.
    text = "-- q: x\n-- 1abc: no\n-- Name: no\n-- plain comment\nSELECT 1;"
    assert parse_queries(text) == {"q": "-- 1abc: no\n-- Name: no\n-- plain comment\nSELECT 1;"}


def test_sql_root_has_migrations():
    assert (sql_root() / "migrations" / "0001_engine_v2_schema.sql").is_file()


def test_every_shipped_queries_file_parses():
    files = sorted((sql_root() / "queries").glob("*.sql"))
    for path in files:
        queries = load_queries(path.stem)
        assert queries, path.name
        assert all(body.strip() for body in queries.values()), path.name


def test_load_queries_missing_file():
    with pytest.raises(FileNotFoundError):
        load_queries("no_such_queries_file")
