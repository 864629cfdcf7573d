"""Build real Configs, Stagings and TaskContexts for task tests (no database needed)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from enginev2d.config import Config, load_config
from enginev2d.staging import Staging
from enginev2d.tasks.base import JobInfo, TaskContext


def make_config(tmp_path: Path, overrides: Mapping[str, Any] | None = None) -> Config:
    base: dict[str, Any] = {
        "paths": {
            "projects_root": str(tmp_path / "projects"),
            "staging_root": str(tmp_path / "staging"),
        }
    }
    for section, values in (overrides or {}).items():
        if isinstance(values, Mapping) and isinstance(base.get(section), Mapping):
            base[section] = {**base[section], **values}
        else:
            base[section] = values
    return load_config(env={}, overrides=base, require_database=False)


def write_project(cfg: Config, job: JobInfo, files: Mapping[str, str]) -> Path:
    """Put a 'published' project where Staging seeds from."""
    prod = Path(cfg.paths.projects_root) / str(job.user_id) / "projects" / str(job.project_id)
    for rel, content in files.items():
        (prod / rel).parent.mkdir(parents=True, exist_ok=True)
        (prod / rel).write_text(content, encoding="utf-8")
    return prod


def make_ctx(
    cfg: Config,
    task_key: str,
    *,
    message: str = "make me a neon snake game",
    upstream: Mapping[str, Mapping[str, Any]] | None = None,
    existing: Mapping[str, str] | None = None,
    attempt: int = 1,
    repair_hint: str | None = None,
    options: Mapping[str, Any] | None = None,
    job_id: str | None = None,
) -> TaskContext:
    job = JobInfo(
        job_id=job_id or str(uuid.uuid4()),
        user_id="u1",
        project_id="p1",
        message=message,
        options=dict(options or {}),
    )
    if existing:
        write_project(cfg, job, existing)
    staging = Staging(cfg, job)
    staging.prepare()
    return TaskContext(
        job=job,
        task_id=str(uuid.uuid4()),
        task_key=task_key,
        attempt=attempt,
        config=cfg,
        staging=staging,
        upstream=dict(upstream or {}),
        repair_hint=repair_hint,
    )
