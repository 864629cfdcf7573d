"""Staging: path checks, limits, seeding from production with git history, removal."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enginev2d.config import Config, load_config
from enginev2d.errors import OutputTooLarge, PathEscape, StagingError
from enginev2d.staging import Staging, check_relpath, normalize_relpath
from enginev2d.tasks.base import JobInfo
from tests.gitutil import git


def make_cfg(tmp_path: Path, **limits: int) -> Config:
    return load_config(
        env={},
        require_database=False,
        overrides={
            "paths": {
                "projects_root": str(tmp_path / "projects"),
                "staging_root": str(tmp_path / "staging"),
            },
            "limits": limits,
        },
    )


def make_job(project_id: str = "p1") -> JobInfo:
    return JobInfo(str(uuid.uuid4()), str(uuid.uuid4()), project_id, "msg")


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry under root (symlinks as their target, files as a hash), recursively."""
    out: dict[str, str] = {}
    if not root.exists() and not root.is_symlink():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


# --------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("rel", "norm"),
    [
        ("index.html", "index.html"),
        ("./index.html", "index.html"),
        ("js//game.js", "js/game.js"),
        ("a/./b/c.txt", "a/b/c.txt"),
        ("assets/img/hero.png", "assets/img/hero.png"),
        (".gitignore", ".gitignore"),
        ("sub/.github/x.yml", "sub/.github/x.yml"),
        ("日本語/ファイル.js", "日本語/ファイル.js"),
        ("dir/", "dir"),
    ],
)
def test_normalize_accepts(rel, norm):
    assert normalize_relpath(rel) == norm


@pytest.mark.parametrize(
    "rel",
    [
        "",
        ".",
        "./",
        "/",
        "/etc/passwd",
        "//etc/passwd",
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "a/b/../c",
        ".git",
        ".git/config",
        ".GIT/hooks/pre-commit",
        "sub/.git/config",
        "a/.Git",
        "a\x00b",
        "index.html\x00.png",
        "a\nb",
        "a\\..\\b",
        "C:\\windows",
        "x" * 256,
        "/".join(["d" * 200] * 6),
        None,
        42,
        ["index.html"],
        "\udcff.js",
    ],
)
def test_normalize_rejects(rel):
    with pytest.raises(PathEscape):
        normalize_relpath(rel)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "b", ".", "..", "", ".git", ".GiT", "x.js", "\x00", "\\", "/"]),
        max_size=8,
    ).map("/".join)
    | st.text(max_size=40)
)
def test_normalize_property_never_escapes(rel):
    """Whatever the input: either PathEscape, or a clean relative path that stays inside
    any root when joined lexically."""
    try:
        norm = normalize_relpath(rel)
    except PathEscape:
        return
    parts = norm.split("/")
    assert norm and not norm.startswith("/")
    assert all(p not in ("", ".", "..") and p.lower() != ".git" for p in parts)
    assert "\x00" not in norm and "\\" not in norm
    root = "/srv/root"
    assert os.path.normpath(os.path.join(root, norm)).startswith(root + "/")
    assert normalize_relpath(norm) == norm  # idempotent


# --------------------------------------------------------------------------- check_relpath


@pytest.fixture
def sandbox(tmp_path):
    """A staging root with symlinks pointing out, and an outside directory to protect."""
    root = tmp_path / "stage"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "dir").mkdir()
    (root / "file.txt").write_text("x")
    (root / "link_out").symlink_to(outside)
    (root / "link_file").symlink_to(outside / "secret.txt")
    (root / "dir" / "link_rel").symlink_to("../../outside")
    (root / "link_in").symlink_to("dir")  # points inside: refused all the same
    (root / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    return root, outside


@pytest.mark.parametrize(
    "rel",
    [
        "link_out/secret.txt",
        "link_out/new.txt",
        "link_file",
        "dir/link_rel/pwn.txt",
        "link_in/x.txt",
        "dangling",
        "file.txt/below",
        "dir",
    ],
)
def test_check_relpath_refuses_symlinks_and_non_files(sandbox, rel):
    root, _ = sandbox
    with pytest.raises(PathEscape):
        check_relpath(root, rel)


def test_check_relpath_accepts_plain_targets(sandbox):
    root, _ = sandbox
    assert check_relpath(root, "dir/new/deep.js") == root / "dir" / "new" / "deep.js"
    assert check_relpath(root, "file.txt") == root / "file.txt"


def test_check_relpath_refuses_a_symlinked_staging_root_target(tmp_path):
    """Even the root itself being reached through a symlink cannot make a path resolve
    outside the real root (belt and braces on top of the component walk)."""
    real = tmp_path / "real"
    real.mkdir()
    link_root = tmp_path / "linkroot"
    link_root.symlink_to(real)
    assert check_relpath(link_root, "a.txt") == link_root / "a.txt"


# --------------------------------------------------------------------------- Staging


@pytest.fixture
def prod_project(tmp_path):
    """A production project with two commits, a nested dir, a binary and a symlink out."""
    cfg = make_cfg(tmp_path)
    job = make_job()
    st_ = Staging(cfg, job)
    prod = st_.prod_dir
    prod.mkdir(parents=True)
    (prod / "index.html").write_text("<html>v1</html>")
    git(prod, "init", "-q")
    git(prod, "add", "-A")
    git(prod, "commit", "-q", "-m", "v1")
    (prod / "index.html").write_text("<html>v2</html>")
    (prod / "js").mkdir()
    (prod / "js" / "game.js").write_text("let x = 1;")
    (prod / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    git(prod, "add", "-A")
    git(prod, "commit", "-q", "-m", "v2")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (prod / "shared").symlink_to(outside)
    return cfg, job, st_, prod, outside


def test_prepare_seeds_from_production_with_history(prod_project):
    _, _, st_, prod, outside = prod_project
    before = tree_digest(prod)
    st_.prepare()
    assert (st_.root / ".git").is_dir()
    assert git(st_.root, "rev-parse", "HEAD") == git(prod, "rev-parse", "HEAD")
    assert git(st_.root, "rev-list", "--count", "HEAD") == "2"
    assert (st_.root / "shared").is_symlink()  # copied as a link, never followed
    assert os.readlink(st_.root / "shared") == str(outside)
    assert st_.seed_info() == {"prod_existed": True, "base": git(prod, "rev-parse", "HEAD")}
    assert st_.existing_files() == {"index.html": "<html>v2</html>", "js/game.js": "let x = 1;"}
    st_.write_files([{"path": "index.html", "content": "<html>v3</html>"}])
    assert tree_digest(prod) == before  # production is never written
    assert (prod / "index.html").read_text() == "<html>v2</html>"


def test_prepare_without_production_starts_empty(tmp_path):
    st_ = Staging(make_cfg(tmp_path), make_job())
    st_.prepare()
    assert st_.root.is_dir() and list(st_.root.iterdir()) == []
    assert st_.seed_info() == {"prod_existed": False, "base": None}
    assert not st_.prod_dir.exists()


def test_prepare_keeps_or_discards_leftovers(prod_project):
    _, _, st_, _, _ = prod_project
    st_.prepare()
    st_.write_files([{"path": "new.js", "content": "1"}])
    st_.prepare()  # same attempt continuing: leftovers kept
    assert (st_.root / "new.js").exists()
    st_.prepare(fresh=True)  # takeover: rebuilt from production
    assert not (st_.root / "new.js").exists()
    assert (st_.root / "index.html").read_text() == "<html>v2</html>"


def test_a_takeover_works_in_a_tree_the_previous_owner_cannot_write_into(prod_project):
    """The previous owner may still run after its lease expired (it notices a poll
    later): its threads write through the path they know. Chaos seed 3535 saw such a
    thread commit into the new owner's tree, and production got the job twice."""
    cfg, job, old, _, _ = prod_project
    old.prepare()
    old.write_files([{"path": "late.js", "content": "from the old owner"}])
    new = Staging(cfg, job)
    new.prepare(fresh=True)  # the takeover
    assert new.root != old.root and new.seed_path != old.seed_path
    assert not old.root.exists() and not old.seed_path.exists()  # discarded
    with pytest.raises(StagingError):  # the old owner's next write finds no tree...
        old.write_files([{"path": "later.js", "content": "stale"}])
    assert sorted(p.name for p in new.root.iterdir() if p.name != ".git") == [
        "img.png",
        "index.html",
        "js",
        "shared",
    ]  # ...and never reaches the new one
    assert new.seed_info()["base"] == git(new.root, "rev-parse", "HEAD")
    third = Staging(cfg, job)
    third.prepare(fresh=True)  # a second takeover discards the first one's tree too
    assert not new.root.exists() and not new.seed_path.exists()
    third.remove(leftovers=False)  # the job's end: nothing of it is left
    assert not [p for p in third.root.parent.iterdir() if job.job_id in p.name]


def test_prepare_reseeds_a_half_seeded_tree(prod_project):
    """A staging tree without its seed record (crash mid-prepare) is not trusted."""
    _, _, st_, _, _ = prod_project
    st_.root.mkdir(parents=True)
    (st_.root / "junk").write_text("half")
    st_.prepare()
    assert not (st_.root / "junk").exists()
    assert (st_.root / "index.html").exists()


def test_prepare_replaces_a_dangling_symlink_or_a_lone_seed_record(tmp_path):
    """What a crash can leave of an unprepared job is discarded, never followed."""
    st_ = Staging(make_cfg(tmp_path), make_job())
    st_.root.parent.mkdir(parents=True)
    st_.root.symlink_to(tmp_path / "elsewhere")  # dangling: exists() says False
    st_.prepare()
    assert st_.root.is_dir() and not st_.root.is_symlink()
    assert not (tmp_path / "elsewhere").exists()
    st_.remove()
    st_.seed_path.write_text('{"prod_existed": true, "base": "stale"}')
    st_.prepare()
    assert st_.seed_info() == {"prod_existed": False, "base": None}


def test_remove_deletes_tree_and_record(prod_project):
    _, _, st_, prod, outside = prod_project
    st_.prepare()
    st_.remove()
    assert not st_.root.exists() and not st_.seed_path.exists()
    assert (outside / "secret.txt").read_text() == "secret"  # symlink not followed
    assert (prod / "index.html").exists()
    st_.remove()  # idempotent


def test_write_files_and_bytes(tmp_path):
    st_ = Staging(make_cfg(tmp_path), make_job())
    st_.prepare()
    assert st_.write_files(
        [
            {"path": "./index.html", "content": "<html>é</html>"},
            {"path": "js/a/b.js", "content": "x"},
        ]
    ) == ["index.html", "js/a/b.js"]
    assert (st_.root / "index.html").read_text(encoding="utf-8") == "<html>é</html>"
    assert st_.write_bytes("img/a.png", b"\x00\x01") == "img/a.png"
    assert st_.read_files()["img/a.png"] == b"\x00\x01"
    assert "img/a.png" not in st_.existing_files()  # binary left out
    assert not [p for p in st_.root.rglob("*.tmp")]


def test_write_before_prepare_is_a_staging_error(tmp_path):
    st_ = Staging(make_cfg(tmp_path), make_job())
    with pytest.raises(StagingError):
        st_.write_files([{"path": "index.html", "content": "x"}])


ESCAPES = [
    "../escape.txt",
    "../../outside/secret.txt",
    "a/../../escape.txt",
    "/tmp/abs.txt",
    "OUTSIDE_ABS",  # replaced by the absolute path of the outside dir
    ".git/config",
    ".git/hooks/post-commit",
    "sub/.git/HEAD",
    "a\x00.txt",
    "shared/secret.txt",  # through the seeded symlink to outside
    "shared/new.txt",
    "shared",
    "index.html/x",
    "js",
]


@pytest.mark.parametrize("bad", ESCAPES)
def test_escape_attempts_write_nothing_anywhere(prod_project, tmp_path, bad):
    _, _, st_, prod, outside = prod_project
    if bad == "OUTSIDE_ABS":
        bad = str(outside / "abs.txt")
    st_.prepare()
    snap_stage, snap_prod = tree_digest(st_.root), tree_digest(prod)
    snap_outside, snap_tmp = tree_digest(outside), sorted(os.listdir(tmp_path))
    batch = [
        {"path": "good-first.js", "content": "1"},
        {"path": bad, "content": "pwned"},
        {"path": "good-last.js", "content": "2"},
    ]
    with pytest.raises(PathEscape) as exc:
        st_.write_files(batch)
    assert exc.value.code == "v2_staging_error"
    with pytest.raises(PathEscape):
        st_.write_bytes(bad, b"pwned")
    assert tree_digest(st_.root) == snap_stage  # nothing written, not even good-first.js
    assert tree_digest(prod) == snap_prod
    assert tree_digest(outside) == snap_outside
    assert sorted(os.listdir(tmp_path)) == snap_tmp
    assert not Path("/tmp/abs.txt").exists()


def test_batch_with_file_and_dir_of_same_name_writes_nothing(tmp_path):
    st_ = Staging(make_cfg(tmp_path), make_job())
    st_.prepare()
    with pytest.raises(PathEscape):
        st_.write_files([{"path": "a", "content": "1"}, {"path": "a/b", "content": "2"}])
    assert list(st_.root.iterdir()) == []


@pytest.mark.parametrize(
    "bad_entry", [{"path": "a.js"}, {"path": "a.js", "content": b"x"}, "a.js", {"content": "x"}]
)
def test_malformed_entries_write_nothing(tmp_path, bad_entry):
    st_ = Staging(make_cfg(tmp_path), make_job())
    st_.prepare()
    with pytest.raises(PathEscape):
        st_.write_files([{"path": "ok.js", "content": "1"}, bad_entry])
    assert list(st_.root.iterdir()) == []


def test_limit_file_count_counts_what_is_already_there(tmp_path):
    st_ = Staging(make_cfg(tmp_path, max_files=3), make_job())
    st_.prepare()
    st_.write_files([{"path": "a", "content": "1"}, {"path": "b", "content": "1"}])
    st_.write_files([{"path": "a", "content": "overwrite is not a new file"}])
    with pytest.raises(OutputTooLarge) as exc:
        st_.write_files([{"path": "c", "content": "1"}, {"path": "d", "content": "1"}])
    assert exc.value.code == "v2_staging_error"
    assert sorted(os.listdir(st_.root)) == ["a", "b"]
    st_.write_files([{"path": "c", "content": "1"}])  # exactly at the limit
    with pytest.raises(OutputTooLarge):
        st_.write_bytes("img.png", b"x")
    assert sorted(os.listdir(st_.root)) == ["a", "b", "c"]


def test_limit_per_file_and_total(tmp_path):
    st_ = Staging(make_cfg(tmp_path, max_file_bytes=10, max_total_bytes=25), make_job())
    st_.prepare()
    with pytest.raises(OutputTooLarge):
        st_.write_files([{"path": "ok", "content": "1"}, {"path": "big", "content": "x" * 11}])
    with pytest.raises(OutputTooLarge):
        st_.write_files([{"path": "é", "content": "é" * 6}])  # 12 bytes in UTF-8
    with pytest.raises(OutputTooLarge):
        st_.write_bytes("big.png", b"x" * 11)
    assert list(st_.root.iterdir()) == []
    st_.write_files([{"path": "a", "content": "x" * 10}, {"path": "b", "content": "x" * 10}])
    with pytest.raises(OutputTooLarge):
        st_.write_files([{"path": "c", "content": "x" * 6}])  # 26 > 25 with what is there
    st_.write_files([{"path": "b", "content": "x" * 5}, {"path": "c", "content": "x" * 10}])
    assert sorted(os.listdir(st_.root)) == ["a", "b", "c"]


def test_seeded_git_history_is_not_counted_in_limits(prod_project):
    _, job, _, _, _ = prod_project
    cfg = make_cfg(Path(prod_project[0].paths.projects_root).parent, max_files=4)
    st_ = Staging(cfg, job)
    st_.prepare()  # 3 project files + many .git files
    st_.write_files([{"path": "new.js", "content": "1"}])
    with pytest.raises(OutputTooLarge):
        st_.write_files([{"path": "new2.js", "content": "1"}])


def test_live_staging_on_another_filesystem_fails_at_prepare(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem")
    other = shm / f"enginev2d-stage-{uuid.uuid4().hex[:8]}"
    cfg = load_config(
        env={},
        require_database=False,
        overrides={
            "paths": {"projects_root": str(tmp_path / "projects"), "staging_root": str(other)}
        },
    )
    try:
        with pytest.raises(StagingError, match="different filesystems"):
            Staging(cfg, make_job()).prepare()
        shadow = JobInfo(str(uuid.uuid4()), "u", "p", "m", "shadow")
        Staging(cfg, shadow).prepare()  # shadow never swaps: allowed
    finally:
        import shutil

        shutil.rmtree(other, ignore_errors=True)


def test_parallel_writers_never_exceed_the_file_limit(tmp_path):
    """codegen and asset write at the same time: the limit holds across both."""
    import threading

    for _ in range(10):
        st_ = Staging(make_cfg(tmp_path, max_files=10), make_job())
        st_.prepare()
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def writer(i: int, st_: Staging = st_, barrier=barrier, errors=errors) -> None:
            barrier.wait(10)
            try:
                st_.write_files([{"path": f"w{i}/{j}.js", "content": "x"} for j in range(3)])
            except OutputTooLarge as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(st_.read_files()) == 9 and len(errors) == 5
        st_.remove()


def test_reads_while_another_task_writes(tmp_path):
    """codegen and asset share the job's staging at once: one listing and reading files
    must never trip over the other's write in flight (a temporary file renamed away
    between the directory listing and the stat or read)."""
    import threading

    cfg = make_cfg(tmp_path)
    st_ = Staging(cfg, make_job())
    st_.prepare()
    stop = threading.Event()
    errors: list[BaseException] = []

    def write_images() -> None:
        try:
            i = 0
            while not stop.is_set():
                st_.write_bytes(f"assets/sprite_{i % 8}.png", b"\x89PNG" + bytes(256 * 1024))
                i += 1
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    writer = threading.Thread(target=write_images)
    writer.start()
    try:
        for _ in range(1500):
            files = st_.existing_files()
            assert not [rel for rel in files if rel.endswith(".tmp")]
    finally:
        stop.set()
        writer.join(10)
    assert errors == []
    st_.write_files([{"path": "index.html", "content": "<canvas></canvas>"}])  # limits
    assert not list(st_.root.rglob("*.tmp"))


def test_remove_deletes_the_job_and_its_bookkeeping_only(tmp_path):
    cfg = make_cfg(tmp_path)
    job, other = make_job(), make_job()
    mine, theirs = Staging(cfg, job), Staging(cfg, other)
    for st_ in (mine, theirs):
        st_.prepare()
        st_.write_files([{"path": "index.html", "content": "<canvas></canvas>"}])
    root = Path(cfg.paths.staging_root)
    (root / f".{job.job_id}.seeding-ab12").mkdir()
    (root / f".{other.job_id}.seeding-cd34").mkdir()
    mine.remove()
    assert sorted(p.name for p in root.iterdir() if job.job_id in p.name) == []
    assert (root / other.job_id / "index.html").is_file()
    assert (root / f".{other.job_id}.seeding-cd34").is_dir()


def test_remove_at_the_jobs_end_leaves_the_staging_root_unscanned(tmp_path):
    """The runner's removal (leftovers=False) takes the tree and the seed record; a
    seeding a crash left is the business of the next takeover's prepare, which scans."""
    cfg = make_cfg(tmp_path)
    job = make_job()
    st_ = Staging(cfg, job)
    st_.prepare()
    st_.write_files([{"path": "a/index.html", "content": "<canvas></canvas>"}])
    root = Path(cfg.paths.staging_root)
    crashed = root / f".{job.job_id}.seeding-ab12"
    crashed.mkdir()
    st_.remove(leftovers=False)
    assert sorted(p.name for p in root.iterdir()) == [crashed.name]
    st_.prepare(fresh=True)  # a takeover's: its own tree and seed record, nothing else
    assert sorted(p.name for p in root.iterdir()) == sorted([st_.root.name, st_.seed_path.name])
    assert st_.root.name.startswith(f"{job.job_id}.")


def test_a_temporary_name_another_writer_holds_is_drawn_again(tmp_path, monkeypatch):
    """O_EXCL refuses a temporary name that exists: the write draws another and leaves
    the other writer's file alone; three taken names in a row fail the write."""
    from enginev2d import staging as staging_mod

    cfg = make_cfg(tmp_path)
    st_ = Staging(cfg, make_job())
    st_.prepare()
    held = st_.root / ".index.html.deadbeef.tmp"
    held.write_bytes(b"another writer's")
    names = iter(["deadbeef", "deadbeef", "cafef00d"])
    monkeypatch.setattr(staging_mod, "_token", lambda: next(names))
    st_.write_files([{"path": "index.html", "content": "mine"}])
    assert (st_.root / "index.html").read_text() == "mine"
    assert held.read_bytes() == b"another writer's"
    monkeypatch.setattr(staging_mod, "_token", lambda: "deadbeef")
    with pytest.raises(StagingError):
        st_.write_files([{"path": "index.html", "content": "again"}])
    assert (st_.root / "index.html").read_text() == "mine"


def test_a_file_where_the_staging_root_should_be_is_a_staging_error(tmp_path):
    cfg = make_cfg(tmp_path)
    Path(cfg.paths.staging_root).write_text("not a directory")
    with pytest.raises(StagingError):
        Staging(cfg, make_job()).prepare()


def test_same_filesystem_looks_up_to_the_nearest_existing_ancestor(tmp_path):
    from enginev2d.fsswap import same_filesystem

    (tmp_path / "file").write_text("x")
    assert same_filesystem(tmp_path, tmp_path / "a" / "b" / "c")
    assert same_filesystem(tmp_path, tmp_path / "file" / "below")  # not a directory
    shm = Path("/dev/shm")
    if shm.is_dir() and os.stat(shm).st_dev != os.stat(tmp_path).st_dev:
        assert not same_filesystem(tmp_path, shm / "missing" / "deeper")


def test_prepare_creates_a_staging_root_whose_parents_are_missing(tmp_path):
    cfg = load_config(
        env={},
        require_database=False,
        overrides={
            "paths": {
                "projects_root": str(tmp_path / "projects"),
                "staging_root": str(tmp_path / "a" / "b" / "staging"),
            }
        },
    )
    st_ = Staging(cfg, make_job())
    st_.prepare()
    assert st_.root.is_dir() and st_.seed_info() == {"prod_existed": False, "base": None}
