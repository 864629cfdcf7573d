"""bench/row_floor.py's writers leave what the engine would: every job finished with all
seven tasks succeeded, gapless events, ``public.jobs`` completed. A floor that wrote less
would measure less than the contract costs."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from bench import row_floor
from enginev2d import scheduler
from enginev2d.config import load_config
from enginev2d.workflow import DEFAULT_WORKFLOW


def _state(conn: psycopg.Connection[Any], jobs: list[str]) -> dict[str, Any]:
    q = """
    SELECT r.status AS run, j.status AS host,
           (SELECT array_agg(t.status ORDER BY t.position) FROM engine_v2.job_tasks t
             WHERE t.job_id = r.job_id) AS tasks,
           (SELECT array_agg(e.seq ORDER BY e.seq) FROM engine_v2.job_task_events e
             WHERE e.job_id = r.job_id) AS seqs,
           (SELECT array_agg(a.status) FROM engine_v2.job_task_attempts a
              JOIN engine_v2.job_tasks t ON t.id = a.task_id WHERE t.job_id = r.job_id)
             AS attempts,
           r.event_seq
      FROM engine_v2.job_runs r JOIN public.jobs j ON j.id = r.job_id
     WHERE r.job_id = ANY (%s::uuid[])
    """
    return {str(i): row for i, row in enumerate(conn.execute(q, (jobs,)).fetchall())}


@pytest.mark.parametrize(
    "writer",
    [
        row_floor.write_whole,
        row_floor.write_engine,
        functools.partial(row_floor.write_engine, bodies=True),  # row 2d: the real bodies
    ],
)
def test_a_floor_writer_finishes_every_job_as_the_contract_says(conn, db_url, writer) -> None:
    jobs = row_floor.submit(db_url, row_floor.BATCH + 3)  # one full group and one partial
    commits = writer(db_url, jobs)
    state = _state(conn, jobs)
    assert len(state) == len(jobs)
    for row in state.values():
        assert row["run"] == "succeeded"
        assert row["host"] == "completed"
        assert row["tasks"] == ["succeeded"] * 7
        assert row["attempts"] == ["succeeded"] * 7
        assert row["seqs"] == list(range(1, row["event_seq"] + 1))  # gapless, in order
    assert commits >= 2 * 8  # two groups, at least claim + start + 6 steps each


def test_the_engine_writer_batches_the_jobs_of_a_group(conn, db_url) -> None:
    jobs = row_floor.submit(db_url, row_floor.BATCH)
    row_floor.write_engine(db_url, jobs)
    per_commit = conn.execute(
        """SELECT count(*) AS n FROM engine_v2.job_task_attempts a
             JOIN engine_v2.job_tasks t ON t.id = a.task_id
            WHERE t.job_id = ANY (%s::uuid[]) GROUP BY a.xmin::text""",
        (jobs,),
    ).fetchall()
    assert max(r["n"] for r in per_commit) >= row_floor.BATCH  # one commit closes 8+


def _rows_per_job(db_url: str, writer: Any) -> dict[str, tuple[float, float]]:
    """(inserted, updated) per job and table, by the database's own counters."""
    jobs = row_floor.submit(db_url, row_floor.BATCH + 1)
    before = row_floor.written(db_url)["tables"]
    writer(db_url, jobs)
    after = row_floor.written(db_url)["tables"]
    return {
        t: ((ins - before[t][0]) / len(jobs), (upd - before[t][1]) / len(jobs))
        for t, (ins, upd) in after.items()
    }


def test_the_engine_writes_the_rows_of_the_contract_and_hardly_more(db_url) -> None:
    """Issue 17's "less per task": measured by the database's own counters, the engine's
    SQL writes per job what the floor writes (the contract's rows), apart from one
    artifact per extra code file, one more update of the job's row and one update of a
    task's fewer."""
    floor = _rows_per_job(db_url, row_floor.write_whole)
    engine = _rows_per_job(db_url, row_floor.write_engine)
    same = ["job_task_events", "job_task_attempts", "job_task_dependencies", "jobs"]
    assert {t: engine[t] for t in same} == {t: floor[t] for t in same}
    assert floor["job_task_events"][0] > 0 and floor["job_task_attempts"] == (7, 7)
    # the floor stores codegen's output as one artifact; the engine, as the daemon
    # does, one per file of codegen and of fix
    files = sum(len(row_floor.INJECT_OUTPUTS[k]["files"]) for k in ("codegen", "fix"))
    assert engine["job_task_artifacts"] == (floor["job_task_artifacts"][0] + files - 1, 0)
    ins, upd = floor["job_tasks"]
    # the claim's start inserts the first task running (the floor inserts it, then claims it)
    assert engine["job_tasks"] == (ins, upd - 1) == (7, 13)
    assert engine["job_runs"] == (floor["job_runs"][0], floor["job_runs"][1] + 1)


SEQ_SCANS = """
SELECT coalesce(sum(seq_scan), 0) AS n FROM pg_stat_user_tables WHERE schemaname = 'engine_v2'
"""


@pytest.mark.parametrize("start", ["batch_item", "claim"])
def test_a_batch_reads_rows_by_key_even_when_planned_on_empty_tables(conn, db_url, start) -> None:
    """A connection keeps the plans of the batch's statements (generic plans). Made on a
    fresh install's tiny tables, a scan of a whole table looks cheapest, and it would stay
    as the tables grow. Every statement of a batch, and its commit's NOTIFY, must read by
    key whatever the tables held when it was planned: no sequential scan at all. The jobs
    start as start items of a batch (a runner's own start) or as the claim starts them
    (``start_jobs``)."""
    jobs = row_floor.submit(db_url, row_floor.BATCH)
    cfg = load_config(env={}, overrides={"database": {"url": db_url}})
    scans: list[int] = []
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as writer:

        @contextmanager
        def counted() -> Iterator[None]:
            row_floor.flush_stats(writer)
            before = writer.execute(SEQ_SCANS).fetchone()["n"]
            yield  # the batch, its commit and the commit's NOTIFY trigger
            row_floor.flush_stats(writer)
            scans.append(writer.execute(SEQ_SCANS).fetchone()["n"] - before)

        writer.execute(
            "UPDATE engine_v2.job_runs SET owner = %s, claimed_at = now() WHERE job_id = ANY(%s)",
            (row_floor.OWNER, jobs),
        )
        started = None
        if start == "claim":
            with counted():
                started = scheduler.start_many(
                    writer, cfg, jobs, row_floor.OWNER, DEFAULT_WORKFLOW, more=2
                ).steps
        row_floor.run_group(writer, cfg, jobs, counted, started=started)
    assert len(scans) >= 6  # start, then the DAG's steps
    assert sum(scans) == 0
    assert [r["run"] for r in _state(conn, jobs).values()] == ["succeeded"] * len(jobs)
