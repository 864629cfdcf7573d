"""The atomic swap: renameat2, strategies, durability order, and a concurrent reader that
must never see production missing or half-written."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import pytest

from enginev2d import fsswap
from enginev2d.errors import StagingError
from enginev2d.publish import releases_dir, swap_into_place

# --------------------------------------------------------------------------- trees


def make_tree(path: Path, version: int) -> set[str]:
    """A complete tree: every file carries the version; the manifest lists them all.
    The file set differs between versions so mixing two trees is detectable."""
    names = [f"f{i}.txt" for i in range(5 + version % 4)]
    names += [f"sub/s{i}.js" for i in range(3 + version % 3)]
    names += [f"sub/deep/d{i}.css" for i in range(2 + version % 2)]
    for name in names:
        p = path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"{version}:{name}")
    (path / "manifest.json").write_text(json.dumps({"version": version, "files": names}))
    return {*names, "manifest.json"}


class Inconsistent(Exception):
    pass


class Retired(Exception):
    """The tree this reader opened left production while it was being read."""


def read_snapshot(prod: Path) -> int:
    """Open production once (as a server would resolve it), read the manifest and every
    file through that directory fd, and check the tree is complete and of one version.

    Production missing is always a failure. A problem inside the opened tree is a
    failure if that tree is still production afterwards ("half-written"); if it has
    left production meanwhile it is being deleted, which readers of the new tree never
    see (:class:`Retired`).
    """
    try:
        fd = os.open(prod, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError as exc:
        raise Inconsistent(f"production missing: {exc}") from exc
    try:
        ino = os.fstat(fd).st_ino
        try:
            with open("manifest.json", opener=lambda p, f: os.open(p, f, dir_fd=fd)) as fh:
                manifest = json.load(fh)
            version = manifest["version"]
            for name in manifest["files"]:
                with open(name, opener=lambda p, f: os.open(p, f, dir_fd=fd)) as fh:
                    content = fh.read()
                if content != f"{version}:{name}":
                    raise Inconsistent(f"v{version}: {name} holds {content!r}")
            present = {
                os.path.normpath(os.path.join(dirpath, n))
                for dirpath, _, files, _ in os.fwalk(".", dir_fd=fd)
                for n in files
            }
            if present != {*manifest["files"], "manifest.json"}:
                raise Inconsistent(f"v{version}: files {sorted(present)} != manifest")
            return version
        except (OSError, ValueError, KeyError, Inconsistent) as exc:
            try:
                still_prod = os.stat(prod).st_ino == ino
            except FileNotFoundError:
                raise Inconsistent(f"production missing: {exc}") from exc
            if still_prod:
                raise Inconsistent(f"half-written production tree: {exc}") from exc
            raise Retired(str(exc)) from exc
    finally:
        os.close(fd)


def test_reader_check_detects_broken_trees(tmp_path):
    """The checker used below can fail: a half-written, mixed or missing tree is caught."""
    prod = tmp_path / "prod"
    with pytest.raises(Inconsistent, match="missing"):
        read_snapshot(prod)
    make_tree(prod, 3)
    assert read_snapshot(prod) == 3
    (prod / "sub" / "s0.js").write_text("4:sub/s0.js")  # mixed versions
    with pytest.raises(Inconsistent, match="half-written"):
        read_snapshot(prod)
    make_tree(prod, 3)
    (prod / "f0.txt").unlink()  # incomplete
    with pytest.raises(Inconsistent, match="half-written"):
        read_snapshot(prod)
    make_tree(prod, 3)
    (prod / "extra.txt").write_text("3:extra.txt")  # not in the manifest
    with pytest.raises(Inconsistent, match="half-written"):
        read_snapshot(prod)


@pytest.mark.parametrize("strategy", ["exchange", "symlink"])
def test_reader_never_sees_missing_or_half_written_production(tmp_path, strategy):
    swaps = 200
    staging_root = tmp_path / "staging"
    staging_root.mkdir()
    prod = tmp_path / "users" / "u1" / "projects" / "p1"
    first = staging_root / "job-0"
    make_tree(first, 0)
    swap_into_place(first, prod, strategy=strategy)

    stop = threading.Event()
    failures: list[str] = []
    seen: dict[int, int] = {}
    retired = 0

    def reader() -> None:
        nonlocal retired
        while not stop.is_set():
            try:
                v = read_snapshot(prod)
                seen[v] = seen.get(v, 0) + 1
            except Retired:
                retired += 1
            except Inconsistent as exc:
                failures.append(str(exc))
                if len(failures) > 20:
                    return

    readers = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
    for t in readers:
        t.start()
    latencies = []
    try:
        for v in range(1, swaps + 1):
            new = staging_root / f"job-{v}"
            make_tree(new, v)
            report = swap_into_place(new, prod, strategy=strategy)
            latencies.append(report.swap_s)
            assert not new.exists()
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=30)
    assert failures == []
    assert read_snapshot(prod) == swaps
    assert len(seen) >= 10, f"readers did not overlap with the swaps: {seen}"
    assert sorted(os.listdir(staging_root)) == []  # every old tree removed
    if strategy == "symlink":
        assert prod.is_symlink()
        assert len(os.listdir(releases_dir(prod))) == 1
    else:
        assert sorted(os.listdir(prod.parent)) == ["p1"]
    latencies.sort()
    assert latencies[len(latencies) // 2] < 0.05  # the rename step itself is tiny


# --------------------------------------------------------------------------- strategies


def test_first_creation_makes_parents(tmp_path):
    new = tmp_path / "staging" / "j"
    make_tree(new, 1)
    prod = tmp_path / "a" / "b" / "projects" / "p"
    report = swap_into_place(new, prod)
    assert report.strategy == "create"
    assert read_snapshot(prod) == 1
    assert not new.exists()
    assert report.files_synced == len(make_tree(tmp_path / "count", 1))


def test_exchange_replaces_and_removes_old_tree(tmp_path):
    prod = tmp_path / "prod"
    make_tree(prod, 1)
    (prod / "only-in-old.txt").write_text("old")
    new = tmp_path / "staging" / "j"
    make_tree(new, 2)
    ino = os.stat(new).st_ino
    report = swap_into_place(new, prod)
    assert report.strategy == "exchange"
    assert os.stat(prod).st_ino == ino  # the staging directory itself became production
    assert read_snapshot(prod) == 2
    assert not (prod / "only-in-old.txt").exists()
    assert not new.exists()  # the old tree, left at the staging path, is gone
    assert sorted(os.listdir(tmp_path)) == ["prod", "staging"]


def test_symlink_conversion_then_flips(tmp_path):
    prod = tmp_path / "prod"
    make_tree(prod, 1)
    new = tmp_path / "s1"
    make_tree(new, 2)
    assert swap_into_place(new, prod, strategy="symlink").strategy == "symlink_convert"
    assert prod.is_symlink() and not os.path.isabs(os.readlink(prod))
    assert read_snapshot(prod) == 2
    new = tmp_path / "s2"
    make_tree(new, 3)
    # Once a symlink, production is always flipped, whatever was asked.
    assert swap_into_place(new, prod, strategy="auto").strategy == "symlink"
    assert read_snapshot(prod) == 3
    assert len(os.listdir(releases_dir(prod))) == 1  # previous releases removed
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".prod.link")]


def test_a_new_project_under_the_symlink_strategy_is_born_a_release_symlink(tmp_path):
    """No one-time conversion (and its gap) for a project that never was a directory:
    the concurrent-reader test above saw that gap once in CI."""
    prod = tmp_path / "users" / "u" / "projects" / "p"
    new = tmp_path / "s1"
    make_tree(new, 1)
    assert swap_into_place(new, prod, strategy="symlink").strategy == "symlink_create"
    assert prod.is_symlink() and not os.path.isabs(os.readlink(prod))
    assert read_snapshot(prod) == 1 and not new.exists()
    new = tmp_path / "s2"
    make_tree(new, 2)
    assert swap_into_place(new, prod, strategy="symlink").strategy == "symlink"
    assert read_snapshot(prod) == 2
    assert len(os.listdir(releases_dir(prod))) == 1
    assert not [n for n in os.listdir(prod.parent) if n.startswith(".p.link")]


def test_symlink_flip_never_deletes_a_foreign_target(tmp_path):
    """A production symlink pointing somewhere we did not create is only re-pointed."""
    foreign = tmp_path / "foreign"
    make_tree(foreign, 1)
    prod = tmp_path / "prod"
    prod.symlink_to(foreign)
    new = tmp_path / "s"
    make_tree(new, 2)
    assert swap_into_place(new, prod).strategy == "symlink"
    assert read_snapshot(prod) == 2
    assert read_snapshot(foreign) == 1


def test_backup_rename_deletes_backup_only_on_success(tmp_path):
    prod = tmp_path / "prod"
    make_tree(prod, 1)
    new = tmp_path / "s"
    make_tree(new, 2)
    assert swap_into_place(new, prod, strategy="backup_rename").strategy == "backup_rename"
    assert read_snapshot(prod) == 2
    assert sorted(os.listdir(tmp_path)) == ["prod"]


def test_backup_rename_failure_restores_production_and_keeps_backup(tmp_path):
    """The second rename fails (the new tree vanished with the first rename, because it
    lived inside production): production is renamed back, nothing is deleted."""
    prod = tmp_path / "prod"
    make_tree(prod, 1)
    new = prod / "nested-staging"
    make_tree(new, 2)
    before = sorted(p.relative_to(prod).as_posix() for p in prod.rglob("*"))
    with pytest.raises(StagingError) as exc:
        swap_into_place(new, prod, strategy="backup_rename")
    assert isinstance(exc.value.__cause__, FileNotFoundError)
    assert sorted(p.relative_to(prod).as_posix() for p in prod.rglob("*")) == before
    assert not [n for n in os.listdir(tmp_path) if ".bak." in n]


def test_cross_filesystem_is_a_clear_staging_error(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem to test EXDEV")
    other = shm / f"enginev2d-test-{os.getpid()}-{threading.get_ident()}"
    other.mkdir()
    try:
        new = other / "job"
        make_tree(new, 2)
        prod = tmp_path / "prod"
        make_tree(prod, 1)
        with pytest.raises(StagingError, match="different filesystems") as exc:
            swap_into_place(new, prod)
        assert exc.value.code == "v2_staging_error"
        assert read_snapshot(prod) == 1 and read_snapshot(new) == 2
        with pytest.raises(StagingError, match="different filesystems"):
            fsswap.exchange(new, prod)
        with pytest.raises(StagingError, match="different filesystems"):
            fsswap.rename_noreplace(new, tmp_path / "fresh")
        assert read_snapshot(prod) == 1 and read_snapshot(new) == 2
    finally:
        import shutil

        shutil.rmtree(other, ignore_errors=True)


# --------------------------------------------------------------------------- primitives


def test_renameat2_exchange_and_noreplace(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    fsswap.exchange(a, b)
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"
    with pytest.raises(FileExistsError):
        fsswap.rename_noreplace(a, b)
    with pytest.raises(OSError) as exc:
        fsswap.exchange(a, tmp_path / "missing")
    assert exc.value.errno == errno.ENOENT
    fsswap.rename_noreplace(a, tmp_path / "c")
    assert (tmp_path / "c" / "x").read_text() == "b"


def test_fsync_tree_never_follows_symlinks(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_text("x")
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("1")
    (root / "g").write_text("2")
    (root / "link").symlink_to(outside)
    (root / "flink").symlink_to(outside / "big")
    assert fsswap.fsync_tree(root) == 2


def test_reader_catches_the_designs_two_rename_gap(tmp_path):
    """Sensitivity of the reader test above: with the design's 10.2 sequence the
    production path is briefly missing, and the same reader sees it."""
    staging_root = tmp_path / "staging"
    staging_root.mkdir()
    prod = tmp_path / "prod"
    make_tree(prod, 0)
    stop = threading.Event()
    missing = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                read_snapshot(prod)
            except Retired:
                pass
            except Inconsistent as exc:
                if "production missing" in str(exc):
                    missing.set()
                    return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        for v in range(1, 2001):
            if missing.is_set():
                break
            new = staging_root / f"job-{v}"
            make_tree(new, v)
            swap_into_place(new, prod, strategy="backup_rename", durable=False)
    finally:
        stop.set()
        t.join(timeout=30)
    assert missing.is_set()
