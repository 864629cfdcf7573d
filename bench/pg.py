"""The bench's own durable PostgreSQL cluster, its databases, and the Node-side client
(submit through ``engine_v2.submit_job``, follow ``engine_v2_events``)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from enginev2d.embedded import HOST_SQL, EmbeddedDatabase
from enginev2d.pgcluster import PgCluster
from enginev2d.progress import notified_jobs
from enginev2d.sql import sql_root

from .common import BenchError, Deadline

DAEMON_DB = "bench_daemon"
NAIVE_DB = "bench_naive"

# Durable (fsync on, synchronous_commit on), plus commit timestamps so pickup latency is
# measured from the submit transaction's commit on the database clock.
CLUSTER_SETTINGS = {"track_commit_timestamp": "on"}
# No statement of the bench may hang it.
CLIENT_OPTIONS = "-c statement_timeout=60000"


def start_cluster(state_dir: Path, extra: dict[str, str] | None = None) -> PgCluster:
    settings = {**CLUSTER_SETTINGS, **(extra or {})}
    cluster = PgCluster(state_dir / "pg", durable=True, settings=settings)
    if cluster.is_running():  # left over from an interrupted run: restart with our settings
        cluster.stop("fast")
    cluster.start()
    return cluster


def drop_database(cluster: PgCluster, name: str) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_daemon_db(cluster: PgCluster, name: str = DAEMON_DB) -> str:
    """A fresh database with the host stand-ins and every migration (the real contract)."""
    drop_database(cluster, name)
    db = EmbeddedDatabase(cluster, name)
    db.start()
    return db.url


def create_naive_db(cluster: PgCluster) -> str:
    """A fresh database with the host stand-ins and the design's section 3 schema only
    (migration 0001, verbatim), the schema the design's Node engine runs on."""
    drop_database(cluster, NAIVE_DB)
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{NAIVE_DB}"')
    url = cluster.dsn(NAIVE_DB)
    schema = sql_root() / "migrations" / "0001_engine_v2_schema.sql"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(HOST_SQL.read_text())  # type: ignore[arg-type]
        conn.execute(schema.read_text())  # type: ignore[arg-type]
    return url


def server_version(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


@dataclass
class Submitted:
    job_id: str
    xid: int  # of the submit transaction (pg_xact_commit_timestamp)
    committed: float  # time.perf_counter() right after COMMIT returned


class Client:
    """What the Node server does: insert public.jobs, call submit_job, follow events.

    Three connections: ``conn`` submits and queries, ``listen`` only LISTENs (the
    notifies generator holds its connection), ``poll`` for progress checks.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = psycopg.connect(url, autocommit=True, options=CLIENT_OPTIONS)
        self.listen = psycopg.connect(url, autocommit=True, options=CLIENT_OPTIONS)
        self.listen.execute("LISTEN engine_v2_events")
        self.last_seq: dict[str, int] = {}

    def backend_pids(self) -> list[int]:
        pids = []
        for c in (self.conn, self.listen):
            row = c.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            pids.append(int(row[0]))
        return pids

    def close(self) -> None:
        for c in (self.conn, self.listen):
            try:
                c.close()
            except Exception:
                pass

    def submit(self, options: dict[str, Any], message: str = "bench: neon snake") -> Submitted:
        job_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO public.jobs (id, user_id, project_id, status)"
                " VALUES (%s, %s, 'bench', 'pending')",
                (job_id, user_id),
            )
            self.conn.execute(
                "SELECT engine_v2.submit_job(%s, %s, 'bench', %s, %s)",
                (job_id, user_id, message, Jsonb(options)),
            )
            row = self.conn.execute("SELECT txid_current()").fetchone()
        committed = time.perf_counter()
        assert row is not None
        return Submitted(job_id, int(row[0]), committed)

    def submit_batch(self, options: dict[str, Any], n: int) -> tuple[list[str], int, float]:
        """Submit n jobs in ONE transaction: they all become visible at one commit."""
        ids = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(n)]
        with self.conn.transaction():
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO public.jobs (id, user_id, project_id, status)"
                    " VALUES (%s, %s, 'bench', 'pending')",
                    ids,
                )
                cur.executemany(
                    "SELECT engine_v2.submit_job(%s, %s, 'bench', 'bench: batch', %s)",
                    [(j, u, Jsonb(options)) for j, u in ids],
                )
            row = self.conn.execute("SELECT txid_current()").fetchone()
        committed = time.perf_counter()
        assert row is not None
        return [j for j, _ in ids], int(row[0]), committed

    def wait_completed(self, job_id: str, deadline: Deadline, alive: Any) -> tuple[float, str]:
        """Block until a ``jobCompleted``/``jobFailed`` event of ``job_id`` is announced on
        engine_v2_events. Returns (perf_counter when the announcing NOTIFY arrived, type).
        ``alive()`` raises when the daemon died."""
        last = self.last_seq.get(job_id, 0)
        # The job may already be done (notification consumed by an earlier wait).
        hit = self._terminal_event(job_id, last)
        if hit:
            return time.perf_counter(), hit
        while True:
            deadline.check()
            alive()
            for note in self.listen.notifies(timeout=min(0.5, max(0.01, deadline.remaining))):
                got = time.perf_counter()
                last = self.last_seq.get(job_id, 0)
                if notified_jobs(note.payload).get(job_id, last) <= last:
                    continue  # another job's hint, or nothing new for this one
                hit = self._terminal_event(job_id, last)
                if hit:
                    return got, hit
            # notifies() ended at its timeout: loop to re-check the deadline and the daemon.

    def _terminal_event(self, job_id: str, after: int) -> str | None:
        rows = self.conn.execute(
            "SELECT seq, event_type FROM engine_v2.job_task_events"
            " WHERE job_id = %s AND seq > %s ORDER BY seq",
            (job_id, after),
        ).fetchall()
        for seq, etype in rows:
            self.last_seq[job_id] = max(self.last_seq.get(job_id, 0), int(seq))
            if etype in ("jobCompleted", "jobFailed", "jobCanceled"):
                return str(etype)
        return None

    def runs(self, job_ids: list[str]) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(
                "SELECT job_id::text, status, error_code, created_at, claimed_at, finished_at"
                " FROM engine_v2.job_runs WHERE job_id = ANY(%s::uuid[])",
                (job_ids,),
            )
            return cur.fetchall()

    def commit_ts(self, xid: int) -> Any:
        row = self.conn.execute(
            "SELECT pg_xact_commit_timestamp((%s %% 4294967296)::text::xid)", (xid,)
        ).fetchone()
        if row is None or row[0] is None:
            raise BenchError(f"no commit timestamp for xid {xid} (track_commit_timestamp off?)")
        return row[0]

    def job_debug(self, job_id: str) -> str:
        rows = self.conn.execute(
            "SELECT task_key, status, attempt_count, error_code, left(error_message, 200)"
            " FROM engine_v2.job_tasks WHERE job_id = %s ORDER BY created_at, task_key",
            (job_id,),
        ).fetchall()
        run = self.conn.execute(
            "SELECT status, error_code FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)
        ).fetchone()
        lines = [f"job {job_id}: run={run}"]
        lines += [f"  {r}" for r in rows]
        return "\n".join(lines)
