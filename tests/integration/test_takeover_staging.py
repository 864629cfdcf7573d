"""A takeover discards the dead owner's staging directory and rebuilds it: the published
project must still hold everything the earlier tasks produced, images included."""

from __future__ import annotations

from pathlib import Path

from enginev2d import tasks
from enginev2d.tasks.base import TaskContext, TaskOutcome
from enginev2d.worker import JobRunner

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_images_survive_a_rebuilt_staging_directory(config, pool, conn, make_job):
    job_id = make_job("make me a neon snake game")
    rebuilt = []

    def executor(ctx: TaskContext) -> TaskOutcome:
        if ctx.task_key == "publish_prep":
            # What a new owner does: discard the old staging and rebuild it.
            ctx.staging.prepare(fresh=True)
            rebuilt.append(sorted(p.name for p in ctx.staging.root.rglob("*.png")))
        return tasks.execute(ctx)

    job = conn.execute("SELECT * FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)).fetchone()
    outcome = JobRunner(config, pool, job, owner=None, executor=executor).run()
    assert outcome.status == "succeeded", outcome
    assert rebuilt == [[]]  # the rebuilt staging really had no image left

    user = job["user_id"]
    project = Path(config.paths.projects_root) / str(user) / "projects" / "proj-1"
    images = conn.execute(
        "SELECT uri FROM engine_v2.job_task_artifacts WHERE job_id = %s AND kind = 'image'",
        (job_id,),
    ).fetchall()
    assert images, "the offline asset task made no image"
    for row in images:
        data = (project / row["uri"]).read_bytes()
        assert data.startswith(PNG_SIGNATURE)
    # The v1 response names the images, without their bytes.
    result = conn.execute(
        "SELECT result FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)
    ).fetchone()["result"]
    assert {i["uri"] for i in result["images"]} == {r["uri"] for r in images}
    assert all(set(i) == {"name", "uri"} for i in result["images"])
