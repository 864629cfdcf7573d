"""engine_v2.submit_job, the Node server's intake contract, and the NOTIFY contract.

Notifications are checked without sleeping: after the action under test, a sentinel
NOTIFY is committed; PostgreSQL delivers notifications in commit order, so everything
the action sent arrives before the sentinel and nothing after it can be confused with it.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.types.json import Jsonb

from tests.waiting import drain_notifies

# --------------------------------------------------------------------------- helpers


def _host_job(conn: psycopg.Connection[Any], user_id: str | None = None) -> tuple[str, str]:
    job_id, user_id = str(uuid.uuid4()), user_id or str(uuid.uuid4())
    conn.execute(
        "INSERT INTO public.jobs (id, user_id, project_id) VALUES (%s, %s, 'proj')",
        (job_id, user_id),
    )
    return job_id, user_id


def _submit(
    conn: psycopg.Connection[Any],
    job_id: str | None,
    user_id: str | None,
    message: str | None = "make a game",
    options: Any = None,
    project_id: str = "proj",
) -> bool:
    if options is None:
        row = conn.execute(
            "SELECT engine_v2.submit_job(%s, %s, %s, %s) AS r",
            (job_id, user_id, project_id, message),
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT engine_v2.submit_job(%s, %s, %s, %s, %s) AS r",
            (job_id, user_id, project_id, message, Jsonb(options)),
        ).fetchone()
    return row["r"]


@pytest.fixture
def listener(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("LISTEN engine_v2_jobs")
        c.execute("LISTEN engine_v2_events")
        yield c


def _drain(listener: psycopg.Connection[Any], db_url: str) -> list[tuple[str, Any]]:
    """Everything delivered before a freshly committed sentinel, as (channel, json)."""
    return [(ch, json.loads(p)) for ch, p in _drain_raw(listener, db_url)]


def _drain_raw(listener: psycopg.Connection[Any], db_url: str) -> list[tuple[str, str]]:
    """Everything delivered before a freshly committed sentinel, as (channel, text)."""
    return [(n.channel, n.payload) for n in drain_notifies(listener, db_url, "engine_v2_jobs")]


def _events_notified(listener: psycopg.Connection[Any], db_url: str) -> list[str]:
    """The engine_v2_events payloads delivered before a freshly committed sentinel."""
    return [p for ch, p in _drain_raw(listener, db_url) if ch == "engine_v2_events"]


def _jobs_text(jobs: dict[str, int]) -> str:
    """The exact engine_v2_events payload the README documents for ``jobs``, in order."""
    return '{"jobs": {' + ", ".join(f'"{j}": {s}' for j, s in jobs.items()) + "}}"


def _run(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)).fetchone()


def _events(conn: psycopg.Connection[Any], job_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT seq, event_type, task_id, data FROM engine_v2.job_task_events"
        " WHERE job_id = %s ORDER BY seq",
        (job_id,),
    ).fetchall()


# --------------------------------------------------------------------------- validation

INVALID_OPTIONS = [
    # (options, word the message must name)
    ({"foo": 1}, '"foo"'),
    ({"mode": "live", "priority": "high"}, '"priority"'),
    ({"mode": "dry"}, "mode"),
    ({"mode": "LIVE"}, "mode"),
    ({"mode": ""}, "mode"),
    ({"mode": 1}, "mode"),
    ({"mode": True}, "mode"),
    ({"mode": None}, "mode"),
    ({"mode": ["live"]}, "mode"),
    ({"inject": []}, "inject"),
    ({"inject": "plan"}, "inject"),
    ({"inject": {"deploy": {}}}, '"deploy"'),
    ({"inject": {"plan": 3}}, "inject.plan"),
    ({"inject": {"plan": {"crash": 1}}}, "inject.plan.crash"),
    ({"inject": {"plan": {"fail_times": -1}}}, "inject.plan.fail_times"),
    ({"inject": {"plan": {"fail_times": 1.5}}}, "inject.plan.fail_times"),
    ({"inject": {"plan": {"fail_times": "2"}}}, "inject.plan.fail_times"),
    ({"inject": {"plan": {"fail_times": True}}}, "inject.plan.fail_times"),
    ({"inject": {"plan": {"fail_times": None}}}, "inject.plan.fail_times"),
    ({"inject": {"codegen": {"latency_ms": -5}}}, "inject.codegen.latency_ms"),
    ({"inject": {"codegen": {"latency_ms": "slow"}}}, "inject.codegen.latency_ms"),
    ({"inject": {"intent": {"output": "text"}}}, "inject.intent.output"),
    ({"inject": {"intent": {"output": [1, 2]}}}, "inject.intent.output"),
    ({"inject": {"intent": {"output": None}}}, "inject.intent.output"),
    ([], "p_options"),
    ("live", "p_options"),
    (3, "p_options"),
]


def test_invalid_options_raise_22023_naming_the_key(conn):
    job_id, user_id = _host_job(conn)
    for options, named in INVALID_OPTIONS:
        with pytest.raises(psycopg.Error) as info:
            _submit(conn, job_id, user_id, options=options)
        assert info.value.sqlstate == "22023", (options, info.value.sqlstate, str(info.value))
        assert named in info.value.diag.message_primary, (options, str(info.value))
    # Nothing of any rejected call was written.
    assert _run(conn, job_id) is None
    assert _events(conn, job_id) == []


def test_missing_message_is_22023(conn):
    job_id, user_id = _host_job(conn)
    for message in (None, "", "   ", "\t\n", " \r\n\t "):
        with pytest.raises(psycopg.Error, match="p_message") as info:
            _submit(conn, job_id, user_id, message=message)
        assert info.value.sqlstate == "22023", repr(message)
    assert _run(conn, job_id) is None
    assert _submit(conn, job_id, user_id, message=" x ") is True


def test_missing_job_id_is_22023(conn):
    with pytest.raises(psycopg.Error, match="p_job_id") as info:
        _submit(conn, None, str(uuid.uuid4()))
    assert info.value.sqlstate == "22023"


def test_missing_public_jobs_row_is_23503(conn):
    job_id = str(uuid.uuid4())
    with pytest.raises(errors.ForeignKeyViolation, match=job_id) as info:
        _submit(conn, job_id, str(uuid.uuid4()))
    assert info.value.sqlstate == "23503"


def test_user_mismatch_is_42501(conn):
    job_id, _owner = _host_job(conn)
    stranger = str(uuid.uuid4())
    with pytest.raises(errors.InsufficientPrivilege, match="does not own") as info:
        _submit(conn, job_id, stranger)
    assert info.value.sqlstate == "42501"
    with pytest.raises(errors.InsufficientPrivilege):
        _submit(conn, job_id, None)
    assert _run(conn, job_id) is None


VALID_OPTIONS = [
    None,
    {},
    {"mode": "live"},
    {"mode": "shadow"},
    {"inject": {}},
    {
        "mode": "shadow",
        "inject": {
            "plan": {"fail_times": 2, "latency_ms": 0},
            "codegen": {"output": {"files": {"index.html": "<p>hi</p>"}}},
            "qa_review": {"fail_times": 0, "latency_ms": 1500, "output": {}},
            "publish_prep": {},
        },
    },
    {"inject": {"fix": {"fail_times": 1.0}}},  # an integral number is an integer
]


def test_valid_submission_stores_request_and_starts_run(conn):
    for options in VALID_OPTIONS:
        job_id, user_id = _host_job(conn)
        assert _submit(conn, job_id, user_id, "neon snake", options, project_id="p-42") is True
        run = _run(conn, job_id)
        assert run["status"] == "running"
        assert run["engine_version"] == "v2"
        assert run["user_id"] == uuid.UUID(user_id)
        assert run["project_id"] == "p-42"
        assert run["message"] == "neon snake"
        assert run["mode"] == ((options or {}).get("mode") or "live")
        assert run["options"] == (options or {})  # stored as given
        assert run["event_seq"] == 1
        assert run["finished_at"] is None
        assert _events(conn, job_id) == [
            {
                "seq": 1,
                "event_type": "jobSubmitted",
                "task_id": None,
                "data": {"type": "jobSubmitted", "mode": run["mode"], "progress": 0},
            }
        ], options


def test_null_options_mean_defaults(conn):
    job_id, user_id = _host_job(conn)
    row = conn.execute(
        "SELECT engine_v2.submit_job(%s, %s, 'p', 'm', NULL) AS r", (job_id, user_id)
    ).fetchone()
    assert row["r"] is True
    run = _run(conn, job_id)
    assert (run["mode"], run["options"]) == ("live", {})


def test_job_without_owner_accepts_any_user(conn):
    job_id = str(uuid.uuid4())
    conn.execute("INSERT INTO public.jobs (id, user_id) VALUES (%s, NULL)", (job_id,))
    assert _submit(conn, job_id, str(uuid.uuid4())) is True


# --------------------------------------------------------------------------- idempotence


def test_second_submit_is_a_noop(conn, listener, db_url):
    job_id, user_id = _host_job(conn)
    assert _submit(conn, job_id, user_id, "first", {"mode": "shadow"}) is True
    first = _drain(listener, db_url)
    assert sorted(first, key=repr) == sorted(
        [
            ("engine_v2_events", {"jobs": {job_id: 1}}),
            ("engine_v2_jobs", {"job_id": job_id}),
        ],
        key=repr,
    )
    before = _run(conn, job_id)
    # Same call, then a different request for the same job: neither starts a run.
    assert _submit(conn, job_id, user_id, "first", {"mode": "shadow"}) is False
    assert _submit(conn, job_id, user_id, "second", {"mode": "live"}) is False
    assert _drain(listener, db_url) == []  # no second NOTIFY of either kind
    assert _run(conn, job_id) == before  # nothing overwritten, not even updated_at
    count = conn.execute(
        "SELECT count(*) AS n FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)
    ).fetchone()
    assert count["n"] == 1
    assert [e["seq"] for e in _events(conn, job_id)] == [1]


def test_concurrent_submits_create_exactly_one_run(db_url, conn):
    job_id, user_id = _host_job(conn)
    n = 4
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            barrier.wait()
            try:
                results[i] = c.execute(
                    "SELECT engine_v2.submit_job(%s, %s, 'p', 'm')", (job_id, user_id)
                ).fetchone()[0]
            except psycopg.Error as exc:
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results, key=repr) == [False] * (n - 1) + [True]
    assert [e["seq"] for e in _events(conn, job_id)] == [1]


# --------------------------------------------------------------------------- NOTIFY


def test_one_job_notify_payloads_are_exact_and_sent_at_commit(db_url, listener):
    with psycopg.connect(db_url, row_factory=psycopg.rows.dict_row) as tx:  # not autocommit
        job_id, user_id = _host_job(tx)
        assert _submit(tx, job_id, user_id) is True
        assert _drain(listener, db_url) == []  # still open: nothing delivered yet
        tx.commit()
    got = _drain_raw(listener, db_url)
    # Byte for byte the README's contract, for both channels: one events notification.
    assert sorted(got) == [
        ("engine_v2_events", f'{{"jobs": {{"{job_id}": 1}}}}'),
        ("engine_v2_jobs", f'{{"job_id": "{job_id}"}}'),
    ]


def test_no_notify_when_the_submitting_transaction_rolls_back(db_url, listener, conn):
    with psycopg.connect(db_url, row_factory=psycopg.rows.dict_row) as tx:
        job_id, user_id = _host_job(tx)
        assert _submit(tx, job_id, user_id) is True
        tx.rollback()
    assert _drain(listener, db_url) == []
    # The job can still be submitted afterwards.
    job_id, user_id = _host_job(conn)
    assert _submit(conn, job_id, user_id) is True


def test_submit_sends_one_events_notify_with_seq_1(conn, listener, db_url):
    job_id, user_id = _host_job(conn)
    _submit(conn, job_id, user_id)
    got = _drain(listener, db_url)
    assert [p for ch, p in got if ch == "engine_v2_events"] == [{"jobs": {job_id: 1}}]


def test_several_events_in_one_transaction_notify_once_with_last_seq(db_url, conn, listener):
    job_id, user_id = _host_job(conn)
    _submit(conn, job_id, user_id)
    _drain(listener, db_url)
    task_id = conn.execute(
        "INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role)"
        " VALUES (%s, 'intent', 'r') RETURNING id",
        (job_id,),
    ).fetchone()["id"]
    with conn.transaction():
        seqs = [
            conn.execute(
                "SELECT engine_v2.emit_event(%s, %s, %s, %s) AS s",
                (job_id, task_id if i else None, f"e{i}", Jsonb({"i": i})),
            ).fetchone()["s"]
            for i in range(3)
        ]
        assert _drain(listener, db_url) == []  # deferred to commit
    assert seqs == [2, 3, 4]
    assert _drain(listener, db_url) == [("engine_v2_events", {"jobs": {job_id: 4}})]
    assert [(e["seq"], e["event_type"], e["data"]) for e in _events(conn, job_id)][1:] == [
        (2, "e0", {"i": 0}),
        (3, "e1", {"i": 1}),
        (4, "e2", {"i": 2}),
    ]


def test_three_events_on_a_fresh_run_notify_seq_3(db_url, conn, listener):
    """The brief's case: a run row inserted directly, three events, one NOTIFY seq 3."""
    job_id, _ = _host_job(conn)
    with conn.transaction():
        conn.execute("INSERT INTO engine_v2.job_runs (job_id) VALUES (%s)", (job_id,))
        for i in range(3):
            conn.execute("SELECT engine_v2.emit_event(%s, NULL, %s)", (job_id, f"e{i}"))
    assert _drain(listener, db_url) == [("engine_v2_events", {"jobs": {job_id: 3}})]


def test_three_jobs_in_one_transaction_send_one_notification_naming_all(db_url, conn, listener):
    """Issue 17: one notification per commit, each job with its last seq, in the order the
    transaction first touched them (a is touched again after b and c)."""
    (a, ua), (b, ub), (c, uc) = (_host_job(conn) for _ in range(3))
    with conn.transaction():
        _submit(conn, a, ua)
        _submit(conn, b, ub)
        _submit(conn, c, uc)
        conn.execute("SELECT engine_v2.emit_event(%s, NULL, 'x')", (a,))
    got = _drain_raw(listener, db_url)
    assert [p for ch, p in got if ch == "engine_v2_events"] == [_jobs_text({a: 2, b: 1, c: 1})]
    jobs = sorted(json.loads(p)["job_id"] for ch, p in got if ch == "engine_v2_jobs")
    assert jobs == sorted([a, b, c])


def test_150_jobs_in_one_transaction_send_two_notifications_of_100_and_50(db_url, conn, listener):
    """A payload must stay under PostgreSQL's 8,000 bytes: at most 100 jobs each."""
    hosts = [_host_job(conn) for _ in range(150)]
    with conn.transaction():
        for job_id, user_id in hosts:
            _submit(conn, job_id, user_id)
    got = _events_notified(listener, db_url)
    assert [len(json.loads(p)["jobs"]) for p in got] == [100, 50]
    assert all(len(p.encode()) < 8000 for p in got)
    named = [(job, seq) for p in got for job, seq in json.loads(p)["jobs"].items()]
    assert named == [(job_id, 1) for job_id, _ in hosts]  # each once, in submit order
    assert got == [
        _jobs_text({j: 1 for j, _ in hosts[:100]}),
        _jobs_text({j: 1 for j, _ in hosts[100:]}),
    ]


def _rolled_back_savepoint(conn: psycopg.Connection[Any], *statements: tuple[str, Any]) -> None:
    """Run ``statements`` in a savepoint of the open transaction, then roll it back."""
    with pytest.raises(errors.RaiseException), conn.transaction():
        for sql, params in statements:
            conn.execute(sql, params)
        conn.execute("DO $$ BEGIN RAISE EXCEPTION 'roll back the savepoint'; END $$")


def test_a_rolled_back_savepoint_takes_its_jobs_out_of_the_notification(db_url, conn, listener):
    """b (a run committed earlier) is touched only inside the rolled-back savepoint: not
    named. a's event there is rolled back too: a is named with the seq that committed.
    c, submitted inside the savepoint, has no run at all."""
    (a, ua), (b, ub), (c, uc) = (_host_job(conn) for _ in range(3))
    _submit(conn, b, ub)
    _drain_raw(listener, db_url)
    emit = "SELECT engine_v2.emit_event(%s, NULL, 'x')"
    with conn.transaction():
        _submit(conn, a, ua)
        _rolled_back_savepoint(
            conn,
            (emit, (a,)),
            (emit, (b,)),
            ("SELECT engine_v2.submit_job(%s, %s, 'proj', 'make a game')", (c, uc)),
        )
    assert _events_notified(listener, db_url) == [_jobs_text({a: 1})]
    assert [e["seq"] for e in _events(conn, a)] == [1]
    assert [e["seq"] for e in _events(conn, b)] == [1]
    assert _run(conn, c) is None


def test_a_transaction_whose_only_touch_was_rolled_back_sends_nothing(db_url, conn, listener):
    job_id, user_id = _host_job(conn)
    _submit(conn, job_id, user_id)
    _drain_raw(listener, db_url)
    with conn.transaction():
        conn.execute("SELECT 1")
        _rolled_back_savepoint(conn, ("SELECT engine_v2.emit_event(%s, NULL, 'x')", (job_id,)))
    assert _drain_raw(listener, db_url) == []


def test_emit_event_without_run_is_23503(conn):
    job_id, _ = _host_job(conn)
    with pytest.raises(errors.ForeignKeyViolation, match="no job_runs row"):
        conn.execute("SELECT engine_v2.emit_event(%s, NULL, 'x')", (job_id,))


def test_concurrent_emit_event_gives_gapless_unique_seqs(db_url, conn):
    job_id, user_id = _host_job(conn)
    _submit(conn, job_id, user_id)
    n, per = 4, 10
    barrier = threading.Barrier(n)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                barrier.wait()
                for _ in range(per):
                    c.execute("SELECT engine_v2.emit_event(%s, NULL, 'tick')", (job_id,))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not failures
    assert [e["seq"] for e in _events(conn, job_id)] == list(range(1, n * per + 2))
    assert _run(conn, job_id)["event_seq"] == n * per + 1
