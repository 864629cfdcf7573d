"""The pgqueuer peer's worker: the design's seven-task DAG chained through pgqueuer jobs.

Runs inside the bench's own pgqueuer virtualenv (created by bench/pgqueuer_peer.py), not
the project's: it imports pgqueuer, asyncpg and bench.common (standard library only).

One pgqueuer entrypoint per task key, every task body a no-op. A finished task enqueues
its ready successors (bench.common.dag_shape): a plain successor at once, a join
(publish_prep, after fix and asset) when the counter row of that DAG's join, decremented
in the same transaction as the enqueue, reaches 0. The sink (publish_prep) marks its DAG
finished and admits the next DAG of its batch (enqueues its intent), so a batch keeps
``in_flight`` DAGs running like the daemon's ``max_concurrent_jobs``. pgqueuer itself
dequeues in batches and records completions through its buffered log (its own group
completion); its tables are installed ``durable`` (its default: all logged).

Protocol, one JSON object a line. stdin: ``{"cmd": "submit", "batch": NAME, "dags": N,
"in_flight": K}`` inserts N DAG rows and admits the first K in ONE transaction;
``{"cmd": "stop"}`` (or EOF) shuts down. stdout: ``{"event": "ready", ...}`` once
listening, ``{"event": "submitted", "batch": NAME, "xid": X}`` after each submit's commit,
``{"event": "error", ...}`` on a failed task (the run's figures then do not add up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
from pgqueuer import Job, Queries, QueueManager
from pgqueuer.db import AsyncpgDriver

from bench.common import TASK_KEYS, DagShape, dag_shape, ready_successors

SHAPE = dag_shape()
SCHEMA = "pgq_bench"
SERVER_SETTINGS = {"statement_timeout": "60000", "application_name": "pgqueuer-peer"}

SETUP_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.dag (
    id bigserial PRIMARY KEY,
    batch text NOT NULL,
    admitted_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS dag_waiting ON {SCHEMA}.dag (batch, id) WHERE admitted_at IS NULL;
CREATE TABLE IF NOT EXISTS {SCHEMA}.join_left (
    dag_id bigint NOT NULL,
    task_key text NOT NULL,
    remaining int NOT NULL,
    PRIMARY KEY (dag_id, task_key)
);
"""
INSERT_DAGS_SQL = f"""
WITH d AS (
    INSERT INTO {SCHEMA}.dag (batch, admitted_at)
    SELECT $1, CASE WHEN i <= $3 THEN now() END FROM generate_series(1, $2) i
    RETURNING id, admitted_at
), j AS (
    INSERT INTO {SCHEMA}.join_left (dag_id, task_key, remaining)
    SELECT d.id, k, n FROM d, unnest($4::text[], $5::int[]) AS t(k, n)
)
SELECT id FROM d WHERE admitted_at IS NOT NULL ORDER BY id
"""
DECREMENT_SQL = f"""
UPDATE {SCHEMA}.join_left SET remaining = remaining - 1
WHERE dag_id = $1 AND task_key = $2 RETURNING remaining
"""
# The sink: this DAG is finished, the next waiting DAG of its batch is admitted.
FINISH_ADMIT_SQL = f"""
WITH done AS (
    UPDATE {SCHEMA}.dag SET finished_at = now() WHERE id = $1 RETURNING batch
)
UPDATE {SCHEMA}.dag d SET admitted_at = now()
WHERE d.id = (
    SELECT n.id FROM {SCHEMA}.dag n, done
    WHERE n.batch = done.batch AND n.admitted_at IS NULL
    ORDER BY n.id LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING d.id
"""


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Chain:
    """The task bodies: each finishes its task's bookkeeping in one transaction."""

    def __init__(self, pool: asyncpg.Pool, shape: DagShape) -> None:
        self.pool = pool
        self.shape = shape

    async def enqueue(self, conn: asyncpg.Connection, dag_id: int, keys: list[str]) -> None:
        if keys:
            payload = str(dag_id).encode()
            await Queries(AsyncpgDriver(conn)).enqueue(keys, [payload] * len(keys), [0] * len(keys))

    async def finish(self, key: str, job: Job) -> None:
        assert job.payload is not None
        dag_id = int(job.payload)
        joins = [s for s in self.shape.successors[key] if s in self.shape.joins]
        async with self.pool.acquire() as conn:
            if key not in self.shape.sinks and not joins:  # one statement: no transaction
                await self.enqueue(conn, dag_id, list(self.shape.successors[key]))
                return
            async with conn.transaction():
                if key in self.shape.sinks:
                    nxt = await conn.fetchval(FINISH_ADMIT_SQL, dag_id)
                    if nxt is not None:
                        await self.enqueue(conn, int(nxt), list(self.shape.roots))
                    return
                left = {s: await conn.fetchval(DECREMENT_SQL, dag_id, s) for s in joins}
                await self.enqueue(conn, dag_id, ready_successors(self.shape, key, left))

    async def submit(self, batch: str, dags: int, in_flight: int) -> int:
        """All of a batch's DAG rows, its first ``in_flight`` admitted, in one commit."""
        joins = list(self.shape.joins.items())
        async with self.pool.acquire() as conn, conn.transaction():
            ids = await conn.fetch(
                INSERT_DAGS_SQL,
                batch,
                dags,
                in_flight,
                [k for k, _ in joins],
                [n for _, n in joins],
            )
            roots = list(self.shape.roots)
            await Queries(AsyncpgDriver(conn)).enqueue(
                roots * len(ids),
                [str(r["id"]).encode() for r in ids for _ in roots],
                [0] * (len(ids) * len(roots)),
            )
            xid = await conn.fetchval("SELECT txid_current()")
        return int(xid)


def entrypoint(chain: Chain, key: str) -> Callable[[Job], Awaitable[None]]:
    async def run(job: Job) -> None:
        try:
            await chain.finish(key, job)  # the task body itself is a no-op
        except Exception as exc:
            emit("error", task=key, error=f"{type(exc).__name__}: {exc}")
            raise

    run.__name__ = f"task_{key}"
    return run


async def commands(chain: Chain, qm: QueueManager) -> None:
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line or json.loads(line).get("cmd") == "stop":
            qm.shutdown.set()
            return
        cmd = json.loads(line)
        if cmd["cmd"] == "submit":
            xid = await chain.submit(cmd["batch"], int(cmd["dags"]), int(cmd["in_flight"]))
            emit("submitted", batch=cmd["batch"], xid=xid)


async def main(dsn: str, batch_size: int, pool_size: int) -> None:
    setup = await asyncpg.connect(dsn, server_settings=SERVER_SETTINGS)
    try:
        queries = Queries(AsyncpgDriver(setup))
        if not await queries.schema_is_installed():
            await queries.install()
        await setup.execute(SETUP_SQL)
    finally:
        await setup.close()

    qm_conn = await asyncpg.connect(dsn, server_settings=SERVER_SETTINGS)
    pool = await asyncpg.create_pool(
        dsn, min_size=pool_size, max_size=pool_size, server_settings=SERVER_SETTINGS
    )
    assert pool is not None
    chain = Chain(pool, SHAPE)
    qm = QueueManager(Queries(AsyncpgDriver(qm_conn)))
    for key in TASK_KEYS:
        qm.entrypoint(key)(entrypoint(chain, key))
    runner = asyncio.create_task(
        qm.run(batch_size=batch_size, dequeue_timeout=timedelta(seconds=5))
    )
    emit("ready", batch_size=batch_size, pool_size=pool_size, versions=versions())
    try:
        await commands(chain, qm)
        await asyncio.wait_for(runner, timeout=30)
    finally:
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner
        await pool.close()
        await qm_conn.close()


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("pgqueuer", "asyncpg")}


def run(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.pgqueuer_worker")
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--batch-size", type=int, default=10, help="pgqueuer's dequeue batch")
    ap.add_argument("--pool-size", type=int, default=8, help="connections for task bodies")
    args = ap.parse_args(argv)
    coro = main(args.dsn, args.batch_size, args.pool_size)
    try:
        import uvloop  # pgqueuer's own CLI runs on uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


if __name__ == "__main__":
    run()
