"""What the contract's rows alone cost PostgreSQL per task, next to pgqueuer (issue 17).

No engine: one connection writes, set-based and 8 hand-offs per commit (the
completer's typical batch), what every task of ``make bench``'s DAG leaves behind under
the frozen design and the README contract: the task row finished with its output and
input and the next one claimed (status, attempt_count, times), the attempt row opened
and closed, a taskStarted and a taskDone event with the job's next seqs, the
partialResult events (plan's playable preview, ~26 KB; codegen's and fix's files), the
artifacts (plan, code, review, publish), the job row's event cursor, one NOTIFY per
commit, and each job's end (the run's status and result, jobCompleted, public.jobs).
Left out, so the figure is a floor: materializing the DAG, promotion and readiness
checks, progress, fencing reads, the counts a step reports.

The **whole-life** floor (run after the plain one) adds, inside the measured window,
what a job's life needs around those rows, still set-based and 8 jobs per commit: the
submit (``public.jobs`` + ``engine_v2.submit_job``, the host's one transaction), the
job's claim (owner, lease), materializing its DAG (7 task rows, 7 dependency rows) with
the first claims in the same commit, and in every later hand-off commit the fence (the
jobs' rows locked ``FOR UPDATE``) and the readiness read (which pending tasks have every
predecessor done). Still left out: progress, the counts a step reports, skips.

**Engine SQL, no daemon** (run last): the same submitted jobs written by the engine's
own SQL, as the group completer sends it, from a loop that costs nothing between calls:
``claim_jobs`` with ``engine_v2.start_jobs`` in the claim's commit (as the daemon's
intake), then per 8 jobs one ``engine_v2.complete_batch`` per step (each success with its
claims) and ``scheduler.finish_locked`` for each job's end. What
the engine's SQL costs PostgreSQL per task, apart from the daemon; with 2 writers, the
most tasks/s that SQL allows on the cluster whatever the daemon does.

pgqueuer runs its peer DAGs on the same cluster in the same run (bench/pgqueuer_peer.py),
so the figures compare: what the rows cost against what pgqueuer's whole run costs.

    .venv/bin/python -m bench.row_floor [--jobs 1000] [--writers 1,2] [--no-pgqueuer]
                                        [--no-record]

Each mode runs with 1 and with 2 writers (the completer's two slots), or the counts
``--writers`` gives (``2,3,4``: whether more writers at once use the idle CPU); all on one
cluster in one run, with pgqueuer last.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from enginev2d import scheduler
from enginev2d.completer import Item
from enginev2d.config import load_config
from enginev2d.sql import load_queries
from enginev2d.templates.preview import preview_files
from enginev2d.workflow import DEFAULT_WORKFLOW

from . import body_floor, pgqueuer_peer
from .bench_engine import pg_cpu_by_kind
from .common import INJECT_OUTPUTS, inject_options, machine_info, postmaster_pid
from .daemonproc import REPO
from .pg import Client, create_daemon_db, server_version, start_cluster

STATE = REPO / "bench" / ".state" / "floor"
DB = "bench_floor"
RESULTS = REPO / "bench" / "results"
BATCH = 8  # hand-offs per commit: the completer's p50 in make bench
TICK = 100.0  # clock ticks per second (/proc)

# What a mode wrote: rows inserted and updated per table (the database's own counters).
TABLE_COUNTS = """
SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables
 WHERE schemaname IN ('engine_v2', 'public')
"""

# One commit: close the finished tasks and their attempts, claim the next ones and
# open their attempts, write taskDone + taskStarted at the job's next two seqs, move
# the job's cursor, notify once.
HAND_OFF = """
WITH done AS (
  UPDATE engine_v2.job_tasks SET status = 'succeeded', output = %(output)s,
         input = %(input)s, progress = 100, finished_at = now()
   WHERE id = ANY (%(done)s::uuid[])
  RETURNING id, job_id, task_key, attempt_count
), closed AS (
  UPDATE engine_v2.job_task_attempts a
     SET status = 'succeeded', ended_at = clock_timestamp(), latency_ms = 1
    FROM done WHERE a.task_id = done.id AND a.attempt_no = done.attempt_count
), art AS (
  INSERT INTO engine_v2.job_task_artifacts (id, job_id, task_id, kind, uri, content)
  SELECT gen_random_uuid(), job_id, id, %(artifact)s, NULL, %(output)s
    FROM done WHERE %(artifact)s::text IS NOT NULL
), claimed AS (
  UPDATE engine_v2.job_tasks SET status = 'running', started_at = now(),
         attempt_count = attempt_count + 1
   WHERE id = ANY (%(next)s::uuid[])
  RETURNING id, job_id, task_key, attempt_count
), opened AS (
  INSERT INTO engine_v2.job_task_attempts (task_id, attempt_no, status, started_at)
  SELECT id, attempt_count, 'running', clock_timestamp() FROM claimed
), e AS (
  SELECT job_id, id, 'partialResult' AS typ,
         jsonb_build_object('task_key', task_key) || %(partial)s AS dat, 1 AS o
    FROM done WHERE %(partial)s::jsonb IS NOT NULL
  UNION ALL
  SELECT job_id, id, 'taskDone', jsonb_build_object('task_key', task_key,
         'attempt', attempt_count, 'latency_ms', 1), 2 FROM done
  UNION ALL
  SELECT job_id, id, 'taskStarted', jsonb_build_object('task_key', task_key,
         'attempt', attempt_count), 3 FROM claimed
), n AS (
  SELECT job_id, count(*)::int AS k FROM e GROUP BY job_id
), cursor AS (
  UPDATE engine_v2.job_runs r SET event_seq = r.event_seq + n.k
    FROM n WHERE r.job_id = n.job_id
  RETURNING r.job_id, r.event_seq - n.k AS seq0
), ev AS (
  INSERT INTO engine_v2.job_task_events (job_id, task_id, event_type, data, seq)
  SELECT e.job_id, e.id, e.typ, jsonb_build_object('type', e.typ) || e.dat,
         c.seq0 + row_number() OVER (PARTITION BY e.job_id ORDER BY e.o)
    FROM e JOIN cursor c USING (job_id)
  RETURNING job_id, seq
)
SELECT pg_notify('engine_v2_events', json_build_object('jobs',
         json_object_agg(job_id, last))::text)
  FROM (SELECT job_id, max(seq) AS last FROM ev GROUP BY job_id) x
"""

# Each job's end: the run's status and result, jobCompleted, the host's row.
FINISH = """
WITH r AS (
  UPDATE engine_v2.job_runs SET status = 'succeeded', result = %(result)s,
         finished_at = now(), progress = 100, event_seq = event_seq + 1
   WHERE job_id = ANY (%(jobs)s::uuid[])
  RETURNING job_id, event_seq
), ev AS (
  INSERT INTO engine_v2.job_task_events (job_id, event_type, data, seq)
  SELECT job_id, 'jobCompleted', jsonb_build_object('type', 'jobCompleted', 'final', true),
         event_seq FROM r
)
UPDATE public.jobs SET status = 'completed', updated_at = now()
 WHERE id = ANY (%(jobs)s::uuid[])
"""

# The whole-life floor's extra statements (see the module docstring).
CLAIM_JOBS = """
UPDATE engine_v2.job_runs SET owner = 'floor', lease_expires_at = now() + interval '30 s',
       claimed_at = now()
 WHERE job_id = ANY (%(jobs)s::uuid[])
"""

MATERIALIZE = """
WITH t AS (
  INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role, weight, display_label,
         max_attempts, base_max_attempts, position)
  SELECT j, x->>'key', x->>'role', (x->>'weight')::int, x->>'label',
         (x->>'max_attempts')::int, (x->>'max_attempts')::int, (x->>'position')::int
    FROM unnest(%(jobs)s::uuid[]) j, jsonb_array_elements(%(tasks)s) x
  RETURNING id, job_id, task_key, position
), d AS (
  INSERT INTO engine_v2.job_task_dependencies (predecessor_task_id, successor_task_id)
  SELECT p.id, s.id FROM jsonb_array_elements(%(edges)s) e
    JOIN t p ON p.task_key = e->>0 JOIN t s ON s.job_id = p.job_id AND s.task_key = e->>1
)
SELECT job_id::text, array_agg(id::text ORDER BY position) FROM t GROUP BY job_id
"""

FENCE = """
SELECT count(*) FROM (SELECT 1 FROM engine_v2.job_runs WHERE job_id = ANY (%(jobs)s::uuid[])
                       ORDER BY job_id FOR UPDATE) x
"""

READY = """
SELECT count(*) FROM engine_v2.job_tasks t
 WHERE t.job_id = ANY (%(jobs)s::uuid[]) AND t.status = 'pending'
   AND NOT EXISTS (SELECT 1 FROM engine_v2.job_task_dependencies d
                     JOIN engine_v2.job_tasks p ON p.id = d.predecessor_task_id
                    WHERE d.successor_task_id = t.id AND p.status <> 'succeeded')
"""


ARTIFACT = {"plan": "plan", "codegen": "code", "qa_review": "review", "publish_prep": "publish"}


def partial(key: str) -> dict[str, Any] | None:
    """The partialResult a task of the bench's DAG writes (as the engine does)."""
    if key == "plan":
        return {"stage": "preview", "files": preview_files(INJECT_OUTPUTS["plan"])}
    if key in ("codegen", "fix"):
        return {"files": INJECT_OUTPUTS[key]["files"], "ref": None}
    return None


def flush_stats(conn: psycopg.Connection[Any]) -> None:
    """Make this backend's table and WAL counters visible to others now: a forced flush
    happens when the backend goes idle, before this round trip returns (PostgreSQL 15)."""
    conn.execute("SELECT pg_stat_force_next_flush()")


def written(url: str) -> dict[str, Any]:
    """The database's rows inserted and updated so far, per table, and the cluster's WAL
    bytes (every writer must have called :func:`flush_stats` first)."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(TABLE_COUNTS)}
        row = conn.execute("SELECT wal_bytes FROM pg_stat_wal").fetchone()
    return {"tables": tables, "wal_bytes": int(row[0]) if row else 0}


def written_per_task(before: dict[str, Any], after: dict[str, Any], tasks: int) -> dict[str, Any]:
    """Rows inserted and updated per task and table between two :func:`written`, and WAL
    bytes per task (the cluster's: other writers, such as autovacuum, count too)."""
    rows = {}
    for name, (ins, upd) in sorted(after["tables"].items()):
        ins0, upd0 = before["tables"].get(name, (0, 0))
        if ins - ins0 or upd - upd0:
            rows[name] = {
                "ins": round((ins - ins0) / tasks, 3),
                "upd": round((upd - upd0) / tasks, 3),
            }
    wal = round((after["wal_bytes"] - before["wal_bytes"]) / tasks)
    return {"rows_per_task": rows, "wal_bytes_per_task": wal}


def describe_written(f: dict[str, Any]) -> str:
    """One line: what a mode wrote per task."""
    rows = f["rows_per_task"].values()
    ins, upd = sum(r["ins"] for r in rows), sum(r["upd"] for r in rows)
    return (
        f"rows per task {ins:.2f} inserted, {upd:.2f} updated;"
        f" WAL {f['wal_bytes_per_task'] / 1024:.1f} KiB per task"
    )


def submit(url: str, jobs: int) -> list[str]:
    """``jobs`` submitted as the host does (one transaction), their rows counted now (not
    when the client's backend exits, inside a later measurement)."""
    client = Client(url)
    try:
        ids = client.submit_batch({}, jobs)[0]
        flush_stats(client.conn)
        return ids
    finally:
        client.close()


def setup(url: str, jobs: int) -> list[list[str]]:
    """``jobs`` submitted and materialized; each job's task ids in DAG position order."""
    ids = submit(url, jobs)
    tasks = Jsonb(DEFAULT_WORKFLOW.task_rows())
    edges = Jsonb(DEFAULT_WORKFLOW.edge_rows())
    chains: list[list[str]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for job in ids:
            conn.execute("SELECT engine_v2.materialize_job(%s, %s, %s)", (job, tasks, edges))
        rows = conn.execute(
            "SELECT job_id, array_agg(id ORDER BY position) FROM engine_v2.job_tasks"
            " WHERE job_id = ANY(%s::uuid[]) GROUP BY job_id",
            (ids,),
        ).fetchall()
        chains = [[str(t) for t in r[1]] for r in rows]
        conn.execute("VACUUM ANALYZE")
        flush_stats(conn)
    return chains


def floor(
    url: str,
    pm: int,
    chains: list[list[str]],
    writers: int = 1,
    *,
    whole: int = 0,
    engine: bool = False,
    bodies: bool = False,
) -> dict[str, Any]:
    """Every task of every chain claimed and finished, 8 hand-offs per commit, by
    ``writers`` connections at once (each its share of the jobs). With ``whole``, that
    many jobs are submitted, claimed and materialized inside the window too (``chains``
    unused) and every hand-off commit fences and reads readiness; with ``engine`` as
    well, the engine's own SQL writes them (:func:`write_engine`), running each task's
    body too with ``bodies``."""
    rows_before = written(url)
    before = pg_cpu_by_kind(pm, DB)
    t0 = time.perf_counter()
    if whole:
        submitted = submit(url, whole)
        shares: list[Any] = [submitted[w::writers] for w in range(writers)]
        job = functools.partial(write_engine, bodies=bodies) if engine else write_whole
    else:
        shares = [chains[w::writers] for w in range(writers)]
        job = write

    def timed(share: list[Any]) -> tuple[int, float]:
        c0 = time.thread_time()
        return job(url, share), time.thread_time() - c0

    with ThreadPoolExecutor(writers) as pool:
        done = list(pool.map(timed, shares))
    wall = time.perf_counter() - t0
    commits, client = sum(d[0] for d in done), sum(d[1] for d in done)
    after = pg_cpu_by_kind(pm, DB)
    tasks = (whole or len(chains)) * len(DEFAULT_WORKFLOW.tasks)
    # the writers' backends exit before the second reading: their time is the
    # postmaster's reaped children's, so the cluster's total is the figure
    ticks = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    cluster = sum(ticks.values()) / TICK
    wrote = written_per_task(rows_before, written(url), tasks)
    mode = "whole-life" if whole else "rows"
    if engine:
        mode = "engine SQL + bodies" if bodies else "engine SQL"
    return {
        "mode": mode,
        "writers": writers,
        "tasks": tasks,
        "commits": commits,
        "wall_s": round(wall, 3),
        "tasks_per_s": round(tasks / wall, 1),
        "cluster_cpu_ms_per_task": round(cluster / tasks * 1000, 3),
        # the writer threads' own CPU: their Python (items, psycopg, JSON, steps), the
        # submit left out
        "client_cpu_ms_per_task": round(client / tasks * 1000, 3),
        "cpu_ticks_by_kind": ticks,
        **wrote,
    }


def engine_sql(
    cluster: Any, jobs: int, writers: int = 2, *, bodies: bool = False
) -> dict[str, Any]:
    """``make bench``'s row 2c: the engine's SQL alone (:func:`write_engine`), ``jobs``
    jobs on a fresh database of ``cluster``, ``writers`` at once (the completer's slots):
    the most tasks/s that SQL allows on this cluster, whatever the daemon does. Row 2d,
    ``bodies``: each task's body run inline too, a daemon with no thread per job."""
    url = create_daemon_db(cluster, SQL_DB + ("_bodies" if bodies else ""))
    pm = postmaster_pid(cluster.data_dir)
    return floor(url, pm, [], writers, whole=jobs, engine=True, bodies=bodies)


SQL_DB = "bench_engine_sql"
KEYS = [t.key for t in DEFAULT_WORKFLOW.tasks]
RESULT = {"files": INJECT_OUTPUTS["fix"]["files"], "commit": "0000000"}


def step_params(s: int, part: list[list[str]]) -> dict[str, Any]:
    """HAND_OFF's parameters at step ``s`` of ``part``'s chains: finish each chain's task
    ``s - 1`` (none at 0), claim its task ``s`` (none after the last)."""
    key = KEYS[s - 1] if s > 0 else None
    return {
        "output": Jsonb(INJECT_OUTPUTS[key]) if key else None,
        "input": Jsonb({"message": "bench: batch"}),
        "partial": Jsonb(partial(key)) if key and partial(key) else None,
        "artifact": ARTIFACT.get(key or ""),
        "done": [c[s - 1] for c in part] if s > 0 else [],
        "next": [c[s] for c in part] if s < len(KEYS) else [],
    }


def write(url: str, chains: list[list[str]]) -> int:
    """One writer's chains, step by step; the number of commits."""
    with psycopg.connect(url, autocommit=True) as conn:
        commits = 0
        for s in range(len(KEYS) + 1):  # s: finish task s-1, claim task s
            for i in range(0, len(chains), BATCH):
                part = chains[i : i + BATCH]
                with conn.transaction():
                    conn.execute(HAND_OFF, step_params(s, part))
                    if s == len(KEYS):
                        jobs = job_ids(conn, [c[-1] for c in part])
                        conn.execute(FINISH, {"jobs": jobs, "result": Jsonb(RESULT)})
                commits += 1
        flush_stats(conn)
    return commits


def write_whole(url: str, jobs: list[str]) -> int:
    """One writer's submitted jobs, 8 at a time through their whole life: claimed (one
    commit), materialized with their first claims (one), then every step fenced, with
    its readiness read, and the last one finishing them. The number of commits."""
    tasks, edges = Jsonb(DEFAULT_WORKFLOW.task_rows()), Jsonb(DEFAULT_WORKFLOW.edge_rows())
    commits = 0
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(0, len(jobs), BATCH):
            group = {"jobs": jobs[i : i + BATCH]}
            conn.execute(CLAIM_JOBS, group)
            with conn.transaction():
                made = dict(conn.execute(MATERIALIZE, {**group, "tasks": tasks, "edges": edges}))
                part = [made[j] for j in group["jobs"]]
                conn.execute(HAND_OFF, step_params(0, part))
            commits += 2
            for s in range(1, len(KEYS) + 1):
                with conn.transaction():
                    conn.execute(FENCE, group)
                    conn.execute(READY, group)
                    conn.execute(HAND_OFF, step_params(s, part))
                    if s == len(KEYS):
                        conn.execute(FINISH, {**group, "result": Jsonb(RESULT)})
                commits += 1
        flush_stats(conn)
    return commits


def write_engine(url: str, jobs: list[str], bodies: bool = False) -> int:
    """The engine's own SQL with no daemon: one writer's submitted jobs, 8 at a time,
    claimed by the intake's ``claim_jobs`` and started in the claim's commit
    (``scheduler.start_many``, as the daemon does), then run to their end by
    :func:`run_group`; with ``bodies``, each task's real body, staging and completion
    run by the writer as it claims it (:class:`Bodies`). The number of commits."""
    claim = load_queries("daemon")["claim_jobs"]
    commits = 0
    with Bodies() if bodies else nullcontext() as run:
        cfg = run.cfg if run else load_config(env={}, overrides={"database": {"url": url}})
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            for _ in range(0, len(jobs), BATCH):  # its share: claim_jobs picks which
                with conn.transaction():
                    rows = conn.execute(
                        claim, {"owner": OWNER, "lease_s": 60, "limit": BATCH, "exclude": []}
                    ).fetchall()
                    group = [str(r["job_id"]) for r in rows]
                    started = scheduler.start_many(
                        conn, cfg, group, OWNER, DEFAULT_WORKFLOW, more=2
                    )
                commits += 1 + run_group(conn, cfg, group, started=started.steps, bodies=run)
            flush_stats(conn)
    return commits


class Bodies:
    """Row 2d's tasks: each claimed task's real body, staging and success entry, as a
    worker makes them (``body_floor.JobBodies``, one per job, its staging removed when
    the job ends), run inline by the writer: a daemon with no thread per job."""

    def __init__(self) -> None:
        STATE.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(dir=STATE, prefix="bodies-"))
        self.cfg = body_floor.config(self.root)
        self.options = inject_options()
        self.jobs: dict[str, body_floor.JobBodies] = {}

    def __enter__(self) -> Bodies:
        return self

    def __exit__(self, *exc: object) -> None:
        for job in self.jobs.values():
            job.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def success(self, job_id: str, task: scheduler.ClaimedTask) -> dict[str, Any]:
        if job_id not in self.jobs:
            self.jobs[job_id] = body_floor.JobBodies(self.cfg, self.options, job_id)
        return self.jobs[job_id].entry(task.task_key, task.id, task.attempt, owner=OWNER, more=2)

    def ended(self, job_id: str) -> None:
        self.jobs.pop(job_id).close()


def run_group(
    conn: psycopg.Connection[Any],
    cfg: Any,
    jobs: list[str],
    around: Callable[[], AbstractContextManager[None]] = nullcontext,
    *,
    started: Mapping[str, scheduler.Step] | None = None,
    bodies: Bodies | None = None,
) -> int:
    """Claimed ``jobs`` to their end as the group completer sends their hand-offs: every
    step of them in one ``engine_v2.complete_batch`` call (the start items first, unless
    their claim ``started`` them; then each success with its claims, the successors of
    all of them next), each job finished as the completer does
    (``scheduler.finish_locked``); each call inside ``around()`` (a test measures it).
    ``bodies`` makes each success entry by running the task (else: the injected output).
    The number of commits."""
    succeed = bodies.success if bodies else success
    if started is None:
        entries = [Item.start(j, OWNER, DEFAULT_WORKFLOW, more=2).entry for j in jobs]
    else:
        entries = [succeed(j, t) for j in jobs for t in (started[j].task, *started[j].more) if t]
    commits = 0
    while entries:
        with around():
            out = conn.execute(
                "SELECT engine_v2.complete_batch(%s) AS r", [Jsonb(entries)]
            ).fetchone()["r"]
        commits += 1
        if "steps" not in out:  # an item raised: the engine's error, as it said it
            raise RuntimeError(f"complete_batch: {out}")
        following = []
        for entry, data in zip(entries, out["steps"], strict=True):
            step = scheduler.Step.from_json(data)
            if step.finalize:
                scheduler.finish_locked(conn, cfg, entry["job_id"], OWNER, step)
                commits += 1
                if bodies:
                    bodies.ended(entry["job_id"])
            claims = [step.task] if step.task else []
            following += [succeed(entry["job_id"], t) for t in claims + step.more]
        entries = following
    return commits


OWNER = "floor"


def success(job_id: str, task: scheduler.ClaimedTask) -> dict[str, Any]:
    """The batch entry of ``task``'s success, with what the daemon would send: the
    injected output, the code artifacts per file (others whole), the partial result."""
    key, art = task.task_key, ARTIFACT.get(task.task_key)
    out = INJECT_OUTPUTS[key]
    if key in ("codegen", "fix"):
        arts = [{"kind": "code", "uri": f["path"], "content": f} for f in out["files"]]
    else:
        arts = [{"kind": art, "uri": None, "content": out}] if art else []
    entry = {
        "kind": "succeeded", "job_id": job_id, "owner": OWNER, "task_id": task.id,
        "attempt": task.attempt, "usage": {"latency_ms": 1}, "claim": True, "more": 2,
        "output": out, "input": {"message": "bench: batch"}, "artifacts": arts or None,
        "partial": partial(key),
    }  # fmt: skip
    return {k: v for k, v in entry.items() if v is not None}  # as Item.entry: absent = default


def job_ids(conn: psycopg.Connection[Any], task_ids: list[str]) -> list[str]:
    rows = conn.execute(
        "SELECT job_id::text FROM engine_v2.job_tasks WHERE id = ANY(%s::uuid[])", (task_ids,)
    ).fetchall()
    return [r[0] for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--no-pgqueuer", action="store_true")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument(
        "--writers", default="1,2", help="writer counts to run each mode with (comma-separated)"
    )
    args = ap.parse_args()
    counts = [int(w) for w in args.writers.split(",")]

    def log(msg: str) -> None:
        print(f"[floor {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    cluster = start_cluster(STATE)
    try:
        url = create_daemon_db(cluster, DB)
        pm = postmaster_pid(cluster.data_dir)
        chains = setup(url, args.jobs)
        log(f"{len(chains)} jobs materialized; the contract's rows, {BATCH} per commit")
        out: dict[str, Any] = {"machine": machine_info(server_version(url)), "batch": BATCH}
        out["floor"] = []
        for n, writers in enumerate(counts):  # 1 and 2 by default: the completer has 2 slots
            if n:
                chains = setup(url, args.jobs)
            f = floor(url, pm, chains, writers)
            out["floor"].append(f)
            log(
                f"floor, {writers} writer(s): {f['tasks_per_s']} tasks/s, PostgreSQL CPU per"
                f" task {f['cluster_cpu_ms_per_task']} ms"
                f"; {describe_written(f)}"
            )
        for engine, bodies in ((False, False), (True, False), (True, True)):
            for writers in counts:
                f = floor(url, pm, [], writers, whole=args.jobs, engine=engine, bodies=bodies)
                out["floor"].append(f)
                log(
                    f"{f['mode']}, {writers} writer(s): {f['tasks_per_s']} tasks/s,"
                    f" PostgreSQL CPU per task {f['cluster_cpu_ms_per_task']} ms, the"
                    f" writers' {f['client_cpu_ms_per_task']} ms; {describe_written(f)}"
                )
        if not args.no_pgqueuer:
            peer = pgqueuer_peer.bench_pgqueuer(cluster, STATE, 500, log)
            if peer is not None:
                cpu, n = peer["cpu_s"], peer["tasks"]
                out["pgqueuer"] = {
                    "tasks_per_s": peer["tasks_per_s"],
                    "postgres_cpu_ms_per_task": round(cpu["postgres"] / n * 1000, 3),
                    "total_cpu_ms_per_task": round(peer["cpu_s_per_1000_tasks"], 3),
                }
                log(f"pgqueuer, same cluster: {json.dumps(out['pgqueuer'])}")
        if not args.no_record:
            RESULTS.mkdir(exist_ok=True)
            path = RESULTS / f"floor-{time.strftime('%Y%m%d-%H%M%S')}.json"
            path.write_text(json.dumps(out, indent=1))
            log(f"results in {path}")
    finally:
        cluster.stop("fast")


if __name__ == "__main__":
    main()
