"""Atomic publish of a staging tree into production (design 10.2, 10.3).

**Swap.** The design's two renames (production -> backup, new -> production) leave an
instant with no production directory. Here:

* production is a directory: ``renameat2(RENAME_EXCHANGE)`` swaps staging and
  production in one step; the old tree lands at the staging path and is deleted.
* the filesystem lacks ``RENAME_EXCHANGE`` (EINVAL/ENOSYS/EOPNOTSUPP): production is
  converted once into a symlink to a release directory (``<project>.releases/<id>``);
  that one conversion has the design's short gap (the old tree is renamed away first
  and renamed back if anything fails; it is deleted only on success). Every later
  publish is an ``os.replace`` of a new symlink: atomic everywhere.
* production is already a symlink: the symlink flip above.
* production does not exist yet: parents are created, then a ``RENAME_NOREPLACE``
  (with ``strategy="symlink"``: the release symlink itself, so the project never needs
  the one-time conversion and its gap).
* ``strategy="backup_rename"`` keeps the design's 10.2 sequence verbatim (backup deleted
  ONLY on success) for operators who cannot have a symlink as project path.

Durability order: every file of the staging tree, then its directories (bottom-up, the
staging root last), then the swap, then the parent directory of production. The tree
sync happens before the project lock is taken, so the lock is held for milliseconds.

**Lock.** One publish per project at a time: ``pg_try_advisory_xact_lock(k1, k2)`` on a
pooled connection, inside an explicit transaction that stays open around the swap (on an
autocommit connection the lock would end with its own statement). A held lock is
:class:`~enginev2d.errors.ConcurrentApply` (``v2_concurrent_apply``). With
``publish.lock_wait_s > 0`` the try is repeated every 50 ms until that deadline first:
a second job of the same project usually only needs the first swap (milliseconds) to
end, and failing it would send the user to v1 for nothing; polling with the *try* form
keeps the wait bounded by our own clock and never leaves a waiter queued in PostgreSQL.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import struct
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from . import fsswap, gitrepo
from .errors import Canceled, ConcurrentApply, StagingError, WorkerLost
from .sql import load_queries
from .staging import project_dir

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from .config import Config
    from .staging import Staging

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "exchange", "symlink", "backup_rename")
LOCK_POLL_S = 0.05


# --------------------------------------------------------------------------- swap


@dataclass
class SwapReport:
    strategy: str  # create | exchange | symlink | symlink_create | symlink_convert | backup_rename
    swap_s: float  # the rename step alone (what a reader could ever notice)
    total_s: float  # fsync + swap + fsync parent + removal of the old tree
    files_synced: int


def releases_dir(prod: Path) -> Path:
    return prod.parent / f"{prod.name}.releases"


def _unique(base: Path, tag: str) -> Path:
    return base / f"{time.time_ns()}-{tag}-{uuid.uuid4().hex[:6]}"


def swap_into_place(
    new: Path,
    prod: Path,
    *,
    strategy: str = "auto",
    durable: bool = True,
    presynced: bool = False,
) -> SwapReport:
    """Make the complete tree at ``new`` the production tree at ``prod``; delete the old
    one. ``new`` is consumed (it no longer holds the new tree afterwards). Filesystem
    failures are :class:`StagingError` (``v2_staging_error``)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown swap strategy {strategy!r}")
    try:
        return _swap_into_place(new, prod, strategy=strategy, durable=durable, presynced=presynced)
    except StagingError:
        raise
    except OSError as exc:
        raise StagingError(f"publish swap into {prod} failed: {exc}") from exc


def _swap_into_place(
    new: Path, prod: Path, *, strategy: str, durable: bool, presynced: bool
) -> SwapReport:
    t0 = time.perf_counter()
    if not new.is_dir() or new.is_symlink():
        raise StagingError(f"nothing to publish: {new} is not a directory")
    files = fsswap.fsync_tree(new) if durable and not presynced else 0
    prod.parent.mkdir(parents=True, exist_ok=True)
    if not fsswap.same_filesystem(new, prod.parent):
        raise fsswap.cross_device(new, prod)

    old: Path | None = None
    if prod.is_symlink() or strategy == "symlink":  # a new project is born a release
        used, swap_s, old = _swap_symlink(new, prod, durable=durable)  # symlink (no gap)
    elif not prod.exists():
        t1 = time.perf_counter()
        fsswap.rename_noreplace(new, prod)
        used, swap_s = "create", time.perf_counter() - t1
    elif strategy == "backup_rename":
        used, swap_s, old = _swap_backup_rename(new, prod)
    else:
        try:
            t1 = time.perf_counter()
            fsswap.exchange(new, prod)
            used, swap_s, old = "exchange", time.perf_counter() - t1, new
        except fsswap.RenameUnsupported as exc:
            if strategy == "exchange":
                raise StagingError(f"RENAME_EXCHANGE unsupported here: {exc}") from exc
            logger.warning(
                "RENAME_EXCHANGE unsupported, converting production to a release symlink",
                extra={"action": "publish_swap_fallback", "prod": str(prod)},
            )
            used, swap_s, old = _swap_symlink(new, prod, durable=durable)
    if durable:
        fsswap.fsync_dir(prod.parent)
    if old is not None:
        _discard(old)
    return SwapReport(used, swap_s, time.perf_counter() - t0, files)


def _swap_symlink(new: Path, prod: Path, *, durable: bool) -> tuple[str, float, Path | None]:
    releases = releases_dir(prod)
    releases.mkdir(exist_ok=True)
    release = _unique(releases, "rel")
    fsswap.rename(new, release)
    if durable:
        fsswap.fsync_dir(releases)
        fsswap.fsync_dir(new.parent)
    target = f"{releases.name}/{release.name}"  # relative: survives moving the parent
    tmp_link = prod.parent / f".{prod.name}.link-{uuid.uuid4().hex[:8]}"
    os.symlink(target, tmp_link)
    if prod.is_symlink():
        old_target = Path(os.path.realpath(prod))
        swap_s = _put_link(os.replace, tmp_link, prod)
        # Only a release we created is ours to delete.
        mine = old_target.parent == Path(os.path.realpath(releases))
        return "symlink", swap_s, old_target if mine else None
    if not os.path.lexists(prod):  # a new project (rename fails if a tree appeared)
        return "symlink_create", _put_link(os.rename, tmp_link, prod), None
    # One-time conversion of a real directory: the design's gap, backup kept on failure.
    previous = _unique(releases, "prev")
    t1 = time.perf_counter()
    fsswap.rename(prod, previous)
    try:
        os.replace(tmp_link, prod)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rename(previous, prod)
        with contextlib.suppress(OSError):
            os.unlink(tmp_link)
        raise
    return "symlink_convert", time.perf_counter() - t1, previous


def _put_link(move: Callable[[Path, Path], None], tmp_link: Path, prod: Path) -> float:
    """``move(tmp_link, prod)`` (``os.replace``: a flip; ``os.rename``: a new project),
    timed; the temporary link is removed when it fails."""
    t1 = time.perf_counter()
    try:
        move(tmp_link, prod)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_link)
        raise
    return time.perf_counter() - t1


def _swap_backup_rename(new: Path, prod: Path) -> tuple[str, float, Path | None]:
    """Design 10.2: backup deleted ONLY on success; on failure only the new tree is
    touched and the backup stays (renamed back when possible)."""
    backup = prod.parent / f"{prod.name}.bak.{int(time.time() * 1000)}"
    t1 = time.perf_counter()
    fsswap.rename(prod, backup)
    try:
        fsswap.rename(new, prod)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rename(backup, prod)
        raise
    return "backup_rename", time.perf_counter() - t1, backup


def _discard(old: Path) -> None:
    try:
        if old.is_symlink():
            old.unlink()
        else:
            shutil.rmtree(old)
    except FileNotFoundError:
        pass
    except OSError as exc:  # the publish itself succeeded: log, do not fail the job
        logger.warning(
            "could not remove the previous tree %s: %s",
            old,
            exc,
            extra={"action": "publish_discard_failed"},
        )


# --------------------------------------------------------------------------- lock


def lock_keys(user_id: str | None, project_id: str | None) -> tuple[int, int]:
    """Two int4 advisory-lock keys from a stable hash of ``user_id/project_id``."""
    digest = hashlib.sha256(f"enginev2d:publish:{user_id}/{project_id}".encode()).digest()
    k1, k2 = struct.unpack(">ii", digest[:8])
    return k1, k2


@contextlib.contextmanager
def _connection(source: ConnectionPool | psycopg.Connection[Any]) -> Iterator[Any]:
    if isinstance(source, psycopg.Connection):
        yield source
    else:
        with source.connection() as conn:
            yield conn


@contextlib.contextmanager
def project_lock(
    source: ConnectionPool | psycopg.Connection[Any],
    user_id: str | None,
    project_id: str | None,
    *,
    wait_s: float = 0.0,
) -> Iterator[psycopg.Connection[Any]]:
    """Hold the project's publish lock for the body of the ``with``, on a connection of
    the pool or on the given one (the publish guard's: two connections per publishing
    job, not three).

    The lock is transaction-scoped and the transaction is explicit, so it is held until
    the block ends (and released by PostgreSQL if the daemon dies).
    """
    k1, k2 = lock_keys(user_id, project_id)
    query = load_queries("publish")["try_project_lock"]
    with _connection(source) as conn, conn.transaction():
        deadline = time.monotonic() + max(0.0, wait_s)
        tries = 0
        while True:
            tries += 1
            row = conn.execute(query, {"k1": k1, "k2": k2}).fetchone()
            acquired = row["acquired"] if isinstance(row, dict) else row[0]  # type: ignore[index]
            if acquired:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConcurrentApply(
                    f"another publish of project {project_id} is in progress",
                    detail={"tries": tries, "lock_wait_s": wait_s},
                )
            time.sleep(min(LOCK_POLL_S, remaining))
        yield conn


# --------------------------------------------------------------------------- production


class Production:
    """What a takeover may learn from production about a job (design 9: a job whose
    output is live is never failed over). Reads only; the caller holds the job's
    publish lock (``engine_v2._publish_lock``) so no publisher is half-way."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def project_dir(self, job: Mapping[str, Any]) -> Path:
        return project_dir(self.cfg, job.get("user_id"), job.get("project_id"))

    def live_commit(self, job: Mapping[str, Any]) -> str | None:
        """This job's commit (``Engine-Job`` trailer) in production's history, if any."""
        if (job.get("mode") or "live") != "live":
            return None
        prod = self.project_dir(job)
        if not prod.is_dir():
            return None
        return gitrepo.find_job_commit(prod, str(job["job_id"]))

    def v1_result(self, job: Mapping[str, Any], commit: str) -> dict[str, Any]:
        """The v1 response read back from the live commit (files and message), for a
        job whose result rows were lost with its daemon (a restore's tree, say)."""
        prod = self.project_dir(job)
        files = gitrepo.text_files_at(prod, commit)
        subject = gitrepo.git(prod, "log", "-1", "--format=%s", commit).stdout.strip()
        return {
            "type": "completed",
            "files": [{"path": p, "content": c} for p, c in sorted(files.items())],
            "images": [],
            "summary": subject or f"Published {commit[:12]}",
        }


# --------------------------------------------------------------------------- guard


class PublishGuard:
    """The job's publish guard (``sql/functions/10_publish_guard.sql``), held on a
    connection of its own from the recorded intent until the task's completion has
    committed: a cancel, a timeout or a takeover waits for a live publisher and never
    decides while production may be half-way. If this process dies, PostgreSQL drops the
    lock with the connection and the intent tells the next owner to look at production.
    """

    def __init__(self, pool: ConnectionPool, job_id: str) -> None:
        self.pool = pool
        self.job_id = job_id
        self._conn: psycopg.Connection[Any] | None = None

    def begin(self, *, task_id: str, attempt: int, owner: str | None, commit: str) -> None:
        """Take the guard and record ``commit`` as the intent, or raise :class:`Canceled`
        (the run ended or a cancel waits) / :class:`WorkerLost` (not our attempt)."""
        conn = self.pool.getconn()
        try:
            row = conn.execute(
                load_queries("publish")["begin_publish"],
                {
                    "job_id": self.job_id,
                    "task_id": task_id,
                    "attempt": attempt,
                    "owner": owner,
                    "commit": commit,
                },
            ).fetchone()
        except BaseException:
            self.pool.putconn(conn)
            raise
        answer = row["answer"] if isinstance(row, dict) else row[0]  # type: ignore[index]
        if answer != "ok":
            self.pool.putconn(conn)
            if answer == "canceled":
                raise Canceled("the run ended before its publish: nothing was published")
            raise WorkerLost("publish refused: this attempt is no longer the job's")
        self._conn = conn

    @property
    def conn(self) -> psycopg.Connection[Any] | None:
        """The guard's connection while it is held (the project lock may use it too)."""
        return self._conn

    def release(self, *, unpublished: str | None = None) -> None:
        """Let go of the guard (idempotent); ``unpublished`` withdraws an intent whose
        swap did not happen. A broken connection already lost the lock."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(
                load_queries("publish")["end_publish"],
                {"job_id": self.job_id, "unpublished": unpublished},
            )
        except psycopg.Error as exc:
            logger.warning(
                "publish guard release failed (the lock went with the connection): %s",
                exc,
                extra={"action": "publish_guard_release_failed", "job_id": self.job_id},
            )
        finally:
            self.pool.putconn(conn)


# --------------------------------------------------------------------------- publish


@dataclass
class PublishResult:
    commit_hash: str | None
    swapped: bool
    report: SwapReport | None = None


def publish_staging(
    cfg: Config,
    pool: ConnectionPool,
    staging: Staging,
    *,
    commit_hash: str | None,
    strategy: str = "auto",
    before_swap: Callable[[], None] | None = None,
    lock_conn: psycopg.Connection[Any] | None = None,
) -> PublishResult:
    """Swap the committed staging tree into production, once per job.

    ``before_swap`` runs under the project lock right before the swap (the task's stop
    check: a lock wait can outlast the job's lease or deadline).

    Under the project lock: if production's history already carries this job's
    ``Engine-Job`` trailer (a retry after a crash after the swap), nothing is swapped and
    that commit is returned. If production moved since staging was seeded (another job
    published in between), the job fails with ``v2_concurrent_apply`` instead of
    silently overwriting the other job's work.
    """
    job = staging.job
    prod = staging.prod_dir
    # The slow part of durability (one fsync per file) needs no lock: done first.
    synced = 0
    if staging.root.is_dir():
        try:
            synced = fsswap.fsync_tree(staging.root)
        except OSError as exc:
            raise StagingError(f"publish: cannot sync {staging.root}: {exc}") from exc
    source = lock_conn if lock_conn is not None else pool
    with project_lock(source, job.user_id, job.project_id, wait_s=cfg.publish.lock_wait_s):
        done = gitrepo.find_job_commit(prod, job.job_id) if prod.is_dir() else None
        if done:
            logger.info(
                "already published",
                extra={"action": "publish_idempotent", "job_id": job.job_id, "commit": done},
            )
            return PublishResult(done, swapped=False)
        seed = staging.seed_info()
        now_exists = prod.is_dir()
        now_base = gitrepo.head(prod) if now_exists else None
        if now_exists != seed["prod_existed"] or now_base != seed["base"]:
            raise ConcurrentApply(
                f"project {job.project_id} changed since this job started "
                f"({seed['base']} -> {now_base})",
                detail={"seed_base": seed["base"], "current": now_base},
            )
        if before_swap is not None:
            before_swap()
        report = swap_into_place(staging.root, prod, strategy=strategy, presynced=True)
        report.files_synced = synced
    logger.info(
        "published",
        extra={
            "action": "publish_swap",
            "job_id": job.job_id,
            "commit": commit_hash,
            "strategy": report.strategy,
            "swap_ms": round(report.swap_s * 1000, 3),
            "total_ms": round(report.total_s * 1000, 3),
            "files_synced": report.files_synced,
        },
    )
    return PublishResult(commit_hash, swapped=True, report=report)
