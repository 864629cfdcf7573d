"""publish_prep (design 7.3, 9, 10, 14): commit the job's result and publish it.

``build_input``: ``{files, images, summary}`` from upstream outputs: fix's files override
codegen's per path, images from asset, the summary from codegen (fix's when codegen has
none). ``restore: true`` is added when intent said ``restore``.

``run`` (the external effect, replaced by an injected output):

* live mode, production history already carries ``Engine-Job: <job_id>``: a retry after
  a crash after the swap; that commit is returned and nothing is written (exactly-once).
* restore (intent ``restore``, ``step`` undo or redo, see :mod:`enginev2d.versions`):
  undo checks out the version before the current one (each undo one more back), redo
  the version the last undo left; it is committed on top of HEAD (history is never
  rewritten) with ``Engine-Restored-From``/``Engine-Restore`` trailers and a summary that
  names the version ("back to version 2 of 4, ..."), then published like any result.
  Nothing to undo (or redo) fails with :class:`~enginev2d.errors.OutputInvalid`
  (``v2_output_invalid``, not retryable, detail ``reason: no_previous_version`` or
  ``nothing_to_redo``): nothing is written, and v1 answers the user.
* otherwise: the result must pass :func:`~enginev2d.fallback.validate_output` (else
  ``v2_output_invalid``, before anything is written or published); files are written to
  staging (again: a takeover reseeds staging), committed with the summary as message
  and ``Engine-Job``/``Engine-Models``/``Engine-Cost-USD`` trailers. A result identical
  to the published project (a request that could not be met) makes no commit and no
  swap: ``unchanged: true``, ``commit_hash`` the current one.
* live: the staging tree is swapped into production under the project lock
  (``publish.publish_staging``). shadow: production is never touched.

``apply`` only records artifacts: ``publish`` (live) or ``shadow_result`` (shadow), and
for a restore the restored files as ``code`` artifacts (the v1 response of the job).
With an injected output nothing is committed or swapped (``run`` is not called).
"""

from __future__ import annotations

import base64
import logging
import os
import signal
from pathlib import Path
from typing import Any

from .. import gitrepo, publish, versions
from ..errors import OutputInvalid, PathEscape, SchedulerError
from ..fallback import validate_output
from ..sql import load_queries
from ..staging import normalize_relpath
from ..templates import detect_language
from .base import TaskContext

KEY = "publish_prep"
RESTORED_TRAILER = versions.RESTORED_TRAILER
logger = logging.getLogger(__name__)


def build_input(ctx: TaskContext) -> dict[str, Any]:
    up = ctx.upstream
    codegen = up.get("codegen") or {}
    fix = up.get("fix") or {}
    files: dict[str, dict[str, Any]] = {}
    for source in (codegen, fix):  # later sources win per path
        for f in source.get("files") or []:
            if not isinstance(f, dict):
                continue
            try:
                key = normalize_relpath(f.get("path"))
            except PathEscape:
                key = repr(f.get("path"))  # kept as is: validation rejects it later
            files[key] = {"path": f.get("path"), "content": f.get("content")}
    task_input: dict[str, Any] = {
        "files": list(files.values()),
        "images": list((up.get("asset") or {}).get("images") or []),
        "summary": codegen.get("summary") or fix.get("summary"),
    }
    intent = up.get("intent") or {}
    if intent.get("intent") == "restore":
        task_input["restore"] = True
        task_input["step"] = intent.get("step") if intent.get("step") in versions.STEPS else "undo"
    ctx.extra["publish_input"] = task_input
    return task_input


def run(ctx: TaskContext, task_input: dict[str, Any]) -> Any:
    job = ctx.job
    staging = ctx.staging
    live = job.mode == "live"
    if live and staging.prod_dir.is_dir():
        done = gitrepo.find_job_commit(staging.prod_dir, job.job_id)
        if done:
            ctx.extra["publish"] = {"swapped": False, "idempotent": True}
            out = {"commit_hash": done, "published": True, "mode": job.mode}
            if task_input.get("restore"):  # the v1 response still needs the restored tree
                previous, summary = _restore_done(ctx, staging.prod_dir, done)
                out["restored_from"] = previous
                out["summary"] = summary
                ctx.extra["restored_files"] = gitrepo.text_files_at(staging.prod_dir, done)
            return out
    ctx.check()
    output: dict[str, Any] = {"mode": job.mode}
    if task_input.get("restore"):
        sha, previous, summary = _commit_restore(ctx, task_input.get("step") or "undo")
        output["restored_from"] = previous
        output["summary"] = summary
        ctx.extra["restored_files"] = staging.existing_files()
    else:
        if not validate_output(task_input):
            raise OutputInvalid(
                "publish_prep: the result is not a valid v1 response (files with "
                "index.html and a summary are required)",
                retryable=False,
            )
        staging.write_files(task_input["files"])
        _restore_images(ctx, task_input["images"])
        sha = _commit(ctx, task_input["summary"])
        if sha is None:  # identical to what is published: no empty commit, no swap
            ctx.extra["publish"] = {"swapped": False, "unchanged": True}
            return {
                **output,
                "commit_hash": gitrepo.head(staging.root),
                "published": False,
                "unchanged": True,
            }
    output["commit_hash"] = sha
    ctx.check()  # cancellation point between commit and swap
    if not live:
        output["published"] = False
        return output
    if ctx.pool is None:
        raise SchedulerError("publish_prep: live mode needs a connection pool for the lock")
    result = _publish_guarded(ctx, sha)
    ctx.extra["publish"] = {
        "swapped": result.swapped,
        "strategy": result.report.strategy if result.report else None,
        "swap_ms": round(result.report.swap_s * 1000, 3) if result.report else None,
    }
    output["commit_hash"] = result.commit_hash
    output["published"] = True
    return output


def _publish_guarded(ctx: TaskContext, sha: str) -> publish.PublishResult:
    """Swap under the job's publish guard: the intent (``sha``) is recorded first, the
    guard is held until the worker's completion commits (``ctx.after_complete``), so a
    cancel or a timeout either comes before the swap (and nothing is published) or after
    the completion (and the job is ``completed``). Withdrawn when the swap fails."""
    assert ctx.pool is not None
    guard = publish.PublishGuard(ctx.pool, ctx.job.job_id)
    guard.begin(task_id=ctx.task_id, attempt=ctx.attempt, owner=ctx.owner, commit=sha)
    try:
        result = publish.publish_staging(
            ctx.config, ctx.pool, ctx.staging, commit_hash=sha, before_swap=ctx.check,
            lock_conn=guard.conn,
        )  # fmt: skip
    except BaseException:
        guard.release(unpublished=sha)
        raise
    ctx.after_complete.append(guard.release)
    testing = ctx.config.testing
    if testing.allow_inject and testing.crash_after_swap:  # rehearsal: dies before its commit
        logger.warning("inject: SIGKILL after the swap", extra={"action": "inject_crash"})
        os.kill(os.getpid(), signal.SIGKILL)
    return result


def _restore_images(ctx: TaskContext, images: list[dict[str, Any]]) -> None:
    """Write back images missing from staging (it was rebuilt after a takeover) from the
    bytes the asset task stored with its artifacts."""
    missing = {
        img.get("uri") or img.get("name")
        for img in images
        if isinstance(img, dict) and not (ctx.staging.root / str(img.get("uri") or "")).is_file()
    }
    missing.discard(None)
    if not missing or ctx.pool is None:
        return
    with ctx.pool.connection() as conn:
        rows = conn.execute(
            load_queries("publish")["image_bytes"], {"job_id": ctx.job.job_id}
        ).fetchall()
    for row in rows:
        if (row["name"] in missing or row["uri"] in missing) and row["data_base64"]:
            target = row["uri"] or row["name"]
            ctx.staging.write_bytes(target, base64.b64decode(row["data_base64"]))
            logger.info(
                "restored %s into rebuilt staging",
                target,
                extra={"action": "staging_image_restored", "job_id": ctx.job.job_id},
            )


def _trailers(ctx: TaskContext) -> list[tuple[str, str]]:
    trailers = [(gitrepo.JOB_TRAILER, ctx.job.job_id)]
    if ctx.pool is not None:
        with ctx.pool.connection() as conn:
            row = conn.execute(
                load_queries("publish")["job_usage"], {"job_id": ctx.job.job_id}
            ).fetchone()
        usage = row if isinstance(row, dict) else {"cost_usd": row[0], "models": row[1]}
        if usage["models"]:
            trailers.append(("Engine-Models", ", ".join(sorted(usage["models"]))))
        trailers.append(("Engine-Cost-USD", f"{float(usage['cost_usd'] or 0):.4f}"))
    return trailers


def _author(ctx: TaskContext) -> tuple[str, str]:
    return ctx.config.publish.git_author_name, ctx.config.publish.git_author_email


def _own_head(ctx: TaskContext) -> str | None:
    """Staging HEAD when it is this job's commit and nothing changed since (a retry
    after a crash between commit and swap): commit again would publish twice."""
    root = ctx.staging.root
    sha = gitrepo.head(root)
    if sha and ctx.job.job_id in gitrepo.commit_job_trailer(root, sha) and gitrepo.is_clean(root):
        return sha
    return None


def _commit(ctx: TaskContext, summary: str) -> str | None:
    """This job's commit, or None when the tree is the published one (nothing to commit)."""
    sha = _own_head(ctx)
    if sha:
        return sha
    root = ctx.staging.root
    if gitrepo.head(root) is not None and gitrepo.is_clean(root):
        return None
    message = gitrepo.build_message(summary, _trailers(ctx))
    return gitrepo.commit_all(root, message, author=_author(ctx))


def _restore_done(ctx: TaskContext, repo: Path, commit: str) -> tuple[str, str]:
    """(restored version, summary) of a restore commit already made (a retry)."""
    entries = gitrepo.first_parent_log(
        repo, (versions.RESTORED_TRAILER, versions.STEP_TRAILER), commit
    )
    before = versions.replay(entries[:-1])
    last = entries[-1] if entries else {}
    restored = last.get(versions.RESTORED_TRAILER, "")
    step = last.get(versions.STEP_TRAILER) or "undo"
    known = {v.sha: v for v in before.done + before.undone}
    if restored in known:
        summary = versions.describe(step, known[restored], before.total, _language(ctx))
    else:
        summary = versions.describe_unplaced(restored, _language(ctx))
    return restored, summary


def _language(ctx: TaskContext) -> str:
    return detect_language(ctx.job.message)


def _commit_restore(ctx: TaskContext, step: str) -> tuple[str, str, str]:
    """(commit, restored version, summary): one step back (undo) or forward (redo)."""
    root = ctx.staging.root
    own = _own_head(ctx)
    if own:
        restored, summary = _restore_done(ctx, root, own)
        return own, restored, summary
    t = versions.timeline(root) if gitrepo.head(root) else versions.Timeline()
    target = t.target(step)
    if target is None:
        reason = "nothing_to_redo" if step == "redo" else "no_previous_version"
        raise OutputInvalid(
            f"restore: the project has no version to {step} to",
            retryable=False,
            detail={"reason": reason, "head": gitrepo.head(root)},
        )
    gitrepo.checkout_tree(root, target.sha)
    summary = versions.describe(step, target, t.total, _language(ctx))
    trailers = [
        *_trailers(ctx),
        (versions.RESTORED_TRAILER, target.sha),
        (versions.STEP_TRAILER, step),
    ]
    message = gitrepo.build_message(summary, trailers)
    return gitrepo.commit_all(root, message, author=_author(ctx)), target.sha, summary


def validate(ctx: TaskContext, output: Any) -> dict[str, Any]:
    if not isinstance(output, dict):
        raise OutputInvalid("publish_prep: output must be an object")
    sha = output.get("commit_hash")
    if not isinstance(sha, str) or not sha:
        raise OutputInvalid("publish_prep: output.commit_hash must be a non-empty string")
    return output


def apply(ctx: TaskContext, output: dict[str, Any]) -> None:
    """Record artifacts only; the commit and the swap happened in ``run``."""
    shadow = ctx.job.mode == "shadow"
    injected = bool(ctx.extra.get("injected_output"))
    for rel, text in sorted((ctx.extra.get("restored_files") or {}).items()):
        ctx.add_artifact("code", uri=rel, content={"path": rel, "content": text})
    if shadow:
        task_input = ctx.extra.get("publish_input") or {}
        ctx.add_artifact(
            "shadow_result",
            content={
                "commit_hash": output["commit_hash"],
                "files": task_input.get("files", []),
                "images": task_input.get("images", []),
                "summary": output.get("summary") or task_input.get("summary"),
            },
            metadata={"mode": "shadow", "injected": injected},
        )
        return
    ctx.add_artifact(
        "publish",
        content={"commit_hash": output["commit_hash"], **(ctx.extra.get("publish") or {})},
        metadata={"injected": injected},
    )
