"""The project's git repository, driven through the ``git`` binary.

Every call runs with a neutral environment: no system or global config, hooks disabled,
``core.fsmonitor`` off (a repository's own config could otherwise make git run
arbitrary commands), no pager, no prompts. A project repository belongs to the user, so
nothing in it is trusted.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .affinity import unpinned
from .errors import StagingError

logger = logging.getLogger(__name__)

JOB_TRAILER = "Engine-Job"
GIT_TIMEOUT_S = 60.0

_SAFE_CONFIG = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "safe.directory=*",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "core.autocrlf=false",
    "-c",
    "gc.auto=0",
)


def _env(author: tuple[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "LANG": "C",
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PAGER": "cat",
    }
    if author:
        name, email = author
        env.update(
            GIT_AUTHOR_NAME=name,
            GIT_AUTHOR_EMAIL=email,
            GIT_COMMITTER_NAME=name,
            GIT_COMMITTER_EMAIL=email,
        )
    return env


def git(
    repo: Path,
    *args: str,
    input: str | None = None,
    author: tuple[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``git -C repo ARGS``; a failure raises :class:`StagingError` with git's stderr."""
    cmd = ["git", "-C", str(repo), *_SAFE_CONFIG, *args]
    try:
        with unpinned():
            proc = subprocess.run(
                cmd,
                input=input,
                capture_output=True,
                text=True,
                env=_env(author),
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StagingError(f"git {args[0]} failed: {exc}") from exc
    if check and proc.returncode != 0:
        raise StagingError(
            f"git {args[0]} failed ({proc.returncode}): {proc.stderr.strip()[:500]}",
            detail={"git": list(args[:2])},
        )
    return proc


def is_repo(path: Path) -> bool:
    return (path / ".git").is_dir()


def head(repo: Path) -> str | None:
    """The commit HEAD points at, or None (no repository, or no commit yet)."""
    if not is_repo(repo):
        return None
    proc = git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def parent(repo: Path, rev: str = "HEAD") -> str | None:
    """First parent of ``rev``, or None for a root commit."""
    proc = git(repo, "rev-parse", "--verify", "-q", f"{rev}^1^{{commit}}", check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def init(repo: Path) -> None:
    git(repo, "init", "-q")


def job_trailer(job_id: str) -> str:
    return f"{JOB_TRAILER}: {job_id}"


def commit_job_trailer(repo: Path, rev: str) -> list[str]:
    """The ``Engine-Job`` trailer values of one commit."""
    proc = git(
        repo,
        "log",
        "-1",
        f"--format=%(trailers:key={JOB_TRAILER},valueonly,separator=%x00)",
        rev,
    )
    return [v.strip() for v in proc.stdout.strip().split("\0") if v.strip()]


def find_job_commit(repo: Path, job_id: str) -> str | None:
    """The commit in HEAD's history carrying ``Engine-Job: <job_id>``, if any.

    The whole history is searched, not only HEAD: when another job published after
    ours, a retry of ours must still see that it already published.
    """
    if head(repo) is None:
        return None
    proc = git(repo, "log", "--format=%H", "-F", f"--grep={job_trailer(job_id)}", "HEAD")
    for sha in proc.stdout.split():
        if job_id in commit_job_trailer(repo, sha):
            return sha
    return None


def commit_all(
    repo: Path,
    message: str,
    *,
    author: tuple[str, str],
) -> str:
    """Stage everything in the work tree and commit it (empty commits allowed, so every
    publish leaves a commit carrying its job trailer). Returns the new commit hash."""
    if not is_repo(repo):
        init(repo)
    git(repo, "add", "-A")
    git(
        repo,
        "commit",
        "-q",
        "--allow-empty",
        "--no-verify",
        "-F",
        "-",
        input=message,
        author=author,
    )
    maintain(repo)
    sha = head(repo)
    if sha is None:  # pragma: no cover - git said it committed
        raise StagingError("git commit produced no HEAD")
    return sha


def text_files_at(repo: Path, rev: str) -> dict[str, str]:
    """The UTF-8 text files of commit ``rev`` (symlinks, submodules, binaries left out),
    read from the object store: the work tree is not touched."""
    listing = git(repo, "ls-tree", "-r", "-z", "--full-tree", rev).stdout
    blobs: list[tuple[str, str]] = []
    for entry in filter(None, listing.split("\0")):
        meta, _, path = entry.partition("\t")
        mode, kind, sha = meta.split()
        if kind == "blob" and mode in ("100644", "100755"):
            blobs.append((path, sha))
    if not blobs:
        return {}
    try:
        with unpinned():
            proc = subprocess.run(
                ["git", "-C", str(repo), *_SAFE_CONFIG, "cat-file", "--batch"],
                input="".join(f"{sha}\n" for _, sha in blobs).encode(),
                capture_output=True,
                env=_env(),
                timeout=GIT_TIMEOUT_S,
                check=True,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        raise StagingError(f"git cat-file failed: {exc}") from exc
    out: dict[str, str] = {}
    data, pos = proc.stdout, 0
    for path, _ in blobs:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].split()[2])
        body = data[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
        if b"\0" in body:
            continue
        try:
            out[path] = body.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return out


def first_parent_log(repo: Path, keys: Sequence[str], rev: str = "HEAD") -> list[dict[str, str]]:
    """Every commit on the first-parent line to ``rev``, oldest first, as
    ``{"sha", "subject", <key>: value or ""}`` for each trailer key (one git call)."""
    if head(repo) is None:
        return []
    fields = ["%H", "%s", *(f"%(trailers:key={k},valueonly,separator=%x1f)" for k in keys)]
    proc = git(
        repo, "log", "--first-parent", "--reverse", "--format=" + "%x00".join(fields) + "%x1e", rev
    )
    out = []
    for record in filter(None, (r.strip("\n") for r in proc.stdout.split("\x1e"))):
        parts = record.split("\x00")
        entry = {"sha": parts[0], "subject": parts[1]}
        for key, value in zip(keys, parts[2:], strict=False):
            entry[key] = value.split("\x1f")[0].strip()
        out.append(entry)
    return out


def trailer_values(repo: Path, rev: str, key: str) -> list[str]:
    proc = git(repo, "log", "-1", f"--format=%(trailers:key={key},valueonly)", rev)
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def maintain(repo: Path) -> None:
    """Pack loose objects once there are more than a few hundred (``gc --auto``, in the
    foreground). Every publish adds loose objects and nothing else ever packs a project
    repository: without this, seeding (copy) and publishing (fsync per file) would grow
    with the number of publishes. Runs in staging only; production is never touched."""
    git(repo, "-c", "gc.auto=256", "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet")


def is_clean(repo: Path) -> bool:
    proc = git(repo, "status", "--porcelain", "--untracked-files=all")
    return proc.stdout.strip() == ""


def checkout_tree(repo: Path, rev: str) -> None:
    """Make index and work tree exactly the tree of ``rev`` (HEAD stays where it is):
    files added since are deleted, changed ones restored, untracked ones removed."""
    git(repo, "read-tree", "--reset", "-u", rev)
    git(repo, "clean", "-f", "-d", "-q")


def build_message(summary: str, trailers: Sequence[tuple[str, str]]) -> str:
    """Subject from the summary's first line (<= 72 chars), full summary as body,
    trailers last (``git interpret-trailers`` format)."""
    text = (summary or "").strip() or "Update project"
    first, _, rest = text.partition("\n")
    subject = first.strip()
    body = rest.strip()
    if len(subject) > 72:
        body = text
        subject = subject[:69].rstrip() + "..."
    parts = [subject]
    if body:
        parts.append(body)
    parts.append("\n".join(f"{k}: {v}" for k, v in trailers))
    return "\n\n".join(parts) + "\n"
