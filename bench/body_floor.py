"""What a job's own Python costs with no threads and no database (issue 17).

The seven task bodies of ``make bench``'s DAG (``tasks.execute`` with the bench's
injected outputs), run one after another in one thread with the job's staging (prepare,
codegen's and fix's writes, removal) and each success turned into its batch entry by
the job runner's own ``JobRunner.completion`` (the partialResult a worker attaches:
codegen's and fix's files, plan's playable preview; contents stored once), for
``--jobs`` jobs. No database, no JSON (``row_floor``'s engine mode measures the SQL and
the Python that drives it, JSON included; its row 2d runs these bodies too), no thread
hand-off, no GIL contention: the Python a daemon cannot avoid per task, beyond the SQL
driver's.

    .venv/bin/python -m bench.body_floor [--jobs 500]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

from enginev2d import staging, tasks
from enginev2d.completer import Item
from enginev2d.config import Config, load_config
from enginev2d.scheduler import ClaimedTask
from enginev2d.tasks.base import TaskContext
from enginev2d.worker import JobRunner

from .common import TASK_KEYS, inject_options

STATE = Path(__file__).resolve().parent / ".state"


def config(root: Path) -> Config:
    """Injected outputs allowed; projects and staging under ``root``."""
    return load_config(
        env={},
        require_database=False,
        overrides={
            "testing": {"allow_inject": True},
            "paths": {"projects_root": str(root / "p"), "staging_root": str(root / "s")},
        },
    )


class JobBodies:
    """One job's tasks as its worker runs them: its staging (prepared at once), each
    task's real body (``tasks.execute`` with the injected outputs), and the batch entry
    of its success made by the runner's own :meth:`JobRunner.completion` (the
    partialResult, plan's playable preview, contents stored once, the skips), settled
    as after its commit; :meth:`close` removes the staging."""

    def __init__(self, cfg: Config, options: dict[str, Any], job_id: str | None = None) -> None:
        row = {
            "job_id": job_id or str(uuid.uuid4()), "user_id": str(uuid.uuid4()),
            "project_id": str(uuid.uuid4()), "message": "bench", "options": options,
        }  # fmt: skip
        # no database here: the runner only makes completions (its pool is never used)
        self.runner = JobRunner(cfg, cast(Any, None), row, owner=None)
        self.staging = staging.Staging(cfg, self.runner.info)
        self.staging.prepare()

    def entry(
        self, key: str, task_id: str, attempt: int = 1, *, owner: str = "bench", more: int = 0
    ) -> dict[str, Any]:
        runner = self.runner
        ctx = TaskContext(
            job=runner.info, task_id=task_id, task_key=key, attempt=attempt, config=runner.cfg,
            staging=self.staging, upstream=runner.upstream(key),
        )  # fmt: skip
        out = tasks.execute(ctx)
        task = ClaimedTask(task_id, key, attempt)
        done, staged = runner.completion(task, out, None, {"latency_ms": 1})
        runner.settle(key, out.output, staged)
        return Item.completion(runner.job_id, owner, done, claim=True, more=more).entry

    def close(self) -> None:
        self.staging.remove(leftovers=False)


def one_job(cfg: Config, options: dict[str, Any]) -> None:
    job = JobBodies(cfg, options)
    for key in TASK_KEYS:
        assert job.entry(key, str(uuid.uuid4()))
    job.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=500)
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    STATE.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(dir=STATE, prefix="body-floor-"))
    try:
        cfg = config(root)
        options = inject_options()
        one_job(cfg, options)  # imports and first-use caches, unmeasured
        t0 = time.process_time()
        for _ in range(args.jobs):
            one_job(cfg, options)
        cpu = time.process_time() - t0
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per_job = cpu / args.jobs * 1000
    print(
        f"{args.jobs} jobs: {per_job:.3f} ms of CPU per job, "
        f"{per_job / len(TASK_KEYS):.3f} ms per task (bodies, staging, completions; one thread)"
    )


if __name__ == "__main__":
    main()
