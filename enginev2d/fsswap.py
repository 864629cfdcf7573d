"""Low-level filesystem primitives for the atomic publish: ``renameat2`` and fsync.

CPython has no wrapper for Linux ``renameat2``; glibc (>= 2.28) exports it and ctypes
calls it. ``RENAME_EXCHANGE`` swaps two existing paths in one atomic step, so a reader
resolving the production path always finds either the old or the new tree and never
nothing. Filesystems or kernels without it answer ``EINVAL``/``ENOSYS``/``EOPNOTSUPP``:
that is :class:`RenameUnsupported`, and the caller picks a fallback (``publish.py``).
Across filesystems every rename fails with ``EXDEV``: :class:`~enginev2d.errors.StagingError`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import stat
from pathlib import Path

from .errors import StagingError

AT_FDCWD = -100
RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1

_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}


class RenameUnsupported(OSError):
    """The kernel, libc or filesystem cannot do this ``renameat2`` flag."""


def _load_renameat2() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def renameat2(src: str | os.PathLike[str], dst: str | os.PathLike[str], flags: int) -> None:
    """``renameat2(AT_FDCWD, src, AT_FDCWD, dst, flags)``; raises OSError subclasses.

    ``EXDEV`` becomes :class:`StagingError` (staging and production must share a
    filesystem), unsupported flags :class:`RenameUnsupported`.
    """
    if _renameat2 is None:
        raise RenameUnsupported(errno.ENOSYS, "renameat2 is not available in this libc")
    rc = _renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), flags)
    if rc == 0:
        return
    err = ctypes.get_errno()
    if err == errno.EXDEV:
        raise cross_device(src, dst)
    if err in _UNSUPPORTED:
        raise RenameUnsupported(err, os.strerror(err), os.fspath(src), None, os.fspath(dst))
    raise OSError(err, os.strerror(err), os.fspath(src), None, os.fspath(dst))


def cross_device(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> StagingError:
    return StagingError(
        f"staging and production are on different filesystems ({src} -> {dst}): "
        "an atomic rename is impossible; put paths.staging_root on the filesystem of "
        "paths.projects_root",
        detail={"reason": "EXDEV"},
    )


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
    """Atomically swap two existing paths (``RENAME_EXCHANGE``)."""
    renameat2(a, b, RENAME_EXCHANGE)


def rename_noreplace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Rename that fails with ``FileExistsError`` instead of replacing ``dst``.

    Falls back to a check-then-``os.rename`` where ``RENAME_NOREPLACE`` is unsupported
    (the publish lock makes that race theoretical).
    """
    try:
        renameat2(src, dst, RENAME_NOREPLACE)
        return
    except RenameUnsupported:
        pass
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(dst))
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise cross_device(src, dst) from exc
        raise


def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """``os.rename`` with ``EXDEV`` mapped to :class:`StagingError`."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise cross_device(src, dst) from exc
        raise


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | os.PathLike[str]) -> int:
    """fsync every regular file under ``root``, then every directory bottom-up.

    Symlinks are never followed. Returns the number of files synced. Files first, then
    their directories, so a directory entry never becomes durable before its content.
    """
    count = 0
    for dirpath, _dirnames, filenames, dirfd in os.fwalk(root, topdown=False):
        for name in filenames:
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dirfd)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            count += 1
        os.fsync(dirfd)
        del dirpath
    return count


def same_filesystem(a: Path, b: Path) -> bool:
    """Whether ``a`` and the nearest existing ancestor of ``b`` share a device (one stat
    per path tried: a new project's directory, and its user's, do not exist yet)."""
    dev = os.stat(a).st_dev
    while True:
        try:
            return os.stat(b).st_dev == dev
        except (FileNotFoundError, NotADirectoryError):
            if b == b.parent:
                raise
            b = b.parent
