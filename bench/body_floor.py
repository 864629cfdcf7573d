"""What a job's own Python costs with no threads and no database (issue 17).

The seven task bodies of ``make bench``'s DAG (``tasks.execute`` with the bench's
injected outputs), run one after another in one thread with the job's staging (prepare,
codegen's and fix's writes, removal) and each success turned into its completion and
batch entry (``Completion.succeeded`` -> ``Item.completion``) with the partialResult a
worker attaches (codegen's and fix's files, plan's playable preview), for ``--jobs`` jobs. No
database, no JSON (``row_floor``'s engine mode measures the SQL and the Python that
drives it, JSON included), no thread hand-off, no GIL contention: with row_floor's
writers' CPU, the Python a daemon cannot avoid per task.

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
from typing import Any

from enginev2d import staging, tasks
from enginev2d.completer import Item
from enginev2d.completion import Completion
from enginev2d.config import Config, load_config
from enginev2d.task_types import PREVIEW_TASKS
from enginev2d.tasks.base import JobInfo, TaskContext
from enginev2d.templates import preview_files
from enginev2d.worker import _artifact_row
from enginev2d.workflow import DEFAULT_WORKFLOW

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


def one_job(cfg: Config, options: dict[str, Any]) -> None:
    job = JobInfo(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), "bench", options=options)
    st = staging.Staging(cfg, job)
    st.prepare()
    upstream: dict[str, Any] = {}
    for key in TASK_KEYS:
        ctx = TaskContext(
            job=job, task_id=str(uuid.uuid4()), task_key=key, attempt=1, config=cfg,
            staging=st, upstream=upstream,
        )  # fmt: skip
        out = tasks.execute(ctx)
        if DEFAULT_WORKFLOW.by_key[key].partial:
            partial = {"files": out.output.get("files"), "ref": None}
        else:  # the bench's intent is an edit: plan's preview is built (JobRunner)
            partial = {"files": preview_files(out.output)} if key in PREVIEW_TASKS else None
        done = Completion.succeeded(
            ctx.task_id, 1, out.output, input=out.input, usage={"latency_ms": 1},
            artifacts=[_artifact_row(a) for a in out.artifacts], partial=partial,
        )  # fmt: skip
        assert Item.completion(job.job_id, "bench", done, claim=True, more=0).entry
        upstream[key] = out.output
    st.remove(leftovers=False)


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
