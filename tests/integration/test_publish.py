"""publish_prep end to end on the real filesystem, real git and a real PostgreSQL lock:
first creation, edits with history, exactly-once after crashes, the project lock,
shadow mode, restore, injected outputs, escapes, and job_result from artifacts."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from enginev2d import fallback, publish
from enginev2d.config import Config
from enginev2d.errors import ConcurrentApply, OutputInvalid, OutputTooLarge, PathEscape
from enginev2d.staging import Staging
from enginev2d.tasks import execute as run_task
from enginev2d.tasks import publish_prep as pp
from enginev2d.tasks.base import JobInfo, TaskContext
from tests.gitutil import git as _git

INDEX = {"path": "index.html", "content": "<html>game</html>"}


def digest(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                st = p.stat()
                out[rel] = f"{hashlib.sha256(p.read_bytes()).hexdigest()}:{st.st_mtime_ns}"
            else:
                out[rel] = "dir"
    return out


def new_job(
    user_id: str | None = None, project_id: str = "proj-1", mode: str = "live", **options: Any
) -> JobInfo:
    return JobInfo(
        str(uuid.uuid4()), user_id or str(uuid.uuid4()), project_id, "msg", mode, options
    )


def make_ctx(
    cfg: Config,
    job: JobInfo,
    *,
    pool: Any = None,
    files: list[dict[str, Any]] | None = None,
    fix_files: list[dict[str, Any]] | None = None,
    summary: str = "Neon snake game",
    intent: str = "edit",
    fresh: bool = False,
    images: list[dict[str, Any]] | None = None,
) -> TaskContext:
    staging = Staging(cfg, job)
    staging.prepare(fresh=fresh)
    upstream: dict[str, dict[str, Any]] = {
        "intent": {"intent": intent},
        "codegen": {"files": files if files is not None else [INDEX], "summary": summary},
        "asset": {"images": images or []},
    }
    if fix_files is not None:
        upstream["fix"] = {"files": fix_files}
    task_id = str(uuid.uuid4())
    if pool is not None:
        register_publish_attempt(pool, job, task_id)
    return TaskContext(
        job=job,
        task_id=task_id,
        task_key="publish_prep",
        attempt=1,
        config=cfg,
        staging=staging,
        upstream=upstream,
        pool=pool,
        owner=OWNER,
    )


OWNER = "test-daemon"


def execute(ctx: TaskContext) -> Any:
    """The task as the worker runs it: then whatever waits for the completion's commit
    (the publish guard) is released."""
    try:
        return run_task(ctx)
    finally:
        for release in ctx.after_complete:
            release()


def register_publish_attempt(pool: Any, job: JobInfo, task_id: str) -> None:
    """The rows the publish guard fences on: the run (running, ours) and publish_prep's
    running attempt 1 (created once per job; a second context re-claims it)."""
    with pool.connection() as conn:
        exists = conn.execute(
            "SELECT 1 FROM engine_v2.job_runs WHERE job_id = %s", (job.job_id,)
        ).fetchone()
        if not exists:
            conn.execute(
                "INSERT INTO public.jobs (id, user_id, project_id, status)"
                " VALUES (%s, %s, %s, 'pending')",
                (job.job_id, job.user_id, job.project_id),
            )
            conn.execute(
                "SELECT engine_v2.submit_job(%s, %s, %s, 'msg', %s)",
                (job.job_id, job.user_id, job.project_id, Jsonb({"mode": job.mode})),
            )
            conn.execute(
                "UPDATE engine_v2.job_runs SET owner = %s WHERE job_id = %s", (OWNER, job.job_id)
            )
        conn.execute(
            "DELETE FROM engine_v2.job_tasks WHERE job_id = %s AND task_key = 'publish_prep'",
            (job.job_id,),
        )
        conn.execute(
            "INSERT INTO engine_v2.job_tasks (id, job_id, task_key, agent_role, status,"
            " attempt_count) VALUES (%s, %s, 'publish_prep', 'publisher', 'running', 1)",
            (task_id, job.job_id),
        )


def make_prod(cfg: Config, job: JobInfo, versions: list[dict[str, str]]) -> Path:
    """A production project whose history has one commit per version (exact trees)."""
    prod = Path(cfg.paths.projects_root) / str(job.user_id) / "projects" / str(job.project_id)
    prod.mkdir(parents=True)
    git(prod, "init", "-q")
    for i, files in enumerate(versions):
        for p in list(prod.iterdir()):
            if p.name != ".git":
                subprocess.run(["rm", "-rf", str(p)], check=True)
        for rel, content in files.items():
            (prod / rel).parent.mkdir(parents=True, exist_ok=True)
            (prod / rel).write_text(content)
        git(prod, "add", "-A")
        git(prod, "commit", "-q", "--allow-empty", "-m", f"v{i + 1}")
    return prod


def prod_files(prod: Path) -> dict[str, str]:
    return {
        p.relative_to(prod).as_posix(): p.read_text()
        for p in prod.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(prod).parts
    }


def job_commits(prod: Path, job_id: str) -> list[str]:
    return git(prod, "log", "--format=%H", "-F", f"--grep=Engine-Job: {job_id}").split()


# --------------------------------------------------------------------------- publishing


def test_first_publish_creates_the_project_with_a_commit(config, pool):
    job = new_job()
    ctx = make_ctx(
        config,
        job,
        pool=pool,
        files=[INDEX, {"path": "js/game.js", "content": "let s = 1;"}],
        summary="Neon snake\n\nArrow keys move the snake.",
    )
    out = execute(ctx).output
    prod = ctx.staging.prod_dir
    assert out["published"] is True and out["mode"] == "live"
    assert git(prod, "rev-parse", "HEAD") == out["commit_hash"]
    assert prod_files(prod) == {"index.html": INDEX["content"], "js/game.js": "let s = 1;"}
    msg = git(prod, "log", "-1", "--format=%B")
    assert msg.startswith("Neon snake\n\nArrow keys move the snake.")
    assert f"Engine-Job: {job.job_id}" in msg and "Engine-Cost-USD: 0.0000" in msg
    assert git(prod, "log", "-1", "--format=%an <%ae>") == "enginev2d <enginev2d@localhost>"
    kinds = [a.kind for a in ctx.artifacts]
    assert kinds == ["publish"]
    assert ctx.artifacts[0].content["commit_hash"] == out["commit_hash"]
    assert ctx.artifacts[0].content["strategy"] == "create"
    assert not ctx.staging.root.exists()  # consumed by the swap
    ctx.staging.remove()


def test_edit_commits_on_top_of_history_fix_overriding_codegen(config, pool):
    job = new_job()
    prod = make_prod(config, job, [{"index.html": "v1", "old.js": "old"}])
    base = git(prod, "rev-parse", "HEAD")
    ctx = make_ctx(
        config,
        job,
        pool=pool,
        files=[INDEX, {"path": "a.js", "content": "codegen"}],
        fix_files=[{"path": "./a.js", "content": "fixed"}],
    )
    assert pp.build_input(ctx)["files"] == [INDEX, {"path": "./a.js", "content": "fixed"}]
    out = execute(ctx).output
    assert prod_files(prod) == {"index.html": INDEX["content"], "a.js": "fixed", "old.js": "old"}
    assert git(prod, "rev-parse", "HEAD^") == base
    assert git(prod, "rev-list", "--count", "HEAD") == "2"
    assert out["commit_hash"] == git(prod, "rev-parse", "HEAD")
    assert ctx.artifacts[0].content["strategy"] == "exchange"
    assert sorted(os.listdir(prod.parent)) == ["proj-1"]  # no backup, temp or release left
    ctx.staging.remove()
    assert os.listdir(config.paths.staging_root) == []


def test_invalid_result_fails_before_anything_is_published(config, pool):
    job = new_job()
    prod = make_prod(config, job, [{"index.html": "v1"}])
    before = digest(prod)
    ctx = make_ctx(config, job, pool=pool, files=[{"path": "main.html", "content": "x"}])
    head = git(ctx.staging.root, "rev-parse", "HEAD")
    with pytest.raises(OutputInvalid) as exc:
        execute(ctx)
    assert exc.value.code == "v2_output_invalid" and exc.value.retryable is False
    assert digest(prod) == before
    assert git(ctx.staging.root, "rev-parse", "HEAD") == head  # not even committed
    assert not (ctx.staging.root / "main.html").exists()


@pytest.mark.parametrize(
    "bad", ["../../../evil.js", "/tmp/evil.js", ".git/hooks/post-checkout", "a\x00.js", "shared/x"]
)
def test_escaping_result_is_rejected_with_production_untouched(config, pool, tmp_path, bad):
    job = new_job()
    prod = make_prod(config, job, [{"index.html": "v1"}])
    outside = tmp_path / "outside"
    outside.mkdir()
    (prod / "shared").symlink_to(outside)
    git(prod, "add", "-A")
    git(prod, "commit", "-q", "-m", "link")
    before, before_out = digest(prod), digest(outside)
    top = sorted(os.listdir(tmp_path))
    ctx = make_ctx(config, job, pool=pool, files=[INDEX, {"path": bad, "content": "pwn"}])
    with pytest.raises(PathEscape) as exc:
        execute(ctx)
    assert exc.value.code == "v2_staging_error"
    assert digest(prod) == before and digest(outside) == before_out
    assert sorted(os.listdir(tmp_path)) == top
    assert not Path("/tmp/evil.js").exists()


def test_too_many_files_rejected_with_production_untouched(config, pool):
    cfg = config.replace(limits={"max_files": 3})
    job = new_job()
    prod = make_prod(cfg, job, [{"index.html": "v1", "a": "1"}])
    before = digest(prod)
    files = [INDEX] + [{"path": f"f{i}.js", "content": "x"} for i in range(2)]
    ctx = make_ctx(cfg, job, pool=pool, files=files)
    with pytest.raises(OutputTooLarge):
        execute(ctx)
    assert digest(prod) == before


@pytest.mark.parametrize("existing", [True, False])
def test_shadow_mode_never_touches_production(config, existing):
    job = new_job(mode="shadow")
    prod = Path(config.paths.projects_root) / str(job.user_id) / "projects" / "proj-1"
    if existing:
        prod = make_prod(config, job, [{"index.html": "v1"}])
    before = digest(prod)
    ctx = make_ctx(config, job, pool=None, files=[INDEX, {"path": "b.js", "content": "b"}])
    out = execute(ctx).output
    assert out["published"] is False and out["mode"] == "shadow"
    assert digest(prod) == before
    assert prod.exists() is existing
    assert git(ctx.staging.root, "rev-parse", "HEAD") == out["commit_hash"]
    [art] = ctx.artifacts
    assert art.kind == "shadow_result"
    assert art.content["commit_hash"] == out["commit_hash"]
    assert art.content["files"] == [INDEX, {"path": "b.js", "content": "b"}]
    assert art.content["summary"] == "Neon snake game"


# --------------------------------------------------------------------------- exactly once


def test_crash_between_commit_and_swap_then_retries_publish_once(config, pool):
    job = new_job()
    prod = make_prod(config, job, [{"index.html": "v1"}])
    before = digest(prod)

    # Attempt 1 dies right after committing in staging (the process is gone: no swap).
    ctx = make_ctx(config, job, pool=pool)
    task_input = pp.build_input(ctx)
    ctx.staging.write_files(task_input["files"])
    sha = pp._commit(ctx, task_input["summary"])
    assert digest(prod) == before  # production intact

    # Attempt 2 on the same staging: reuses that commit, swaps once.
    ctx2 = make_ctx(config, job, pool=pool)
    out = execute(ctx2).output
    assert out["commit_hash"] == sha
    assert git(prod, "rev-parse", "HEAD") == sha
    assert job_commits(prod, job.job_id) == [sha]
    inode = os.stat(prod).st_ino

    # Attempt 3: died after the swap, before the engine recorded success; takeover
    # reseeds staging from production: nothing is committed or swapped again.
    ctx3 = make_ctx(config, job, pool=pool, fresh=True)
    out3 = execute(ctx3).output
    assert out3["commit_hash"] == sha
    assert os.stat(prod).st_ino == inode
    assert job_commits(prod, job.job_id) == [sha]
    assert git(prod, "rev-list", "--count", "HEAD") == "2"
    assert ctx3.artifacts[0].content["swapped"] is False
    ctx3.staging.remove()


def test_takeover_after_crash_before_swap_publishes_once(config, pool):
    job = new_job()
    prod = make_prod(config, job, [{"index.html": "v1"}])
    ctx = make_ctx(config, job, pool=pool)
    task_input = pp.build_input(ctx)
    ctx.staging.write_files(task_input["files"])
    pp._commit(ctx, task_input["summary"])
    # Takeover by another daemon: staging rebuilt from production.
    ctx2 = make_ctx(config, job, pool=pool, fresh=True)
    out = execute(ctx2).output
    assert job_commits(prod, job.job_id) == [out["commit_hash"]]
    assert prod_files(prod) == {"index.html": INDEX["content"]}
    # A later job published meanwhile: a retry of ours still finds its commit.
    other = new_job(user_id=job.user_id)
    execute(make_ctx(config, other, pool=pool, files=[{"path": "index.html", "content": "B"}]))
    again = execute(make_ctx(config, job, pool=pool, fresh=True)).output
    assert again["commit_hash"] == out["commit_hash"]
    assert prod_files(prod) == {"index.html": "B"}


# --------------------------------------------------------------------------- the lock


def _held_lock(pool: Any, job: JobInfo, hold: threading.Event, held: threading.Event) -> None:
    with publish.project_lock(pool, job.user_id, job.project_id):
        held.set()
        hold.wait(30)


def test_lock_is_held_in_a_real_transaction(config, pool, db_url):
    job = new_job()
    k1, k2 = publish.lock_keys(job.user_id, job.project_id)
    hold, held = threading.Event(), threading.Event()
    t = threading.Thread(target=_held_lock, args=(pool, job, hold, held))
    t.start()
    try:
        assert held.wait(10)
        with psycopg.connect(db_url) as other:  # not autocommit: a real transaction
            got = other.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (k1, k2)).fetchone()
            assert got == (False,)
            other.rollback()
    finally:
        hold.set()
        t.join(10)
    with psycopg.connect(db_url) as other:
        got = other.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (k1, k2)).fetchone()
        assert got == (True,)


def test_held_lock_fails_the_publish_with_concurrent_apply(config, pool):
    job = new_job()
    prod = make_prod(config, job, [{"index.html": "v1"}])
    before = digest(prod)
    hold, held = threading.Event(), threading.Event()
    other = new_job(user_id=job.user_id)  # another job of the same project
    t = threading.Thread(target=_held_lock, args=(pool, other, hold, held))
    t.start()
    try:
        assert held.wait(10)
        ctx = make_ctx(config, job, pool=pool)
        with pytest.raises(ConcurrentApply) as exc:
            execute(ctx)
        assert exc.value.code == "v2_concurrent_apply"
        assert digest(prod) == before
        # Another project of the same user is not blocked.
        execute(make_ctx(config, new_job(user_id=job.user_id, project_id="proj-2"), pool=pool))
    finally:
        hold.set()
        t.join(10)
    out = execute(make_ctx(config, job, pool=pool)).output  # lock free again
    assert git(prod, "rev-parse", "HEAD") == out["commit_hash"]


def test_lock_wait_lets_the_second_publish_through(config, pool, db_url):
    """With publish.lock_wait_s the second job waits for the first instead of failing."""
    cfg = config.replace(publish={"lock_wait_s": 20.0})
    job = new_job()
    make_prod(cfg, job, [{"index.html": "v1"}])
    hold, held = threading.Event(), threading.Event()
    t = threading.Thread(target=_held_lock, args=(pool, job, hold, held))
    t.start()
    result: dict[str, Any] = {}

    def second() -> None:
        try:
            result["out"] = execute(make_ctx(cfg, job, pool=pool)).output
        except Exception as exc:
            result["err"] = exc

    try:
        assert held.wait(10)
        t2 = threading.Thread(target=second)
        t2.start()
        # Wait (with a deadline) until the second job has tried and is polling: both
        # lock transactions are then open on the lock query.
        deadline = time.monotonic() + 20
        with psycopg.connect(db_url, autocommit=True) as mon:
            while time.monotonic() < deadline:
                n = mon.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                    " AND query LIKE '%%pg_try_advisory_xact_lock%%'"
                ).fetchone()[0]
                if n >= 2:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the second publish never started waiting")
        assert "out" not in result and "err" not in result
    finally:
        hold.set()
        t.join(10)
    t2.join(30)
    assert "err" not in result, result.get("err")
    assert result["out"]["published"] is True


def _race(barrier: threading.Barrier, ctx: TaskContext, results: dict[str, Any]) -> None:
    barrier.wait(10)
    try:
        results[ctx.job.job_id] = execute(ctx).output
    except Exception as exc:
        results[ctx.job.job_id] = exc


def test_two_jobs_racing_on_one_project_publish_one_at_a_time(config, pool):
    """Both jobs seeded from the same version, started together: one publishes, the other
    gets v2_concurrent_apply (the lock, or production having moved under it) and never
    overwrites the winner."""
    user = str(uuid.uuid4())
    for round_ in range(6):
        a, b = new_job(user_id=user), new_job(user_id=user)
        if round_ == 0:
            make_prod(config, a, [{"index.html": "v0"}])
        ctxs = {
            j.job_id: make_ctx(
                config, j, pool=pool, files=[{"path": "index.html", "content": j.job_id}]
            )
            for j in (a, b)
        }
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}
        threads = [
            threading.Thread(target=_race, args=(barrier, ctx, results)) for ctx in ctxs.values()
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        won = [j for j, r in results.items() if isinstance(r, dict)]
        lost = [r for r in results.values() if not isinstance(r, dict)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], ConcurrentApply)
        prod = ctxs[won[0]].staging.prod_dir
        assert prod_files(prod) == {"index.html": won[0]}
        loser = next(j for j in ctxs if j != won[0])
        assert job_commits(prod, loser) == []
        assert job_commits(prod, won[0]) == [results[won[0]]["commit_hash"]]
        for c in ctxs.values():
            c.staging.remove()


# --------------------------------------------------------------------------- restore


def test_restore_brings_back_the_previous_version_as_a_new_commit(config, pool):
    job = new_job()
    prod = make_prod(
        config,
        job,
        [
            {"index.html": "v1", "a.js": "a1", "sub/c.css": "c"},
            {"index.html": "v2", "b.js": "b2", "sub/c.css": "c"},
        ],
    )
    v1, v2 = git(prod, "rev-parse", "HEAD^"), git(prod, "rev-parse", "HEAD")
    ctx = make_ctx(config, job, pool=pool, intent="restore", files=[])
    out = execute(ctx).output
    assert prod_files(prod) == {"index.html": "v1", "a.js": "a1", "sub/c.css": "c"}
    assert git(prod, "rev-list", "--count", "HEAD") == "3"  # history kept, new commit
    assert git(prod, "rev-parse", "HEAD^") == v2
    summary = 'Undid the last change: back to version 1 of 2, "v1".'
    assert git(prod, "log", "-1", "--format=%s") == summary  # the version named in words
    assert git(prod, "rev-parse", "HEAD^{tree}") == git(prod, "rev-parse", f"{v1}^{{tree}}")
    assert out["restored_from"] == v1 and out["commit_hash"] == git(prod, "rev-parse", "HEAD")
    assert out["summary"] == summary
    code = {a.content["path"]: a.content["content"] for a in ctx.artifacts if a.kind == "code"}
    assert code == {"index.html": "v1", "a.js": "a1", "sub/c.css": "c"}
    # A retry of the same restore job does not go back one more version.
    ctx2 = make_ctx(config, job, pool=pool, intent="restore", fresh=True)
    again = execute(ctx2).output
    assert again["commit_hash"] == out["commit_hash"]
    assert again["restored_from"] == v1 and again["summary"] == out["summary"]
    code2 = {a.content["path"]: a.content["content"] for a in ctx2.artifacts if a.kind == "code"}
    assert code2 == code  # the retry still answers with the restored tree
    assert ctx2.artifacts[-1].content["swapped"] is False
    assert prod_files(prod)["index.html"] == "v1"


def _step(config: Config, pool: Any, user: str, step: str, message: str = "undo") -> dict:
    job = JobInfo(str(uuid.uuid4()), user, "proj-1", message, "live", {})
    ctx = make_ctx(config, job, pool=pool, intent="restore", files=[])
    ctx.upstream["intent"]["step"] = step
    return execute(ctx).output


def _tree(prod: Path, rev: str = "HEAD") -> str:
    return git(prod, "rev-parse", f"{rev}^{{tree}}")


def test_undo_steps_back_three_versions_and_redo_forward_again(config, pool):
    """Each undo goes one more published version back, each redo one forward: the trees
    are byte-identical to the versions', the summaries name them, and a new change ends
    the redo chain."""
    user = str(uuid.uuid4())
    trees = [{"index.html": f"v{i}", f"only{i}.js": str(i)} for i in range(1, 5)]
    prod = make_prod(config, new_job(user_id=user), trees)
    commits = git(prod, "rev-list", "--reverse", "HEAD").split()
    expected_trees = [_tree(prod, c) for c in commits]

    for back, n in ((1, 3), (2, 2), (3, 1)):
        out = _step(config, pool, user, "undo", "元に戻して" if back == 2 else "undo")
        assert prod_files(prod) == trees[n - 1] and _tree(prod) == expected_trees[n - 1]
        assert out["restored_from"] == commits[n - 1]
        if back == 2:
            assert out["summary"] == f"元に戻しました：バージョン {n}/4「v{n}」に戻りました。"
        else:
            assert out["summary"] == f'Undid the last change: back to version {n} of 4, "v{n}".'
    with pytest.raises(OutputInvalid) as exc:  # nothing before version 1
        _step(config, pool, user, "undo")
    assert exc.value.detail["reason"] == "no_previous_version"

    for n in (2, 3, 4):
        out = _step(config, pool, user, "redo", "やり直して" if n == 3 else "redo")
        assert prod_files(prod) == trees[n - 1] and _tree(prod) == expected_trees[n - 1]
        if n == 3:
            assert out["summary"] == f"やり直しました：バージョン {n}/4「v{n}」に進みました。"
        else:
            assert out["summary"] == f'Redid the change: forward to version {n} of 4, "v{n}".'
    with pytest.raises(OutputInvalid) as exc:  # nothing undone any more
        _step(config, pool, user, "redo")
    assert exc.value.detail["reason"] == "nothing_to_redo"
    assert git(prod, "rev-list", "--count", "HEAD") == "10"  # 4 versions + 6 steps, kept

    # Undo, then a new change: redo has nothing left to go to.
    _step(config, pool, user, "undo")
    job = JobInfo(str(uuid.uuid4()), user, "proj-1", "make it red", "live", {})
    execute(make_ctx(config, job, pool=pool, files=[{"path": "index.html", "content": "v5"}]))
    with pytest.raises(OutputInvalid):
        _step(config, pool, user, "redo")
    out = _step(config, pool, user, "undo")
    assert prod_files(prod) == trees[2] and "version 3 of 5" in out["summary"]


def test_an_unchanged_result_makes_no_commit_and_no_swap(config, pool):
    """A request that could not be met gives back the published files: nothing to commit."""
    job = new_job()
    prod = make_prod(config, job, [{"index.html": "<html>game</html>"}])
    before, count = digest(prod), git(prod, "rev-list", "--count", "HEAD")
    out = execute(make_ctx(config, job, pool=pool, files=[INDEX])).output
    assert out["unchanged"] is True and out["published"] is False
    assert out["commit_hash"] == git(prod, "rev-parse", "HEAD")
    assert git(prod, "rev-list", "--count", "HEAD") == count
    assert digest(prod) == before  # not even swapped
    changed = execute(
        make_ctx(
            config,
            new_job(user_id=job.user_id),
            pool=pool,
            files=[{"path": "index.html", "content": "<html>new</html>"}],
        )
    ).output
    assert changed["published"] is True and "unchanged" not in changed


@pytest.mark.parametrize("versions", [None, [{"index.html": "only"}]])
def test_restore_without_previous_version_fails_clearly(config, pool, versions):
    job = new_job()
    prod = make_prod(config, job, versions) if versions else None
    before = digest(prod) if prod else None
    ctx = make_ctx(config, job, pool=pool, intent="restore", files=[])
    with pytest.raises(OutputInvalid) as exc:
        execute(ctx)
    assert exc.value.code == "v2_output_invalid" and exc.value.retryable is False
    assert exc.value.detail["reason"] == "no_previous_version"
    if prod:
        assert digest(prod) == before
    else:
        assert not ctx.staging.prod_dir.exists()


# --------------------------------------------------------------------------- injection


def test_injected_output_neither_commits_nor_swaps(config, pool):
    job = new_job(inject={"publish_prep": {"output": {"commit_hash": "feedbeef"}}})
    prod = make_prod(config, job, [{"index.html": "v1"}])
    before = digest(prod)
    ctx = make_ctx(config, job, pool=pool)
    head = git(ctx.staging.root, "rev-parse", "HEAD")
    out = execute(ctx).output
    assert out == {"commit_hash": "feedbeef"}
    assert digest(prod) == before
    assert git(ctx.staging.root, "rev-parse", "HEAD") == head
    [art] = ctx.artifacts
    assert art.kind == "publish" and art.metadata == {"injected": True}
    assert art.content["commit_hash"] == "feedbeef"


def test_injected_output_is_validated(config):
    job = new_job(inject={"publish_prep": {"output": {"commit": "x"}}})
    ctx = make_ctx(config, job)
    with pytest.raises(OutputInvalid):
        execute(ctx)


# --------------------------------------------------------------------------- job_result


def _task(conn: Any, job_id: str, key: str, output: dict[str, Any]) -> str:
    return conn.execute(
        "INSERT INTO engine_v2.job_tasks (job_id, task_key, agent_role, status, output)"
        " VALUES (%s, %s, 'x', 'succeeded', %s) RETURNING id",
        (job_id, key, Jsonb(output)),
    ).fetchone()["id"]


def _artifact(conn: Any, job_id: str, task_id: str, kind: str, **cols: Any) -> None:
    conn.execute(
        "INSERT INTO engine_v2.job_task_artifacts (job_id, task_id, kind, uri, content, metadata)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (
            job_id,
            task_id,
            kind,
            cols.get("uri"),
            Jsonb(cols.get("content")),
            Jsonb(cols.get("metadata") or {}),
        ),
    )


def test_job_result_builds_the_v1_response_from_artifacts(conn, make_job):
    job_id = make_job()
    _task(conn, job_id, "intent", {"intent": "edit"})
    cg = _task(conn, job_id, "codegen", {"files": [], "summary": "Neon snake"})
    fx = _task(conn, job_id, "fix", {"files": []})
    asset = _task(conn, job_id, "asset", {"images": []})
    pub = _task(conn, job_id, "publish_prep", {"commit_hash": "abc"})
    for path, content in (("index.html", "<v1>"), ("js/a.js", "a-codegen")):
        _artifact(conn, job_id, cg, "code", uri=path, content={"path": path, "content": content})
    _artifact(conn, job_id, fx, "code", uri="js/a.js", content={"path": "js/a.js", "content": "a"})
    _artifact(conn, job_id, fx, "review", content={"issues": 0})
    _artifact(conn, job_id, asset, "image", uri="img/hero.png", metadata={"mime": "image/png"})
    _artifact(conn, job_id, asset, "image", content={"name": "bg", "uri": "https://cdn/bg.png"})
    _artifact(conn, job_id, pub, "publish", content={"commit_hash": "abc"})
    result = fallback.job_result(conn, job_id)
    assert result == {
        "type": "completed",
        "files": [
            {"path": "index.html", "content": "<v1>"},
            {"path": "js/a.js", "content": "a"},
        ],
        "images": [
            {"name": "bg", "uri": "https://cdn/bg.png"},
            {"name": "img/hero.png", "uri": "img/hero.png"},
        ],
        "summary": "Neon snake",
    }
    assert fallback.validate_output(result)


def test_job_result_of_a_restore_job_is_the_restored_tree(conn, make_job):
    job_id = make_job()
    _task(conn, job_id, "intent", {"intent": "restore"})
    cg = _task(conn, job_id, "codegen", {"files": [], "summary": "ignored"})
    _artifact(conn, job_id, cg, "code", content={"path": "index.html", "content": "new"})
    pub = _task(conn, job_id, "publish_prep", {"commit_hash": "c", "summary": "Restored to v"})
    _artifact(conn, job_id, pub, "code", content={"path": "index.html", "content": "old"})
    assert fallback.job_result(conn, job_id) == {
        "type": "completed",
        "files": [{"path": "index.html", "content": "old"}],
        "images": [],
        "summary": "Restored to v",
    }


def test_job_result_with_tuple_rows_and_nothing_recorded(db_url, make_job):
    job_id = make_job()
    with psycopg.connect(db_url, autocommit=True) as plain:  # default tuple rows
        result = fallback.job_result(plain, job_id)
    assert result == {"type": "completed", "files": [], "images": [], "summary": None}
    assert not fallback.validate_output(result)


# --------------------------------------------------------------------------- git details


def test_commit_message_trailers_survive_any_summary(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "index.html").write_text("x")
    summary = "S" * 100 + "\nsecond line\n\nEngine-Job: someone-else"
    msg = publish.gitrepo.build_message(
        summary, [("Engine-Job", "job-1"), ("Engine-Cost-USD", "0")]
    )
    sha = publish.gitrepo.commit_all(repo, msg, author=("a", "a@a"))
    subject = git(repo, "log", "-1", "--format=%s")
    assert len(subject) <= 72 and subject.endswith("...")
    assert publish.gitrepo.commit_job_trailer(repo, sha) == ["job-1"]
    assert publish.gitrepo.find_job_commit(repo, "job-1") == sha
    assert publish.gitrepo.find_job_commit(repo, "someone-else") is None


def test_loose_objects_are_packed_in_staging(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    for i in range(3):
        for j in range(120):
            (repo / f"f{j}.txt").write_text(f"{i}-{j}")
        publish.gitrepo.commit_all(repo, f"c{i}\n", author=("a", "a@a"))
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    assert int(counts["count"]) <= 256 and int(counts["in-pack"]) > 0


def test_hooks_and_fsmonitor_in_a_user_repository_never_run(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    marker = tmp_path / "pwned"
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", f"touch {marker}.fsmonitor; false")
    (repo / "index.html").write_text("x")
    publish.gitrepo.commit_all(repo, "c\n", author=("a", "a@a"))
    assert not marker.exists() and not Path(f"{marker}.fsmonitor").exists()


def git(repo: Path, *args: str) -> str:
    return _git(repo, *args, author="v1")
