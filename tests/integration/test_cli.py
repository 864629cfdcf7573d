"""The admin commands through click's CliRunner (and one subprocess) on the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from enginev2d.cli import cli
from enginev2d.config import Config
from tests.integration.test_slo import seed_job

# Environment the CLI must not pick up from the machine.
CLEAN_ENV = {
    k: None
    for k in (
        "DATABASE_URL",
        "DATABASE_SSL",
        "ENGINEV2_CONFIG",
        "ENGINE_V2_ENABLED",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "MODAL_TOKEN_ID",
        "MODAL_TOKEN_SECRET",
        "MODAL_AUTH_TOKEN",
    )
}


def write_config(path: Path, url: str, cfg: Config | None = None, extra: str = "") -> Path:
    projects = cfg.paths.projects_root if cfg else str(path.parent / "projects")
    staging = cfg.paths.staging_root if cfg else str(path.parent / "staging")
    path.write_text(
        f"""
[database]
url = "{url}"
ssl = false
connect_timeout_s = 1.0

[paths]
projects_root = "{projects}"
staging_root = "{staging}"

[logging]
format = "text"
{extra}
"""
    )
    return path


@pytest.fixture
def cfg_file(config: Config, tmp_path: Path) -> Path:
    return write_config(tmp_path / "enginev2d.toml", config.database.url, config)


def run(cfg_file: Path, *args: str, env: dict[str, Any] | None = None) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(cfg_file), *args], env={**CLEAN_ENV, **(env or {})}
    )


def one_line_error(result: Result) -> str:
    assert result.exit_code != 0
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in result.output + err
    return err


COMMANDS = [
    "submit",
    "status",
    "events",
    "jobs",
    "cancel",
    "retry",
    "slo",
    "rollback-check",
    "doctor",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


# --------------------------------------------------------------------------- submit


def test_submit_creates_host_row_and_run(cfg_file, conn):
    user = str(uuid.uuid4())
    result = run(
        cfg_file,
        "submit",
        "make a neon snake game",
        "--user",
        user,
        "--project",
        "p1",
        "--create-host-row",
        "--mode",
        "shadow",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["created"] is True and data["mode"] == "shadow"
    row = conn.execute(
        "SELECT status, mode, user_id::text, project_id, message FROM engine_v2.job_runs"
        " WHERE job_id = %s",
        (data["job_id"],),
    ).fetchone()
    assert row == {
        "status": "running",
        "mode": "shadow",
        "user_id": user,
        "project_id": "p1",
        "message": "make a neon snake game",
    }
    # The host's row exists now: a second submit of the same job is not a second run.
    again = run(
        cfg_file, "submit", "again", "--user", user, "--project", "p1", "--job-id", data["job_id"]
    )
    assert again.exit_code == 0 and again.stdout.startswith("already submitted")


def test_submit_errors(cfg_file, conn):
    user = str(uuid.uuid4())
    err = one_line_error(run(cfg_file, "submit", "hi", "--user", user, "--project", "p"))
    assert "--create-host-row" in err
    missing = str(uuid.uuid4())
    err = one_line_error(
        run(cfg_file, "submit", "hi", "--user", user, "--project", "p", "--job-id", missing)
    )
    assert f"no public.jobs row with id {missing}" in err
    err = one_line_error(run(cfg_file, "submit", "hi", "--user", "bob", "--project", "p"))
    assert "UUID" in err
    # Someone else's job.
    job = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO public.jobs (id, user_id, project_id) VALUES (%s, %s, 'p')",
        (job, str(uuid.uuid4())),
    )
    err = one_line_error(
        run(cfg_file, "submit", "hi", "--user", user, "--project", "p", "--job-id", job)
    )
    assert "does not own" in err
    assert (
        run(cfg_file, "submit", "hi", "--user", user, "--project", "p", "--mode", "x").exit_code
        == 2
    )


# --------------------------------------------------------------------------- status


def test_status_json_and_text(cfg_file, conn, make_job):
    job = seed_job(
        conn,
        make_job,
        status="failed",
        attempts={"intent": [("succeeded", 0.001)], "plan": [("failed", 0.002), ("failed", 0.003)]},
        error_code="v2_task_failed",
    )
    result = run(cfg_file, "status", job, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["job_id"] == job
    assert data["status"] == "failed" and data["error_code"] == "v2_task_failed"
    assert data["progress"] == 40 and data["fallback_triggered"] is True
    assert data["attempts"] == 3 and data["cost_usd"] == pytest.approx(0.006)
    assert data["duration_s"] == pytest.approx(10, abs=1)
    tasks = {t["task_key"]: t for t in data["tasks"]}
    assert [t["task_key"] for t in data["tasks"]] == ["intent", "plan"]
    assert tasks["plan"]["status"] == "failed" and tasks["plan"]["attempts"] == 2
    assert tasks["plan"]["cost_usd"] == pytest.approx(0.005)
    assert tasks["intent"]["duration_s"] == pytest.approx(1, abs=0.1)

    text = run(cfg_file, "status", job)
    assert text.exit_code == 0
    assert job in text.stdout and "failed" in text.stdout and "plan" in text.stdout


def test_status_errors(cfg_file, tmp_path):
    err = one_line_error(run(cfg_file, "status", str(uuid.uuid4())))
    assert "no v2 run for job" in err
    err = one_line_error(run(cfg_file, "status", "not-a-uuid"))
    assert "not a job id" in err
    down = write_config(tmp_path / "down.toml", "postgresql://postgres@127.0.0.1:1/none")
    err = one_line_error(run(down, "status", str(uuid.uuid4())))
    assert err.startswith("Error: database unreachable")


# --------------------------------------------------------------------------- events


def emit(conn, job: str, event_type: str, **data: Any) -> None:
    conn.execute(
        "SELECT engine_v2.emit_event(%s, NULL, %s, %s::jsonb)",
        (job, event_type, json.dumps({"type": event_type, **data})),
    )


def test_events_relay_form_and_after(cfg_file, conn, make_job):
    job = make_job()
    emit(conn, job, "taskStarted", task_key="intent", label="意図を分析中...")
    emit(conn, job, "taskDone", task_key="intent", progress=5)
    result = run(cfg_file, "events", job)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    assert [e["type"] for e in lines] == ["jobSubmitted", "taskStarted", "taskDone"]
    assert lines[0]["progress"] == 0 and lines[0]["job_id"] == job
    assert lines[1]["label"] == "意図を分析中..."  # not escaped: as relayed
    assert "意図を分析中" in result.stdout
    after = run(cfg_file, "events", job, "--after", "2")
    assert [json.loads(x)["seq"] for x in after.stdout.splitlines()] == [3]
    assert run(cfg_file, "events", job, "--after", "-1").exit_code == 2


def test_events_unknown_job(cfg_file):
    job = str(uuid.uuid4())
    assert f"no v2 run for job {job}" in one_line_error(run(cfg_file, "events", job))
    assert f"no v2 run for job {job}" in one_line_error(run(cfg_file, "events", job, "--follow"))


def test_events_follow_listens_until_the_job_ends(cfg_file, conn, make_job):
    job = make_job()
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "enginev2d.cli",
            "--config",
            str(cfg_file),
            "events",
            job,
            "--follow",
            "--timeout",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # LISTEN is on before this first poll
        assert first["type"] == "jobSubmitted"
        emit(conn, job, "taskStarted", task_key="intent")
        second = json.loads(proc.stdout.readline())
        assert second["seq"] == 2 and second["type"] == "taskStarted"
        conn.execute("UPDATE engine_v2.job_runs SET status = 'succeeded' WHERE job_id = %s", (job,))
        emit(conn, job, "jobCompleted", progress=100)
        emit(conn, job, "afterTheEnd")  # never printed: the stream ended at jobCompleted
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    rest = [json.loads(x) for x in out.splitlines()]
    assert [e["type"] for e in rest] == ["jobCompleted"]
    assert rest[0]["progress"] == 100


def test_events_follow_ends_for_a_finished_job(cfg_file, conn, make_job):
    job = seed_job(conn, make_job)  # succeeded, and no terminal event written
    result = run(cfg_file, "events", job, "--follow", "--timeout", "10")
    assert result.exit_code == 0
    assert [json.loads(x)["type"] for x in result.stdout.splitlines()] == ["jobSubmitted"]


def test_events_follow_timeout(cfg_file, make_job):
    job = make_job()
    err = one_line_error(run(cfg_file, "events", job, "--follow", "--timeout", "0.2"))
    assert "timed out following job" in err


# --------------------------------------------------------------------------- jobs


def test_jobs_list_and_filters(cfg_file, conn, make_job):
    ok = seed_job(conn, make_job)
    bad = seed_job(conn, make_job, status="failed")
    running = make_job()
    result = run(cfg_file, "jobs", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert {r["job_id"] for r in rows} == {ok, bad, running}
    assert rows[0]["job_id"] == running  # newest first
    failed = json.loads(run(cfg_file, "jobs", "--status", "failed", "--json").stdout)
    assert [r["job_id"] for r in failed] == [bad]
    both = json.loads(
        run(cfg_file, "jobs", "--status", "failed", "--status", "running", "--json").stdout
    )
    assert {r["job_id"] for r in both} == {bad, running}
    assert len(json.loads(run(cfg_file, "jobs", "--limit", "1", "--json").stdout)) == 1
    text = run(cfg_file, "jobs")
    assert text.exit_code == 0 and len(text.stdout.splitlines()) == 3
    assert run(cfg_file, "jobs", "--status", "exploded").exit_code == 2
    assert run(cfg_file, "jobs", "--limit", "0").exit_code == 2


# --------------------------------------------------------------------------- cancel/retry


def test_cancel_and_retry_error_paths(cfg_file, conn, make_job):
    unknown = str(uuid.uuid4())
    assert "no v2 run for job" in one_line_error(run(cfg_file, "cancel", unknown))
    assert "no v2 run for job" in one_line_error(run(cfg_file, "retry", unknown))
    done = seed_job(conn, make_job)
    assert "nothing to cancel" in one_line_error(run(cfg_file, "cancel", done))
    assert "only a failed job can be retried" in one_line_error(run(cfg_file, "retry", done))


def _scheduler_has(name: str) -> bool:
    try:
        from enginev2d import scheduler  # type: ignore[attr-defined]
    except ImportError:
        return False
    return hasattr(scheduler, name)


@pytest.mark.skipif(not _scheduler_has("cancel_job"), reason="scheduler.cancel_job not landed")
def test_cancel_running_job(cfg_file, conn, make_job):
    job = make_job()
    result = run(cfg_file, "cancel", job, "--reason", "operator test")
    assert result.exit_code == 0, result.output
    row = conn.execute(
        "SELECT status, cancel_requested FROM engine_v2.job_runs WHERE job_id = %s", (job,)
    ).fetchone()
    assert row["cancel_requested"] and row["status"] == "canceled"
    assert result.output == f"canceled: {job} (run canceled)\n"


@pytest.mark.skipif(not _scheduler_has("retry_job"), reason="scheduler.retry_job not landed")
def test_retry_refuses_a_live_job_that_fell_back(cfg_file, conn, make_job):
    job = seed_job(conn, make_job, status="failed")
    conn.execute(
        "UPDATE engine_v2.job_runs SET fallback_triggered = true WHERE job_id = %s", (job,)
    )
    result = run(cfg_file, "retry", job)
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: job {job} fell back to v1, which owns it now: submit a new job"
    ]
    status = conn.execute(
        "SELECT status FROM engine_v2.job_runs WHERE job_id = %s", (job,)
    ).fetchone()["status"]
    assert status == "failed"


def test_retry_failed_shadow_job(cfg_file, conn, make_job):
    job = seed_job(conn, make_job, status="failed")
    conn.execute("UPDATE engine_v2.job_runs SET mode = 'shadow' WHERE job_id = %s", (job,))
    result = run(cfg_file, "retry", job)
    assert result.exit_code == 0, result.output
    status = conn.execute(
        "SELECT status FROM engine_v2.job_runs WHERE job_id = %s", (job,)
    ).fetchone()["status"]
    assert status == "running"


# --------------------------------------------------------------------------- slo


def test_slo_json_and_table(cfg_file, conn, make_job, tmp_path, config):
    seed_job(conn, make_job, duration_s=10)
    seed_job(conn, make_job, status="failed", duration_s=4)
    seed_job(conn, make_job, duration_s=50, finished_ago_s=3 * 3600)
    result = run(cfg_file, "slo", "--since", "1h", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    keys = (
        "success_rate",
        "latency_p50_seconds",
        "latency_p95_seconds",
        "cost_per_job_usd",
        "retry_rate",
        "fallback_rate",
    )
    assert set(keys) <= set(data)
    assert data["window_s"] == 3600 and data["counts"]["jobs_finished"] == 2
    assert data["success_rate"]["v2"] == pytest.approx(0.5)
    assert data["fallback_rate"] == {"v1": None, "v2": 0.5, "target": "< 0.05", "pass": False}
    assert data["latency_p50_seconds"]["v2"] == pytest.approx(10, abs=0.5)
    # Default window is metrics.slo_window_s (24 h): the older job counts too.
    wide = json.loads(run(cfg_file, "slo", "--json").stdout)
    assert wide["counts"]["jobs_finished"] == 3

    with_v1 = write_config(
        tmp_path / "v1.toml",
        config.database.url,
        config,
        '[metrics]\nv1_baseline_query = "SELECT 0.4 AS success_rate, 5.0 AS latency_p50_seconds"',
    )
    table = run(with_v1, "slo", "--since", "1h")
    assert table.exit_code == 0, table.output
    lines = {ln.split()[0]: ln.split() for ln in table.stdout.splitlines()[2:]}
    assert lines["success_rate"][1:] == ["0.4", "0.5", ">=", "v1", "pass"]
    assert lines["latency_p50_seconds"][-1] == "FAIL"
    assert lines["retry_rate"][-1] == "n/a"


def test_slo_errors(cfg_file, tmp_path):
    assert "bad duration" in one_line_error(run(cfg_file, "slo", "--since", "yesterday"))
    assert "bad duration" in one_line_error(run(cfg_file, "slo", "--since", "0h"))
    down = write_config(tmp_path / "down.toml", "postgresql://postgres@127.0.0.1:1/none")
    assert "database unreachable" in one_line_error(run(down, "slo"))


# --------------------------------------------------------------------------- rollback-check


def test_rollback_check(cfg_file, conn, make_job):
    seed_job(conn, make_job)
    clean = run(cfg_file, "rollback-check")
    assert clean.exit_code == 0 and "0 v2 runs running" in clean.stdout
    a = make_job()
    b = make_job()
    busy = run(cfg_file, "rollback-check")
    assert busy.exit_code == 1
    assert a in busy.stdout and b in busy.stdout
    assert "2 v2 run(s) still running" in busy.stderr
    data = json.loads(run(cfg_file, "rollback-check", "--json").stdout)
    assert {r["job_id"] for r in data["running"]} == {a, b}


def test_rollback_check_without_schema(bare_db_url, tmp_path):
    cfg = write_config(tmp_path / "bare.toml", bare_db_url)
    result = run(cfg, "rollback-check")
    assert result.exit_code == 0 and "absent" in result.stdout


def test_rollback_check_database_down(tmp_path):
    down = write_config(tmp_path / "down.toml", "postgresql://postgres@127.0.0.1:1/none")
    assert "database unreachable" in one_line_error(run(down, "rollback-check"))


# --------------------------------------------------------------------------- doctor


def test_doctor_all_good(cfg_file):
    result = run(cfg_file, "doctor", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    status = {c["name"]: c["status"] for c in data["checks"]}
    assert status == {
        "config": "ok",
        "database": "ok",
        "schema": "ok",
        "providers.offline": "ok",
        "paths": "ok",
        "clock": "ok",
        "cpus": "ok",
    }
    text = run(cfg_file, "doctor")
    assert text.exit_code == 0 and "clock" in text.stdout


def test_doctor_failures(tmp_path, bare_db_url):
    # Bad config: one failing check, nothing else tried.
    bad = tmp_path / "bad.toml"
    bad.write_text('[database]\nurl = "x"\n[daemon]\nlease_s = "soon"\n')
    result = run(bad, "doctor", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["checks"] == [
        {"name": "config", "status": "fail", "detail": data["checks"][0]["detail"]}
    ]
    assert "daemon.lease_s" in data["checks"][0]["detail"]

    # Database down, providers without keys, a missing path.
    down = write_config(
        tmp_path / "down.toml",
        "postgresql://postgres@127.0.0.1:1/none",
        extra='[providers]\ndefault = "anthropic"\n[providers.route]\nasset = "google"\n'
        "[providers.google]\nimage_vertexai = false\n",
    )
    (tmp_path / "staging").mkdir()
    result = run(down, "doctor", "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["database"]["status"] == "fail"
    assert checks["schema"]["status"] == "skip" and checks["clock"]["status"] == "skip"
    assert checks["providers.anthropic"]["status"] == "fail"
    assert "ANTHROPIC_API_KEY" in checks["providers.anthropic"]["detail"]
    assert "GEMINI_API_KEY" in checks["providers.google"]["detail"]
    assert checks["paths"]["status"] == "fail" and "projects_root" in checks["paths"]["detail"]

    # Keys present: named, values never shown. Schema missing on a bare database.
    (tmp_path / "projects").mkdir()
    keyed = write_config(
        tmp_path / "keyed.toml",
        bare_db_url,
        extra='[providers]\ndefault = "anthropic"\n[providers.route]\nasset = "google"\n',
    )
    result = run(keyed, "doctor", env={"ANTHROPIC_API_KEY": "sk-ant-very-secret-value"})
    assert result.exit_code == 1
    assert "sk-ant-very-secret-value" not in result.output + result.stderr
    lines = {ln.split()[1]: ln.split()[0] for ln in result.stdout.splitlines()}
    assert lines["providers.anthropic"] == "ok"
    assert lines["schema"] == "fail"
    assert lines["database"] == "ok"
    assert "doctor: failed: schema" in result.stderr
