"""Per-job staging directory (design 10.1). Interface stub: the publish issue hardens it
(path checks, limits, seeding with git history)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config
    from .tasks.base import JobInfo


class Staging:
    def __init__(self, cfg: Config, job: JobInfo) -> None:
        self.cfg = cfg
        self.job = job
        self.root = Path(cfg.paths.staging_root) / job.job_id
        self.prod_dir = (
            Path(cfg.paths.projects_root) / str(job.user_id) / "projects" / str(job.project_id)
        )

    def prepare(self, *, fresh: bool = False) -> None:
        if fresh and self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)

    def existing_files(self) -> dict[str, str]:
        return {}

    def write_files(self, files: list[dict[str, Any]]) -> list[str]:
        written = []
        for f in files:
            target = self.root / f["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f["content"], encoding="utf-8")
            written.append(f["path"])
        return written

    def write_bytes(self, rel: str, data: bytes) -> str:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return rel

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
