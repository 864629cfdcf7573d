"""Per-job staging directory (design 10.1).

Each job works only in ``{paths.staging_root}/{job_id}/``, seeded from the user's
production project (``{paths.projects_root}/{user_id}/projects/{project_id}/``) including
its ``.git`` history. Production is only read here; ``publish.py`` swaps the staging tree
into place. A takeover works in a tree of its own, ``{job_id}.{token}``: the previous
owner may still be running (its lease expired before it noticed) and its threads keep
writing through the path they know, which must never be the new owner's tree.

Every path a model supplies goes through :func:`check_relpath` before anything is
written: relative, normalized, inside staging, no ``..``, no absolute paths, no
``.git`` component, no NUL or control characters, no symlink anywhere on the way (a
symlink inside staging may point anywhere, so writing through one is refused whatever
its target). A batch is checked in full, limits included, before its first byte is
written: a violation writes nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from . import fsswap, gitrepo
from .errors import OutputTooLarge, PathEscape, StagingError

if TYPE_CHECKING:
    from .config import Config
    from .tasks.base import JobInfo

logger = logging.getLogger(__name__)

# The temporary names _atomic_write uses; readers skip them.
_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 1024
_FORBIDDEN_CHARS = {chr(c) for c in range(0x20)} | {"\x7f", "\\"}


# --------------------------------------------------------------------------- path checks


def normalize_relpath(rel: Any) -> str:
    """The normalized form of a model-supplied relative path, or :class:`PathEscape`.

    Pure (no filesystem access). ``.`` components and repeated slashes are dropped
    (``./index.html`` is ``index.html``); anything that could leave the directory or
    touch git's data is refused: absolute paths, ``..``, a ``.git`` component in any
    letter case, backslashes, NUL and other control characters, empty paths, overlong
    names.
    """
    if not isinstance(rel, str):
        raise PathEscape(f"path must be a string, got {type(rel).__name__}")
    bad = sorted({c for c in rel if c in _FORBIDDEN_CHARS})
    if bad:
        raise PathEscape(f"path {rel!r} contains forbidden characters {bad!r}")
    if rel.startswith("/"):
        raise PathEscape(f"path {rel!r} is absolute")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts:
        raise PathEscape(f"path {rel!r} names no file")
    for part in parts:
        if part == "..":
            raise PathEscape(f"path {rel!r} contains '..'")
        if part.lower() == ".git":
            raise PathEscape(f"path {rel!r} targets .git")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            raise PathEscape(f"path {rel!r} has a component over {MAX_COMPONENT_BYTES} bytes")
    norm = "/".join(parts)
    if len(norm.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise PathEscape(f"path {rel!r} is over {MAX_PATH_BYTES} bytes")
    try:
        norm.encode("utf-8")
    except UnicodeEncodeError:
        raise PathEscape(f"path {rel!r} is not valid UTF-8") from None
    return norm


def check_relpath(staging_root: str | os.PathLike[str], rel: Any) -> Path:
    """The absolute target inside ``staging_root`` for ``rel``, or :class:`PathEscape`.

    On top of :func:`normalize_relpath`: no existing component on the way (the final one
    included) may be a symlink, an intermediate component must be a directory if it
    exists, and the target must not be an existing directory; so the path resolves
    inside the staging root, whatever the root itself is reached through.
    """
    norm = normalize_relpath(rel)
    root = Path(staging_root)
    parts = PurePosixPath(norm).parts
    current = root
    for i, part in enumerate(parts):
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            break
        except NotADirectoryError:
            raise PathEscape(f"path {rel!r}: a parent is not a directory") from None
        if stat.S_ISLNK(st.st_mode):
            raise PathEscape(f"path {rel!r} goes through a symlink ({'/'.join(parts[: i + 1])})")
        last = i == len(parts) - 1
        if not last and not stat.S_ISDIR(st.st_mode):
            raise PathEscape(f"path {rel!r}: {'/'.join(parts[: i + 1])} is not a directory")
        if last and not stat.S_ISREG(st.st_mode):
            raise PathEscape(f"path {rel!r} exists and is not a regular file")
    # No realpath() here: with no symlink among the existing components, the target
    # resolves to the real root plus ``norm`` by construction (the components still
    # missing are created by _atomic_write, never through a symlink). realpath() walked
    # every component of the absolute paths again: ~30 lstat calls a job.
    return root / norm


# --------------------------------------------------------------------------- staging


def project_dir(cfg: Config, user_id: object, project_id: object) -> Path:
    """Production: ``{paths.projects_root}/{user_id}/projects/{project_id}`` (design 10.1)."""
    return Path(cfg.paths.projects_root) / str(user_id) / "projects" / str(project_id)


class Staging:
    """One job's staging work tree. See the module docstring for the guarantees."""

    def __init__(self, cfg: Config, job: JobInfo) -> None:
        self.cfg = cfg
        self.job = job
        self.root = Path(cfg.paths.staging_root) / job.job_id
        self.prod_dir = project_dir(cfg, job.user_id, job.project_id)
        # Outside the tree so it is never published: what production looked like at seed.
        self.seed_path = Path(cfg.paths.staging_root) / f".{job.job_id}.seed.json"
        # codegen and asset write in parallel: limits are checked and applied atomically.
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def prepare(self, *, fresh: bool = False) -> None:
        """Create the staging tree, seeded from production (with ``.git``) when it exists.

        Without ``fresh`` an existing, completely seeded staging tree is kept (a restarted
        attempt continues where it was). With ``fresh`` (takeover) every earlier owner's
        tree is discarded and the job gets a new one under a new name (``root`` and
        ``seed_path`` change): an earlier owner that still runs writes into nothing.
        Seeding copies into a temporary sibling and renames it into place, so a crash
        mid-copy never leaves a half seed that looks complete.
        """
        root_there = os.path.lexists(self.root)
        if not fresh and root_there and self.root.exists() and self.seed_path.exists():
            return
        if fresh or root_there or os.path.lexists(self.seed_path):
            # A takeover, or a half seed: discarded, with any seeding a crash left. A job
            # with neither has never been prepared: only a takeover (fresh) follows a
            # crashed seeding, so there is nothing to look for (~0.3 ms per job saved).
            self.remove(leftovers=True)
        staging_root = Path(self.cfg.paths.staging_root)
        if fresh:  # a takeover: a tree (and seed record) no earlier owner knows the path of
            self.root = staging_root / f"{self.job.job_id}.{_token()}"
            self.seed_path = staging_root / f".{self.root.name}.seed.json"
        try:  # one syscall when it exists (Path.mkdir(exist_ok=True) stats it again)
            os.mkdir(staging_root)
        except FileExistsError:
            pass  # a file there fails the seeding below, as a StagingError
        except FileNotFoundError:
            staging_root.mkdir(parents=True, exist_ok=True)
        if self.job.mode == "live" and not fsswap.same_filesystem(staging_root, self.prod_dir):
            # Fail before any model call: the swap could never be atomic.
            raise fsswap.cross_device(staging_root, self.prod_dir)
        tmp = staging_root / f".{self.job.job_id}.seeding-{_token()}"
        try:
            prod_exists = self.prod_dir.is_dir()
            if prod_exists:
                shutil.copytree(self.prod_dir, tmp, symlinks=True)
            else:
                tmp.mkdir()
            base = gitrepo.head(tmp) if prod_exists else None
            os.rename(tmp, self.root)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StagingError(f"staging: cannot seed {self.root}: {exc}") from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._write_seed({"prod_existed": prod_exists, "base": base})
        logger.info(
            "staging prepared",
            extra={
                "action": "staging_prepare",
                "job_id": self.job.job_id,
                "seeded": prod_exists,
                "base": base,
            },
        )

    def _write_seed(self, data: dict[str, Any]) -> None:
        tmp = self.seed_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            _write_all(fd, json.dumps(data).encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(tmp, self.seed_path)

    def seed_info(self) -> dict[str, Any]:
        """``{"prod_existed": bool, "base": commit or None}`` recorded at seed time."""
        try:
            return json.loads(self.seed_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StagingError(f"staging for job {self.job.job_id} was never prepared") from None

    def remove(self, *, leftovers: bool = True) -> None:
        """Delete the staging tree and its bookkeeping (called at job end, any outcome).

        ``leftovers``: also look for seedings a crash left. Only a takeover's prepare can
        meet one (a seeding that raised removes its own), so the runner's removal at the
        job's end, after that prepare, skips the scan of the whole staging root."""
        _rmtree(self.root)
        with contextlib.suppress(FileNotFoundError):
            self.seed_path.unlink()
        if not leftovers:
            return
        # Seedings a crash left, and every earlier owner's tree and seed record: the first
        # owner's {job_id} and .{job_id}.seed.json, a takeover's {job_id}.{token} and
        # .{job_id}.{token}.seed.json. Prefix tests, not glob(): glob compiles a new
        # pattern for every job (~0.4 ms).
        job_id = self.job.job_id
        prefixes = (f".{job_id}.", f"{job_id}.")
        with contextlib.suppress(FileNotFoundError), os.scandir(self.cfg.paths.staging_root) as it:
            for entry in it:
                if entry.name == job_id or entry.name.startswith(prefixes):
                    _rmtree(Path(entry.path))

    # ------------------------------------------------------------------ reading
    def _walk_files(self) -> list[tuple[str, Path, os.stat_result]]:
        """(relpath, path, lstat) of every regular file, ``.git`` excluded, no symlinks."""
        out: list[tuple[str, Path, os.stat_result]] = []
        # no is_dir() first: os.walk yields nothing for a missing root or a file
        for dirpath, dirnames, filenames in os.walk(self.root):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d.lower() != ".git"]
            dirnames.sort()
            for name in sorted(filenames):
                if _TEMP_NAME.match(name):
                    continue  # another task's write in flight (codegen and asset run at once)
                path = Path(dirpath) / name
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue  # replaced or removed since the directory was listed
                if stat.S_ISREG(st.st_mode):
                    out.append((path.relative_to(self.root).as_posix(), path, st))
        return out

    def existing_files(self) -> dict[str, str]:
        """Text files currently in staging (the seeded project plus any writes so far),
        ``.git`` excluded. Binary files (not UTF-8, or with NUL), symlinks and files over
        ``limits.max_file_bytes`` are left out."""
        files: dict[str, str] = {}
        for rel, path, st in self._walk_files():
            if st.st_size > self.cfg.limits.max_file_bytes:
                continue
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            if b"\0" in data:
                continue
            try:
                files[rel] = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
        return files

    def read_files(self) -> dict[str, bytes]:
        """Every regular file in staging as bytes (``.git`` excluded)."""
        return {rel: path.read_bytes() for rel, path, _ in self._walk_files()}

    # ------------------------------------------------------------------ writing
    def write_files(self, files: list[dict[str, Any]]) -> list[str]:
        """Write ``[{"path", "content"}]`` (text, UTF-8). All paths and limits are checked
        first; on any violation nothing is written. Returns the normalized paths."""
        if not isinstance(files, list):
            raise PathEscape("files must be a list of {path, content}")
        batch: dict[str, bytes] = {}
        for f in files:
            if not isinstance(f, dict) or not isinstance(f.get("content"), str):
                raise PathEscape("each file must be an object with string path and content")
            batch[normalize_relpath(f.get("path"))] = f["content"].encode("utf-8")
        return self._write_batch(batch)

    def write_bytes(self, rel: str, data: bytes) -> str:
        """Write one binary file (images) under the same checks. Returns the normalized path."""
        if not isinstance(data, bytes | bytearray):
            raise PathEscape("write_bytes needs bytes")
        return self._write_batch({normalize_relpath(rel): bytes(data)})[0]

    def _write_batch(self, batch: dict[str, bytes]) -> list[str]:
        with self._lock:
            return self._write_batch_locked(batch)

    def _write_batch_locked(self, batch: dict[str, bytes]) -> list[str]:
        if not self.root.is_dir():
            raise StagingError(f"staging for job {self.job.job_id} was never prepared")
        targets = {rel: check_relpath(self.root, rel) for rel in batch}
        parents = {str(p) for rel in batch for p in PurePosixPath(rel).parents}
        clash = sorted(set(batch) & parents)
        if clash:
            raise PathEscape(f"path {clash[0]!r} is both a file and a directory in one batch")
        self._check_limits(batch)
        written = []
        try:
            for rel, data in batch.items():
                _atomic_write(self.root, targets[rel], data)
                written.append(rel)
        except StagingError:
            raise
        except OSError as exc:  # ENOSPC, EROFS, ...: the job fails as a staging error
            raise StagingError(f"staging: cannot write {rel}: {exc}") from exc
        return written

    def _check_limits(self, batch: dict[str, bytes]) -> None:
        limits = self.cfg.limits
        for rel, data in batch.items():
            if len(data) > limits.max_file_bytes:
                raise OutputTooLarge(
                    f"{rel}: {len(data)} bytes over the per-file limit of {limits.max_file_bytes}",
                    detail={"path": rel, "bytes": len(data), "limit": limits.max_file_bytes},
                )
        sizes = {rel: st.st_size for rel, _, st in self._walk_files()}
        sizes.update({rel: len(data) for rel, data in batch.items()})
        if len(sizes) > limits.max_files:
            raise OutputTooLarge(
                f"{len(sizes)} files over the limit of {limits.max_files}",
                detail={"files": len(sizes), "limit": limits.max_files},
            )
        total = sum(sizes.values())
        if total > limits.max_total_bytes:
            raise OutputTooLarge(
                f"{total} bytes in all over the limit of {limits.max_total_bytes}",
                detail={"bytes": total, "limit": limits.max_total_bytes},
            )


def _atomic_write(root: Path, target: Path, data: bytes) -> None:
    """Create parents (never through symlinks: checked just before), write a temporary
    file next to the target with O_NOFOLLOW|O_EXCL and rename it over the target."""
    rel_parent = target.parent.relative_to(root)
    current = root
    for part in rel_parent.parts:
        current = current / part
        try:
            os.mkdir(current)
        except FileExistsError:
            if os.path.islink(current) or not current.is_dir():
                raise PathEscape(f"{current} changed under us") from None
    for tries in range(3):  # O_EXCL: a name another writer holds is drawn again
        tmp = target.parent / f".{target.name}.{_token()}.tmp"  # see _TEMP_NAME
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            break
        except FileExistsError:
            if tries == 2:
                raise
    try:
        try:  # os.write, not a file object: no isatty/lseek/fstat calls for one write
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _token() -> str:
    """8 hex digits for a temporary name: unique enough beside O_EXCL, and no getrandom
    system call (uuid4's), which gives up the GIL, for every file written."""
    return f"{random.getrandbits(32):08x}"


def _rmtree(path: Path) -> None:
    """Remove a tree or anything else (a symlink is removed, never followed)."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


_JOB_ENTRY = re.compile(
    r"^\.?(?P<job>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"(?:\.seed\.json|\.seeding-.*|\.[0-9a-f]{8}(?:\.seed\.json)?)?$"
)


def sweep(cfg: Config, running: Callable[[list[str]], set[str]]) -> list[str]:
    """Remove what crashed daemons left in the staging root: every entry of a job that is
    not running any more (``running(job_ids)`` answers which still are). Entries of running
    jobs stay: their owner (or whoever takes them over) rebuilds or removes them."""
    root = Path(cfg.paths.staging_root)
    try:
        entries = [p for p in root.iterdir() if _JOB_ENTRY.match(p.name)]
    except FileNotFoundError:
        return []
    jobs = sorted({_JOB_ENTRY.match(p.name)["job"] for p in entries})  # type: ignore[index]
    if not jobs:
        return []
    alive = running(jobs)
    removed = []
    for path in entries:
        job = _JOB_ENTRY.match(path.name)["job"]  # type: ignore[index]
        if job in alive:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed
