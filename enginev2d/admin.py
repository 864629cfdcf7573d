"""Plain functions behind the admin commands (``enginev2d submit/status/events/jobs/...``).

Each takes a connection (autocommit, dict rows) and returns data; the click commands in
:mod:`enginev2d.cli` only parse options, call one of these and print. Errors are
:class:`AdminError` with a one-line message.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from .errors import EngineError
from .progress import notified_jobs
from .sql import load_queries
from .status import TERMINAL_EVENTS, RunStatus

if TYPE_CHECKING:
    from .config import Config

QUERIES = load_queries("admin")
logger = logging.getLogger(__name__)

RUN_STATUSES = tuple(RunStatus)

Conn = psycopg.Connection[Any]


class AdminError(EngineError):
    """An admin command cannot do what it was asked (unknown job, bad argument, ...)."""


class JobNotFound(AdminError):
    pass


def parse_job_id(text: str) -> str:
    try:
        return str(uuid.UUID(str(text).strip()))
    except ValueError:
        raise AdminError(f"not a job id (UUID): {text!r}") from None


# --------------------------------------------------------------------------- submit


def submit(
    conn: Conn,
    message: str,
    *,
    user_id: str,
    project_id: str,
    mode: str = "live",
    job_id: str | None = None,
    create_host_row: bool = False,
) -> dict[str, Any]:
    """Submit a job through ``engine_v2.submit_job`` exactly as the Node server does.

    Without ``create_host_row`` the ``public.jobs`` row must exist (the host owns it);
    with it (demo and test setups) the stand-in row is inserted in the same transaction.
    """
    user = parse_job_id(user_id) if user_id else None
    if user is None:
        raise AdminError("--user is required (the JWT-verified user id, a UUID)")
    job = parse_job_id(job_id) if job_id else str(uuid.uuid4())
    if not create_host_row and not job_id:
        raise AdminError(
            "no public.jobs row to submit: pass --job-id of the host's row, "
            "or --create-host-row in demo/test setups"
        )
    params = {
        "job_id": job,
        "user_id": user,
        "project_id": project_id,
        "message": message,
        "options": Jsonb({"mode": mode}),
    }
    try:
        with conn.transaction():
            if create_host_row:
                conn.execute(QUERIES["insert_host_job"], params)
            row = conn.execute(QUERIES["submit_job"], params).fetchone()
    except psycopg.errors.ForeignKeyViolation:
        raise AdminError(f"no public.jobs row with id {job} (create it first)") from None
    except psycopg.errors.InsufficientPrivilege:
        raise AdminError(f"user {user} does not own job {job}") from None
    except psycopg.errors.UniqueViolation:
        raise AdminError(f"public.jobs already has a row with id {job}") from None
    except psycopg.errors.InvalidParameterValue as exc:
        raise AdminError(_first_line(exc)) from None
    created = bool(row and row["created"])
    logger.info(
        "job submitted" if created else "job already submitted",
        extra={"action": "admin_submit", "job_id": job, "created": created},
    )
    return {"job_id": job, "created": created, "mode": mode}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- status


def job_status(conn: Conn, job_id: str) -> dict[str, Any]:
    """The run's fields (job_id, status, error_code, progress, ...) and its ``tasks``."""
    job = parse_job_id(job_id)
    run = conn.execute(QUERIES["run"], {"job_id": job}).fetchone()
    if run is None:
        raise JobNotFound(f"no v2 run for job {job}")
    out = dict(run)
    out["job_id"] = str(out["job_id"])
    if out.get("user_id") is not None:
        out["user_id"] = str(out["user_id"])
    out["tasks"] = [dict(t) for t in conn.execute(QUERIES["tasks"], {"job_id": job}).fetchall()]
    return out


def jobs(conn: Conn, *, statuses: Sequence[str] = (), limit: int = 20) -> list[dict[str, Any]]:
    """Recent runs, newest first."""
    for s in statuses:
        if s not in RUN_STATUSES:
            raise AdminError(f"unknown status {s!r} (one of {', '.join(RUN_STATUSES)})")
    if limit <= 0:
        raise AdminError(f"--limit must be > 0, got {limit}")
    rows = conn.execute(
        QUERIES["jobs"], {"statuses": list(statuses) or None, "limit": limit}
    ).fetchall()
    return [{**r, "job_id": str(r["job_id"])} for r in rows]


# --------------------------------------------------------------------------- events


def relay_form(job_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """One event as the Node server relays it: the section 13 payload plus job_id/seq."""
    data = row.get("data") or {}
    if not isinstance(data, dict):
        data = {"value": data}
    out: dict[str, Any] = {"job_id": job_id, "seq": row["seq"], "type": row["event_type"]}
    if row.get("task_key") and "task_key" not in data:
        out["task_key"] = row["task_key"]
    out.update({k: v for k, v in data.items() if k not in ("job_id", "seq")})
    out.setdefault("type", row["event_type"])
    out["event_type"] = row["event_type"]
    out["created_at"] = row["created_at"]
    return out


def events(conn: Conn, job_id: str, *, after: int = 0) -> list[dict[str, Any]]:
    """The job's events with ``seq > after``, in the relayed form."""
    job = parse_job_id(job_id)
    if conn.execute(QUERIES["run_status"], {"job_id": job}).fetchone() is None:
        raise JobNotFound(f"no v2 run for job {job}")
    rows = conn.execute(QUERIES["events_after"], {"job_id": job, "after": after}).fetchall()
    return [relay_form(job, r) for r in rows]


def follow(
    connect: Callable[[], Conn],
    job_id: str,
    *,
    after: int = 0,
    timeout_s: float | None = None,
    poll_s: float = 5.0,
) -> Iterator[dict[str, Any]]:
    """Yield events as they are written, until jobCompleted/jobFailed/jobCanceled.

    Uses ``LISTEN engine_v2_events`` on a dedicated connection from ``connect()``; a
    notification is a hint (:func:`~enginev2d.progress.notified_jobs` reads which jobs it
    names), so after LISTEN, on every hint naming this job beyond ``last`` (and every
    ``poll_s`` as a safety net) it asks for ``seq > last``, like the Node server. Also
    stops when the run is no longer running and everything has been printed (a run that
    ended without a terminal event), or when ``timeout_s`` passes (:class:`AdminError`).
    """
    job = parse_job_id(job_id)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last = after
    with connect() as conn:
        conn.execute("LISTEN engine_v2_events")
        while True:
            status = conn.execute(QUERIES["run_status"], {"job_id": job}).fetchone()
            if status is None:
                raise JobNotFound(f"no v2 run for job {job}")
            for row in conn.execute(
                QUERIES["events_after"], {"job_id": job, "after": last}
            ).fetchall():
                last = row["seq"]
                yield relay_form(job, row)
                if row["event_type"] in TERMINAL_EVENTS:
                    return
            if status["status"] != "running":
                return  # ended, and every event up to now is out
            wait = poll_s
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AdminError(f"timed out following job {job} after seq {last}")
                wait = min(wait, left)
            for note in conn.notifies(timeout=wait):
                if notified_jobs(note.payload).get(job, last) > last:
                    break  # something new for our job: fetch it


# --------------------------------------------------------------------------- rollback


def rollback_check(conn: Conn) -> dict[str, Any]:
    """Design 16 step 3: the v2 runs still running (must be none before removal)."""
    present = conn.execute(QUERIES["schema_present"]).fetchone()
    if not (present and present["present"]):
        return {"schema_present": False, "running": []}
    rows = conn.execute(QUERIES["running_runs"]).fetchall()
    return {
        "schema_present": True,
        "running": [{**r, "job_id": str(r["job_id"])} for r in rows],
    }


# --------------------------------------------------------------------------- cancel/retry


def _scheduler_fn(name: str) -> Callable[..., Any]:
    try:
        from . import scheduler  # type: ignore[attr-defined]
    except ImportError:
        raise AdminError(f"{name} is not available yet (enginev2d.scheduler missing)") from None
    fn = getattr(scheduler, name, None)
    if fn is None:
        raise AdminError(f"{name} is not available yet (enginev2d.scheduler.{name} missing)")
    return fn  # type: ignore[no-any-return]


def _require_run(conn: Conn, job: str) -> str:
    row = conn.execute(QUERIES["run_status"], {"job_id": job}).fetchone()
    if row is None:
        raise JobNotFound(f"no v2 run for job {job}")
    return str(row["status"])


def cancel(
    conn: Conn,
    job_id: str,
    *,
    reason: str = "canceled by operator",
    cfg: Config | None = None,
) -> dict[str, Any]:
    """Operator cancel through ``scheduler.cancel_job`` (events, fallback signal, ...)."""
    job = parse_job_id(job_id)
    before = _require_run(conn, job)
    if before != "running":
        raise AdminError(f"job {job} is {before}, not running: nothing to cancel")
    result = _scheduler_fn("cancel_job")(conn, job, reason=reason, cfg=cfg)
    logger.info("job cancel requested", extra={"action": "admin_cancel", "job_id": job})
    return {"job_id": job, "result": result, "status": _require_run(conn, job)}


def retry(conn: Conn, job_id: str) -> dict[str, Any]:
    """Re-run a failed (or canceled) job from its failed tasks (``scheduler.retry_job``)."""
    job = parse_job_id(job_id)
    before = _require_run(conn, job)
    if before in (RunStatus.RUNNING, RunStatus.SUCCEEDED):
        raise AdminError(f"job {job} is {before}: only a failed job can be retried")
    if conn.execute(QUERIES["run_pruned"], {"job_id": job}).fetchone()["pruned"]:
        raise AdminError(f"job {job} was pruned (retention): its tasks are gone")
    result = _scheduler_fn("retry_job")(conn, job)
    logger.info("job retry requested", extra={"action": "admin_retry", "job_id": job})
    return {"job_id": job, "result": result, "status": _require_run(conn, job)}
