"""At start a daemon removes what crashed daemons left in the staging root, for jobs that
have ended since; a running job's staging stays for its owner."""

from __future__ import annotations

import uuid
from pathlib import Path

from enginev2d import staging
from enginev2d.daemon import Daemon
from enginev2d.db import make_pool


def _leave(root: Path, job_id: str) -> None:
    (root / job_id / "assets").mkdir(parents=True)
    (root / job_id / "index.html").write_text("<canvas>")
    (root / f".{job_id}.seed.json").write_text("{}")
    (root / f".{job_id}.seeding-1234").mkdir()
    (root / f"{job_id}.0a1b2c3d").mkdir()  # a takeover's tree, and its seed record
    (root / f".{job_id}.0a1b2c3d.seed.json").write_text("{}")


def test_sweep_at_start_keeps_running_jobs_only(config, conn, make_job):
    root = Path(config.paths.staging_root)
    running = make_job()
    finished = make_job()
    conn.execute(
        "UPDATE engine_v2.job_runs SET status = 'succeeded', finished_at = now() WHERE job_id = %s",
        (finished,),
    )
    unknown = str(uuid.uuid4())
    for job in (running, finished, unknown):
        _leave(root, job)
    (root / "not-a-job").mkdir()

    pool = make_pool(config, max_size=2)
    try:
        Daemon(config, pool=pool)._sweep_staging()
    finally:
        pool.close()

    left = sorted(p.name for p in root.iterdir())
    kept = [running, f".{running}.seed.json", f".{running}.seeding-1234"]
    kept += [f"{running}.0a1b2c3d", f".{running}.0a1b2c3d.seed.json"]
    assert left == sorted([*kept, "not-a-job"])


def test_sweep_of_a_missing_root_is_a_no_op(config, tmp_path):
    cfg = config.replace(paths={"staging_root": str(tmp_path / "absent")})
    assert staging.sweep(cfg, lambda ids: set()) == []
