"""progress.notified_jobs: reading the NOTIFY engine_v2_events hint (issue 17's payload,
the older one, and garbage)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enginev2d.progress import notified_jobs

A = "6f1c2d1e-7a43-4b0e-9a55-3f7f0c1d2e01"
B = "0b9e8d7c-6a5b-4c3d-8e2f-1a0b9c8d7e02"


def sql_payload(jobs: dict[str, int]) -> str:
    """The text sql/functions/15_notify.sql builds: format('"%s": %s') joined by ', '."""
    return '{"jobs": {' + ", ".join(f'"{j}": {s}' for j, s in jobs.items()) + "}}"


def test_the_daemon_payload_names_every_job_with_its_last_seq_in_order() -> None:
    got = notified_jobs(f'{{"jobs": {{"{A}": 7, "{B}": 1}}}}')
    assert got == {A: 7, B: 1}
    assert list(got) == [A, B]


def test_the_older_per_job_payload_is_still_read() -> None:
    assert notified_jobs(f'{{"job_id": "{A}", "seq": 3}}') == {A: 3}


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "not json",
        "--sentinel--",
        "null",
        "[1, 2]",
        "42",
        '"jobs"',
        "{}",
        '{"jobs": 5}',
        '{"jobs": ["x"]}',
        '{"jobs": null}',
        f'{{"job_id": "{A}"}}',
        f'{{"job_id": "{A}", "seq": "3"}}',
        f'{{"job_id": "{A}", "seq": 3.5}}',
        f'{{"job_id": "{A}", "seq": true}}',
        '{"job_id": 12, "seq": 3}',
        '{"seq": 3}',
    ],
)
def test_a_malformed_payload_names_nothing(payload: str) -> None:
    assert notified_jobs(payload) == {}


def test_only_the_malformed_entries_of_a_jobs_map_are_dropped() -> None:
    payload = json.dumps({"jobs": {A: 2, B: "2", "x": None}})
    assert notified_jobs(payload) == {A: 2}


JOB_SEQS = st.dictionaries(st.uuids().map(str), st.integers(1, 2**62), max_size=100)


@given(JOB_SEQS)
def test_any_payload_the_sql_builds_reads_back_exactly(jobs: dict[str, int]) -> None:
    assert notified_jobs(sql_payload(jobs)) == jobs


@given(st.text(max_size=200))
def test_any_text_gives_a_map_of_job_to_int_and_never_raises(text: str) -> None:
    got = notified_jobs(text)
    assert all(isinstance(k, str) and type(v) is int for k, v in got.items())
