"""The DAG scheduler (design 8): thin Python over the PL/pgSQL functions of migration 0003.

Every call is one SQL function in one transaction that locks the job's ``job_runs`` row
first, so a job's state changes are serialised and each returns a :class:`Step`: what
the worker needs next (the next claimed task, ready/running counts, job end, fallback).

SQL functions (schema ``engine_v2``):

* ``materialize_job(job_id, tasks, edges)`` - all tasks and edges, once; roots promoted
* ``start_job(job_id, tasks, edges, owner, more)`` - materialize + first claims, one call
* ``start_jobs(job_ids, tasks, edges, owner, more)`` - ``start_job`` for each job a claim
  just took, in the claim's commit (:func:`start_many`)
* ``claim_task(job_id, owner, more)`` - 8.2 claim (SKIP LOCKED), fenced on the job's owner;
  ``more`` claims further ready tasks at once for idle sibling workers (``step.more``)
* ``task_succeeded`` / ``task_failed`` / ``task_canceled`` - a fenced completion per
  outcome (:class:`~enginev2d.completion.Completion`): attempt row, artifacts, events,
  skips (7.4), promotion (8.1), retry or failure propagation (8.4), deadlock (8.6),
  progress, job failure with fallback, and optionally the worker's next claims
* ``finish_job(job_id, owner, result)`` / ``fail_job(...)`` - job outcome (a batch's
  ended jobs finish in one statement: :func:`finalize_steps`)
* ``cancel_job(job_id, reason)`` -> 'canceled' | 'completed' | 'pending',
  ``log_fallback(job_id, code, detail)``, ``retry_job(job_id)``,
  ``recover_job(job_id, owner, max_takeovers, published)``

Job success needs Python (the v1 response from ``fallback.job_result_rows``, and
``validate_output``): when a step says ``finalize``, :func:`complete` / :func:`claim`
build the result and finish the job in the same transaction. The hot path may pass
``atomic=False`` (autocommit: one statement, one round trip) when it knows the call
cannot end the job; if it does after all, the job is finished in a second transaction
that locks the job first (the state in between, every task done and the job running,
is what recovery finalizes too).
After the commit, a job that failed or was canceled by that transaction is signalled
with ``fallback.notify_fallback`` (the NOTIFY already went out at commit).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from . import fallback, metrics
from .completion import Completion
from .config import Config
from .db import column
from .errors import V2_OUTPUT_INVALID, OutputInvalid, SchedulerError, classify, job_error_code
from .publish import Production
from .sql import load_queries
from .workflow import DEFAULT_WORKFLOW, Workflow

logger = logging.getLogger(__name__)

Q = load_queries("scheduler")

CHAT_RESULT = {"type": "chat", "intent": "chat"}


@dataclass(frozen=True)
class ClaimedTask:
    id: str
    task_key: str
    attempt: int  # the fencing token
    label: str | None = None
    max_attempts: int = 1
    prev_error: Mapping[str, Any] | None = None

    @property
    def repair_hint(self) -> str | None:
        """Why the previous attempt's output was rejected (OutputInvalid), if it was."""
        err = self.prev_error or {}
        if err.get("kind") == "OutputInvalid" or err.get("code") == V2_OUTPUT_INVALID:
            return err.get("repair_hint") or err.get("message")
        return None

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> ClaimedTask | None:
        if not d:
            return None
        return cls(
            id=str(d["id"]),
            task_key=d["task_key"],
            attempt=int(d["attempt"]),
            label=d.get("label"),
            max_attempts=int(d.get("max_attempts") or 1),
            prev_error=d.get("prev_error"),
        )


@dataclass
class Step:
    """The outcome of one scheduler call."""

    result: str  # ok | stale | missing | not_finishable
    task: ClaimedTask | None = None  # claimed for the caller
    ready: int = 0
    running: int = 0
    active: int = 0  # pending + blocked + ready + running
    job_status: str | None = None
    error_code: str | None = None
    mode: str | None = None
    progress: int = 0
    finalize: bool = False
    intent: str | None = None
    ended: str | None = None  # job status this transaction moved the job to
    duration_s: float | None = None
    skipped: list[str] = field(default_factory=list)
    reason: str | None = None
    more: list[ClaimedTask] = field(default_factory=list)  # extra claims (idle siblings)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stale(self) -> bool:
        return self.result == "stale"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Step:
        known = {
            "result", "task", "ready", "running", "active", "job_status", "error_code",
            "mode", "progress", "finalize", "intent", "ended", "duration_s", "skipped",
            "reason", "more",
        }  # fmt: skip
        return cls(
            result=d.get("result", "ok"),
            task=ClaimedTask.from_json(d.get("task")),
            ready=int(d.get("ready") or 0),
            running=int(d.get("running") or 0),
            active=int(d.get("active") or 0),
            job_status=d.get("job_status"),
            error_code=d.get("error_code"),
            mode=d.get("mode"),
            progress=int(d.get("progress") or 0),
            finalize=bool(d.get("finalize")),
            intent=d.get("intent"),
            ended=d.get("ended"),
            duration_s=d.get("duration_s"),
            skipped=list(d.get("skipped") or []),
            reason=d.get("reason"),
            more=[t for t in map(ClaimedTask.from_json, d.get("more") or []) if t is not None],
            extra={k: v for k, v in d.items() if k not in known},
        )


def _step(conn: psycopg.Connection[Any], query: str, params: Mapping[str, Any]) -> Step:
    row = conn.execute(Q[query], params).fetchone()
    data = column(row, "step")
    return Step.from_json(data)


# --------------------------------------------------------------------------- materialize


def materialize(
    conn: psycopg.Connection[Any],
    job_id: str,
    workflow: Workflow = DEFAULT_WORKFLOW,
    *,
    validate: bool = True,
) -> dict[str, Any]:
    """Write the job's DAG once (idempotent) and promote its roots.

    Returns ``{"created": bool, "outputs": {task_key: output}}`` (outputs of succeeded
    tasks when the DAG existed already, for a resuming runner). ``validate=False`` lets
    tests store cyclic or dangling definitions to exercise run-time deadlock detection.
    """
    if validate:
        workflow.validate()
    row = conn.execute(
        Q["materialize_job"],
        {
            "job_id": job_id,
            "tasks": Jsonb(workflow.task_rows()),
            "edges": Jsonb(workflow.edge_rows()),
        },
    ).fetchone()
    return column(row, "step")


def start(
    conn: psycopg.Connection[Any],
    cfg: Config,
    job_id: str,
    owner: str | None,
    workflow: Workflow = DEFAULT_WORKFLOW,
    *,
    validate: bool = True,
    more: int = 0,
) -> Step:
    """:func:`materialize` and :func:`claim` (``1 + more`` tasks) in one call: a fresh
    runner's first round trip. ``step.extra`` has ``created`` and ``outputs``."""
    if validate:
        workflow.validate()
    params = {
        "job_id": job_id,
        "tasks": Jsonb(workflow.task_rows()),
        "edges": Jsonb(workflow.edge_rows()),
        "owner": owner,
        "more": more,
    }
    step = call(conn, cfg, job_id, owner, "start_job", params, atomic=False)
    after_commit(cfg, job_id, step)  # a job can end right here (deadlock at start)
    return step


@dataclass
class Started:
    """What :func:`start_many` did: a step per job started, the error of each job whose
    start raised (left to its runner, whose own start meets the error), how many the
    set-based path started, and why it raised if it did (a bug: started one by one)."""

    steps: dict[str, Step]
    errors: dict[str, str]
    set_based: int = 0
    set_based_error: str | None = None


def start_many(
    conn: psycopg.Connection[Any],
    cfg: Config,
    job_ids: Sequence[str],
    owner: str | None,
    workflow: Workflow,
    *,
    more: int = 0,
) -> Started:
    """:func:`start` for each of ``job_ids`` (fresh jobs the caller just claimed), one
    round trip: in the caller's transaction (a batch that claimed them) or, on a
    connection in autocommit, committed at once. ``workflow`` is validated already.
    Nothing is signalled: each step goes to its runner, which calls :func:`after_commit`."""
    params = {
        "job_ids": list(job_ids),
        "tasks": Jsonb(workflow.task_rows()),
        "edges": Jsonb(workflow.edge_rows()),
        "owner": owner,
        "more": more,
    }
    out = column(conn.execute(Q["start_jobs"], params).fetchone(), "result")
    steps = {job_id: Step.from_json(s) for job_id, s in out["steps"].items()}
    for job_id, step in steps.items():  # a DAG with nothing to run ends at its start
        if step.finalize:
            steps[job_id] = (
                finish_locked(conn, cfg, job_id, owner, step)
                if conn.autocommit and not conn.info.transaction_status
                else finalize_step(conn, cfg, job_id, owner, step)
            )
    return Started(
        steps, dict(out["errors"]), int(out.get("set_based") or 0), out.get("set_based_error")
    )


# --------------------------------------------------------------------------- hot path


def _merged(step: Step, done: Step) -> Step:
    """The finalize step, keeping what the completing call reported (its skips)."""
    done.skipped = list(dict.fromkeys([*step.skipped, *done.skipped]))
    return done


def call(
    conn: psycopg.Connection[Any],
    cfg: Config,
    job_id: str,
    owner: str | None,
    query: str,
    params: Mapping[str, Any],
    *,
    atomic: bool = True,
) -> Step:
    """One scheduler call, the job finished when the call completed its last task: in
    the same transaction when ``atomic``, else (autocommit: one statement, one round
    trip) in a second one that locks the job first. Nothing is signalled yet: see
    :func:`after_commit`. The group completer's per-item path is this call too."""
    if atomic or not conn.autocommit or conn.info.transaction_status:
        with conn.transaction():
            step = _step(conn, query, params)
            if step.finalize:
                step = finalize_step(conn, cfg, job_id, owner, step)
        return step
    step = _step(conn, query, params)  # autocommit: one statement, one round trip
    return finish_locked(conn, cfg, job_id, owner, step) if step.finalize else step


def claim(
    conn: psycopg.Connection[Any],
    cfg: Config,
    job_id: str,
    owner: str | None,
    *,
    more: int = 0,
    atomic: bool = True,
) -> Step:
    """Claim the next ready task (``step.task``) or learn why there is none; ``more``
    claims up to that many further tasks (``step.more``) for idle sibling workers."""
    params = {"job_id": job_id, "owner": owner, "more": more}
    step = call(conn, cfg, job_id, owner, "claim_task", params, atomic=atomic)
    after_commit(cfg, job_id, step)
    return step


class Claim:
    """:func:`claim` as the repeatable write of a retry loop (``JobRunner._db``) that
    survives a lost acknowledgement. A claim leaves no closed attempt to recognise its
    transaction by, so each try first opens its transaction and reads its id, then sends
    the claim and its COMMIT as one query (the server never waits on us while the claim
    holds the job's row); a try after a broken connection first asks whether an earlier
    one committed (``claim_landed``): the tasks that try claimed are then this claim's,
    and nothing is claimed again. Without it they would be held by no worker until the
    job timed out. One round trip more than the one-statement claim, on an idle
    worker's claim and a takeover's first, never the hand-off path. Needs a connection
    idle in autocommit, like every runner's."""

    def __init__(self, cfg: Config, job_id: str, owner: str | None, *, more: int = 0) -> None:
        self.cfg, self.job_id, self.owner, self.more = cfg, job_id, owner, more
        self.tries: list[int] = []  # transaction ids, one per try that got that far

    def __call__(self, conn: psycopg.Connection[Any]) -> Step:
        if not conn.autocommit or conn.info.transaction_status != TransactionStatus.IDLE:
            raise RuntimeError("a claim needs a connection idle in autocommit")
        for txid in self.tries:
            step = self._landed(conn, txid)
            if step is not None:
                return step
        step = self._claim(conn)
        if step.finalize:  # as an autocommit claim: the job ends in a second transaction
            step = finish_locked(conn, self.cfg, self.job_id, self.owner, step)
        after_commit(self.cfg, self.job_id, step)
        return step

    def _claim(self, conn: psycopg.Connection[Any]) -> Step:
        params = {"job_id": self.job_id, "owner": self.owner, "more": self.more}
        with psycopg.ClientCursor(conn) as cur:  # client-side binding: two statements
            try:
                cur.execute(Q["claim_begin"])
                cur.nextset()
                self.tries.append(int(column(cur.fetchone(), "txid")))
                cur.execute(Q["claim_commit"], params)
                return Step.from_json(column(cur.fetchone(), "step"))
            except BaseException:
                if not conn.broken and conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")  # the claim raised: COMMIT was not run
                raise

    def _landed(self, conn: psycopg.Connection[Any], txid: int) -> Step | None:
        """Try ``txid``'s step when it committed (or the stale answer), else None."""
        step = landed(conn, self.cfg, self.job_id, self.owner, "claim", txid=txid)
        if not step.stale and not step.extra.get("landed"):
            return None
        after_commit(self.cfg, self.job_id, step)
        return step


def complete(
    conn: psycopg.Connection[Any],
    cfg: Config,
    job_id: str,
    owner: str | None,
    completion: Completion,
    *,
    claim_next: bool = False,
    more: int = 0,
    atomic: bool = True,
) -> Step:
    """Record a finished attempt (fenced on the owner and the attempt) and optionally
    claim the worker's next task (and up to ``more`` for idle siblings: ``step.more``).
    The group completer (:mod:`enginev2d.completer`) records the same in batches."""
    params = completion.params(job_id, owner, claim=claim_next, more=more)
    step = call(conn, cfg, job_id, owner, completion.query, params, atomic=atomic)
    after_complete(cfg, job_id, completion, step)
    return step


def in_doubt(kind: str, step: Step) -> bool:
    """A repeated write's answer when its first try may have committed: a completion
    whose attempt is no longer running, a start that found its DAG made and claimed
    nothing. Cancels claim nothing: their stale answer is their outcome either way."""
    if kind == "start":
        return step.result == "ok" and step.extra.get("created") is False and step.task is None
    return kind in ("succeeded", "failed") and step.stale and step.reason == "attempt"


def landed(
    conn: psycopg.Connection[Any],
    cfg: Config,
    job_id: str,
    owner: str | None,
    kind: str,
    *,
    task_id: str | None = None,
    attempt: int | None = None,
    txid: int | None = None,
) -> Step:
    """A write was repeated after a broken connection (its first commit may have landed
    with the acknowledgement lost) and came back :func:`in_doubt`: the step the first
    try returned when it did land, claims included (``completion_landed``,
    ``start_landed``), else the repeat's answer. Without this the claims the first try
    made would be held by no worker until the job timed out. The job is finished here
    if that step says so. ``kind`` "claim": whether the claim that ran in transaction
    ``txid`` committed (``claim_landed``; ``landed`` in the step says)."""
    if kind == "start":
        query, params = "start_landed", {"job_id": job_id, "owner": owner}
    elif kind == "claim":
        query, params = "claim_landed", {"job_id": job_id, "owner": owner, "txid": txid}
    else:
        query = "completion_landed"
        params = {
            "job_id": job_id, "task_id": task_id, "attempt": attempt, "owner": owner,
            "outcome": kind,
        }  # fmt: skip
    step = call(conn, cfg, job_id, owner, query, params, atomic=False)
    if not step.stale and step.extra.get("landed", True):
        logger.warning(
            "a %s's commit landed unacknowledged: its step is recovered",
            kind if kind in ("start", "claim") else "completion",
            extra={"action": "write_landed", "job_id": job_id, "task_key": None},
        )
    return step


def charge(
    conn: psycopg.Connection[Any], task_id: str, attempt: int, usage: Mapping[str, Any]
) -> bool:
    """Add ``usage`` (tokens, cost) to an attempt that no completion will record: its
    job was lost, or its completion refused as stale. Not fenced on the owner, never
    added to a row a completion closed with its usage (``charge_attempt``); False when
    nothing was added."""
    row = conn.execute(
        Q["charge_attempt"], {"task_id": task_id, "attempt": attempt, "usage": Jsonb(dict(usage))}
    ).fetchone()
    return bool(row and column(row, "charged"))


def hand_once(steps: list[Step]) -> None:
    """Steps recovered for several items of one job share their transaction's claims
    and skips (:func:`landed`): each stays with the first step that names it."""
    given: set[str] = set()
    skipped: set[str] = set()
    for step in steps:
        claims = [t for t in (step.task, *step.more) if t is not None and t.id not in given]
        given.update(t.id for t in claims)
        step.task, step.more = (claims[0], claims[1:]) if claims else (None, [])
        step.skipped = [k for k in step.skipped if k not in skipped]
        skipped.update(step.skipped)


def after_complete(cfg: Config | None, job_id: str, completion: Completion, step: Step) -> None:
    """What follows a completion's commit, in the worker's thread: the stale warning, the
    job's end (metrics, log, fallback webhook)."""
    if step.stale:
        logger.warning(
            "stale write rejected: attempt %s of task %s no longer current (%s)",
            completion.attempt,
            completion.task_id,
            step.reason,
            extra={"action": "stale_write_rejected", "job_id": job_id, "task_key": None},
        )
    after_commit(cfg, job_id, step)


@dataclass(frozen=True)
class Ending:
    """A job whose step said finalize, to end in the caller's transaction.
    ``live_result``: the job's commit is live in production, so it can never fail over;
    a result that cannot be built from the rows is read back from that commit."""

    job_id: str
    owner: str | None
    step: Step
    live_result: Callable[[], dict[str, Any]] | None = None


def finalize_step(
    conn: psycopg.Connection[Any], cfg: Config, job_id: str, owner: str | None, step: Step
) -> Step:
    """(in the caller's transaction, the job's row locked) ``step`` said finalize: end
    the job; the returned step keeps what the completing call reported."""
    return finalize_steps(conn, cfg, [Ending(job_id, owner, step)])[0]


def finalize_steps(
    conn: psycopg.Connection[Any], cfg: Config, endings: Sequence[Ending]
) -> list[Step]:
    """:func:`finalize_step` for several jobs (the jobs a batch ended), in their order:
    one result read and one finish statement, whatever their number."""
    done = _finalize(conn, cfg, endings)
    return [_merged(e.step, d) for e, d in zip(endings, done, strict=True)]


def finish_locked(
    conn: psycopg.Connection[Any], cfg: Config, job_id: str, owner: str | None, step: Step
) -> Step:
    """(autocommit) ``step``'s call committed and said finalize: end the job in a
    transaction of its own that locks it first (repeatable: a finished job is not
    finished twice; the state in between is what a takeover finalizes too)."""
    with conn.transaction():
        conn.execute(Q["lock_job"], {"job_id": job_id})
        return finalize_step(conn, cfg, job_id, owner, step)


def _finalize(conn: psycopg.Connection[Any], cfg: Config, endings: Sequence[Ending]) -> list[Step]:
    """Every task succeeded or skipped: build each job's result and end it (in the
    caller's transaction). Chat jobs end with ``CHAT_RESULT`` plus the intent task's
    ``reply``, and never touch public.jobs; a job whose result cannot be built fails."""
    results = _results(conn, [e.job_id for e in endings if e.step.intent != "chat"])
    steps: dict[int, Step] = {}
    finishing: list[tuple[int, dict[str, Any]]] = []
    for i, e in enumerate(endings):
        if e.step.intent == "chat":
            finishing.append((i, _chat_result(conn, e.job_id)))
            continue
        result, failure = results[e.job_id]
        if failure is not None and e.live_result is not None:
            logger.warning(
                "result rebuilt from the live commit: %s",
                failure[1],
                extra={"action": "result_from_production", "job_id": e.job_id, "task_key": None},
            )
            result, failure = e.live_result(), None
        if failure is None:
            finishing.append((i, result))
            continue
        code, message = failure
        params = {"job_id": e.job_id, "owner": e.owner, "error_code": code, "message": message}
        steps[i] = _step(conn, "fail_job", {**params, "cancel_code": None})
    for (i, _), done in zip(finishing, _finish(conn, cfg, endings, finishing), strict=True):
        steps[i] = done
    return [steps[i] for i in range(len(endings))]


def _finish(
    conn: psycopg.Connection[Any],
    cfg: Config,
    endings: Sequence[Ending],
    finishing: list[tuple[int, dict[str, Any]]],
) -> list[Step]:
    """``finish_job`` for each (index into ``endings``, result), in one statement; then
    the host's ``public.jobs`` row of each live job that succeeded, once per job
    (psycopg's pipeline mode, which ``executemany`` uses, measured slower than the
    round trips it saves when a whole batch ran in it)."""
    if not finishing:
        return []
    params = {
        "job_ids": [endings[i].job_id for i, _ in finishing],
        "owners": [endings[i].owner for i, _ in finishing],
        "results": [Jsonb(result) for _, result in finishing],
    }
    rows = conn.execute(Q["finish_jobs"], params).fetchall()
    steps = [Step.from_json(column(row, "step")) for row in rows]
    for (i, _), done in zip(finishing, steps, strict=True):
        if endings[i].step.intent != "chat" and done.ended == "succeeded" and done.mode == "live":
            # Design 9: v2 marks public.jobs completed, in the same transaction.
            conn.execute(cfg.publish.complete_job_sql, {"job_id": endings[i].job_id})
    return steps


def _chat_result(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any]:
    row = conn.execute(Q["chat_reply"], {"job_id": job_id, "task_key": "intent"}).fetchone()
    reply = column(row, "reply") if row else None
    return {**CHAT_RESULT, "reply": reply} if reply else CHAT_RESULT


Built = tuple[dict[str, Any], tuple[str, str] | None]  # a job's result, or why it failed


def _results(conn: psycopg.Connection[Any], job_ids: list[str]) -> dict[str, Built]:
    """Each job's v1 response, or the error code and message that fail the job: one read
    for them all, in a savepoint (a failing read must not poison the caller's
    transaction). When that read fails, each job is read alone, so a failure is its own."""
    if not job_ids:
        return {}
    try:
        with conn.transaction():
            rows = fallback.job_result_rows(conn, job_ids)
    except Exception as exc:
        if len(job_ids) == 1:
            return {job_ids[0]: ({}, _build_failure(exc))}
        return {j: built for one in job_ids for j, built in _results(conn, [one]).items()}
    return {j: _built(rows.get(j) or {}) for j in job_ids}


def _built(rows: dict[str, Any]) -> Built:
    try:
        result = fallback.result_from_rows(rows)
    except Exception as exc:
        return {}, _build_failure(exc)
    if not fallback.validate_output(result):
        return result, (V2_OUTPUT_INVALID, "job result failed validate_output (design 14)")
    return result, None


def _build_failure(exc: Exception) -> tuple[str, str]:
    err = classify(exc)
    code = V2_OUTPUT_INVALID if isinstance(err, OutputInvalid) else job_error_code(err.code)
    return code, f"building the job result failed: {err.message}"


def after_commit(cfg: Config | None, job_id: str, step: Step) -> None:
    if not step.ended:
        return
    metrics.job_finished(step.ended, float(step.duration_s or 0.0), error_code=step.error_code)
    if step.ended in ("failed", "canceled"):
        logger.warning(
            "job %s %s (%s): fallback to v1",
            job_id,
            step.ended,
            step.error_code,
            extra={"action": "job_" + step.ended, "job_id": job_id, "task_key": None},
        )
        if cfg is not None:
            try:
                fallback.notify_fallback(cfg, job_id, step.error_code or "v2_unknown")
            except Exception:  # the NOTIFY already went out; the webhook is best effort
                logger.exception(
                    "notify_fallback failed",
                    extra={"action": "notify_fallback_failed", "job_id": job_id, "task_key": None},
                )
    else:
        logger.info(
            "job %s succeeded",
            job_id,
            extra={"action": "job_succeeded", "job_id": job_id, "task_key": None},
        )


# --------------------------------------------------------------------------- job control


def fail_job(
    conn: psycopg.Connection[Any],
    cfg: Config | None,
    job_id: str,
    owner: str | None,
    error_code: str,
    message: str,
    *,
    cancel_code: str | None = None,
) -> Step:
    """Fail the job from outside a task (e.g. ``v2_timeout``); waiting tasks canceled."""
    with conn.transaction():
        step = _step(
            conn,
            "fail_job",
            {
                "job_id": job_id,
                "owner": owner,
                "error_code": error_code,
                "message": message,
                "cancel_code": cancel_code,
            },
        )
    after_commit(cfg, job_id, step)
    return step


def cancel_job(
    conn: psycopg.Connection[Any],
    job_id: str,
    reason: str | None = None,
    *,
    cfg: Config | None = None,
) -> str:
    """The server's (or an operator's) cancel, idempotent: ``'canceled'`` (v2 publishes
    and completes nothing), ``'completed'`` (v2 had already won) or ``'pending'`` (the
    daemon died mid-publish; the takeover ends the run with jobCompleted or jobCanceled).
    Running attempts are stopped in the same transaction; their workers' late reports
    are fenced off."""
    with conn.transaction():
        before = job_state(conn, job_id)
        row = conn.execute(Q["cancel_job"], {"job_id": job_id, "reason": reason}).fetchone()
        answer = str(column(row, "answer"))
        state = job_state(conn, job_id)
    was = before["status"] if before is not None else None
    if answer == "canceled" and was == "running":
        step = Step("ok", job_status="canceled", error_code="canceled", ended="canceled")
        if state is not None:
            step.progress = int(state.get("progress") or 0)
        after_commit(cfg, job_id, step)
    return answer


def log_fallback(
    conn: psycopg.Connection[Any],
    job_id: str,
    code: str,
    detail: Mapping[str, Any] | None = None,
) -> str:
    """Record a fallback the server decided itself (cancelling a run still going);
    returns :func:`cancel_job`'s answer."""
    params = {"job_id": job_id, "code": code, "detail": Jsonb(dict(detail or {}))}
    row = conn.execute(Q["log_fallback"], params).fetchone()
    return str(column(row, "answer"))


def retry_job(conn: psycopg.Connection[Any], job_id: str) -> bool:
    """Re-run a failed/canceled shadow job from its failed and canceled tasks (fresh
    attempt budget, attempt numbers continue). False when the job is not failed/canceled;
    :class:`SchedulerError` for a live job that fell back (v1 owns it)."""
    try:
        row = conn.execute(Q["retry_job"], {"job_id": job_id}).fetchone()
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        raise SchedulerError(exc.diag.message_primary or str(exc).strip()) from None
    return bool(column(row, "retried"))


def recover_job(
    conn: psycopg.Connection[Any],
    job_id: str,
    owner: str | None,
    cfg: Config | None = None,
    *,
    production: Production | None = None,
) -> Step:
    """After a takeover: under the job's publish lock, look at production first (this
    job's commit live means it completes as succeeded), then re-run what the dead owner
    left running without using up attempts (``daemon.max_takeovers`` bounds it)."""
    max_takeovers = cfg.daemon.max_takeovers if cfg is not None else 3
    with conn.transaction():
        conn.execute(Q["publish_lock"], {"job_id": job_id})
        job = conn.execute(Q["job_row"], {"job_id": job_id}).fetchone()
        live = production.live_commit(job) if (production and isinstance(job, Mapping)) else None
        params = {
            "job_id": job_id,
            "owner": owner,
            "max_takeovers": max_takeovers,
            "published": live,
        }
        step = _step(conn, "recover_job", params)
        if step.finalize and cfg is not None:
            rebuild = None
            if live and production is not None and isinstance(job, Mapping):
                rebuild = functools.partial(production.v1_result, job, live)
            step = finalize_steps(conn, cfg, [Ending(job_id, owner, step, rebuild)])[0]
    after_commit(cfg, job_id, step)
    return step


def task_progress(
    conn: psycopg.Connection[Any],
    job_id: str,
    owner: str | None,
    task_id: str,
    attempt: int,
    data: Mapping[str, Any],
) -> bool:
    """A ``taskProgress`` event for a running attempt (fenced: False, and nothing
    written, once the attempt or the run is over)."""
    params = {
        "job_id": job_id,
        "task_id": task_id,
        "attempt": attempt,
        "owner": owner,
        "data": Jsonb(dict(data)),
    }
    row = conn.execute(Q["task_progress"], params).fetchone()
    return bool(column(row, "written"))


def job_state(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any] | None:
    """The run's status and ownership (None when there is no run, or rows are tuples)."""
    # the one row, whatever the spelling of the id the caller was given
    return next(iter(job_states(conn, [job_id]).values()), None)


def job_states(conn: psycopg.Connection[Any], job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Status and ownership of each of ``job_ids`` that has a run, by job id (one query)."""
    rows = conn.execute(Q["job_states"], {"job_ids": job_ids}).fetchall()
    return {r["job_id"]: dict(r) for r in rows if isinstance(r, Mapping)}
