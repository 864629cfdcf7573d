"""Deterministic reproductions of what the chaos run (bench/chaos/run.py) found when a
daemon that is still alive loses its lease (a PostgreSQL outage longer than the lease, a
pause):

    .venv/bin/python -m bench.chaos.repro [lost-attempt-charged] [swap-after-abort]
                                          [staging-removed]

* ``lost-attempt-charged``: the daemon's heartbeat fails for longer than the lease
  (only the heartbeat: a test trigger refuses its UPDATE), the daemon presumes its lease
  lost and aborts the job; nobody else took it over, so the aborted worker's report of
  its running attempt (``worker_lost``) is accepted as a *failed* attempt. qa_review has
  one attempt: the job fails over (``v2_task_failed``) instead of resuming.
* ``swap-after-abort``: the same abort while ``publish_prep`` waits for the project lock
  after recording its intent (the test holds the lock; ``publish.lock_wait_s = 30``).
  When the lock comes free the aborted worker still swaps, then reports the attempt
  failed: the job's commit is live in production and the run failed over to v1.
* ``staging-removed``: the owner is paused (SIGSTOP) past its lease, a second daemon
  takes the job over and rebuilds its staging directory; the first resumes (SIGCONT),
  learns it lost the lease, and its runner's end removes the staging directory, which is
  the new owner's now: the new owner's next write fails with ``v2_staging_error``.

Each prints what happened and exits 1 while the behaviour is wrong (0 once fixed).
Every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from enginev2d.embedded import EmbeddedDatabase
from enginev2d.publish import lock_keys

from ..common import BenchError
from ..daemonproc import Daemon
from ..pg import drop_database, start_cluster

BENCH_DIR = Path(__file__).resolve().parent.parent
STATE = BENCH_DIR / ".state" / "repro"
DB_NAME = "bench_repro"
KEYS = ("intent", "plan", "codegen", "asset", "qa_review", "fix", "publish_prep")

# Refuses only the heartbeat (lease renewal by the same owner) while the flag is set.
HEARTBEAT_SWITCH_SQL = """
CREATE TABLE public.repro_flags (name text PRIMARY KEY);
CREATE FUNCTION public.repro_refuse_heartbeat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.lease_expires_at IS DISTINCT FROM OLD.lease_expires_at
     AND NEW.owner IS NOT DISTINCT FROM OLD.owner AND NEW.status = OLD.status
     AND EXISTS (SELECT 1 FROM public.repro_flags WHERE name = 'heartbeat') THEN
    RAISE EXCEPTION 'repro: heartbeat refused';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER repro_refuse_heartbeat BEFORE UPDATE ON engine_v2.job_runs
  FOR EACH ROW EXECUTE FUNCTION public.repro_refuse_heartbeat();
"""


def log(msg: str) -> None:
    print(f"[repro {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


class Repro:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.root = STATE / name
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.conn = psycopg.connect(url, autocommit=True, row_factory=psycopg.rows.dict_row)
        self.daemons: list[Daemon] = []

    def start(self, **publish: Any) -> Daemon:
        n = len(self.daemons)
        extra: dict[str, Any] = {
            "paths": {
                "projects_root": str(self.root / "projects"),
                "staging_root": str(self.root / "staging"),
            },
            "logging": {"level": "INFO", "format": "json"},
        }
        if publish:
            extra["publish"] = publish
        keys = {"lease_s": 2.0, "poll_interval_s": 0.3, "daemon_id": f"{self.name}-{n}"}
        d = Daemon(self.root, f"daemon{n}", self.url, keys, extra)
        d.start()
        self.daemons.append(d)
        wait(lambda: self.logged(d, "daemon_ready"), 30, "daemon ready")
        return d

    def logged(self, d: Daemon, action: str, job_id: str | None = None) -> bool:
        for line in d.log_path.read_text(errors="replace").splitlines():
            if f'"action": "{action}"' in line and (job_id is None or job_id in line):
                return True
        return False

    def submit(self, latency_ms: dict[str, int]) -> tuple[str, str, str]:
        job, user, project = str(uuid.uuid4()), str(uuid.uuid4()), "repro"
        inject = {k: {"latency_ms": latency_ms.get(k, 50)} for k in KEYS}
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO public.jobs (id, user_id, project_id, status)"
                " VALUES (%s, %s, %s, 'pending')",
                (job, user, project),
            )
            self.conn.execute(
                "SELECT engine_v2.submit_job(%s, %s, %s, 'make me a neon snake game', %s)",
                (job, user, project, Jsonb({"inject": inject})),
            )
        return job, user, project

    def run_row(self, job: str) -> dict[str, Any]:
        return self.conn.execute(
            "SELECT status, error_code, fallback_triggered, owner, publish_commit"
            " FROM engine_v2.job_runs WHERE job_id = %s",
            (job,),
        ).fetchone()

    def task(self, job: str, key: str) -> dict[str, Any]:
        return self.conn.execute(
            "SELECT status, attempt_count, max_attempts, takeovers FROM engine_v2.job_tasks"
            " WHERE job_id = %s AND task_key = %s",
            (job, key),
        ).fetchone() or {"status": None}

    def ended(self, job: str) -> dict[str, Any]:
        return wait(
            lambda: (r := self.run_row(job))["status"] != "running" and r, 60, "the run's end"
        )

    def heartbeat(self, refused: bool) -> None:
        if refused:
            self.conn.execute("INSERT INTO public.repro_flags VALUES ('heartbeat')")
        else:
            self.conn.execute("DELETE FROM public.repro_flags")

    def production(self, user: str, project: str, job: str) -> list[str]:
        prod = self.root / "projects" / user / "projects" / project
        if not (prod / ".git").exists():
            return []
        out = subprocess.run(
            [
                "git",
                "-c",
                "safe.directory=*",
                "-C",
                str(prod),
                "log",
                "--format=%H",
                "-F",
                f"--grep=Engine-Job: {job}",
                "HEAD",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        return out.split()

    def story(self, job: str) -> None:
        """The run's events and what the daemons logged about the job."""
        for e in self.conn.execute(
            "SELECT seq, event_type, data->>'task_key' AS task, data->>'error_code' AS code,"
            " data->'error'->>'code' AS err FROM engine_v2.job_task_events"
            " WHERE job_id = %s ORDER BY seq",
            (job,),
        ).fetchall():
            print(
                f"    event {e['seq']:>3} {e['event_type']:<14} {e['task'] or ''}"
                f" {e['code'] or ''} {e['err'] or ''}"
            )
        keep = (
            "job_claimed",
            "job_recovered",
            "lease_lost",
            "job_aborted",
            "publish_swap",
            "task_failed",
            "task_retry",
            "job_failed",
            "job_ended",
            "stale_write_rejected",
            "staging_prepare",
            "heartbeat_failed",
        )
        lines = []
        for d in self.daemons:
            for line in d.log_path.read_text(errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                action = rec.get("action")
                if action in keep and (action == "heartbeat_failed" or rec.get("job_id") == job):
                    message = str(rec.get("message"))[:150]
                    lines.append(f"{rec['time'][11:]} {d.name} {action}: {message}")
        print("\n".join(f"    {x}" for x in sorted(lines)))

    def close(self) -> None:
        for d in self.daemons:
            if d.exited() is None:
                d.stop(grace_s=10)
        self.conn.close()


def lost_attempt_charged(r: Repro) -> bool:
    d = r.start()
    job, _, _ = r.submit({"qa_review": 6000})
    wait(lambda: r.task(job, "qa_review")["status"] == "running", 30, "qa_review running")
    log(f"job {job}: qa_review running; refusing the heartbeat")
    r.heartbeat(refused=True)
    wait(lambda: r.logged(d, "lease_lost", job), 15, "the daemon presuming its lease lost")
    r.heartbeat(refused=False)
    log("the daemon aborted the job (lease presumed lost); heartbeat allowed again")
    run = r.ended(job)
    qa = r.task(job, "qa_review")
    log(f"run {run['status']} {run['error_code']}; qa_review {qa}")
    r.story(job)
    return run["status"] == "failed" and run["error_code"] == "v2_task_failed"


def swap_after_abort(r: Repro) -> bool:
    d = r.start(lock_wait_s=30.0)
    job, user, project = r.submit({})
    k1, k2 = lock_keys(user, project)
    holder = psycopg.connect(r.url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s::int4, %s::int4)", (k1, k2))
    wait(lambda: r.run_row(job)["publish_commit"], 30, "publish_prep's recorded intent")
    log(f"job {job}: intent recorded, publish waits for the project lock; refusing heartbeat")
    r.heartbeat(refused=True)
    wait(lambda: r.logged(d, "lease_lost", job), 15, "the daemon presuming its lease lost")
    r.heartbeat(refused=False)
    holder.close()  # the project lock comes free
    log("the daemon aborted the job; project lock released")
    run = r.ended(job)
    live = r.production(user, project, job)
    log(
        f"run {run['status']} {run['error_code']} fallback={run['fallback_triggered']}; "
        f"this job's commit in production: {live}"
    )
    r.story(job)
    return bool(live) and run["status"] != "succeeded"


def staging_removed(r: Repro) -> bool:
    a, b = r.start(), r.start()
    job, _, _ = r.submit({"codegen": 4000, "asset": 100})
    wait(lambda: r.task(job, "codegen")["status"] == "running", 30, "codegen running")
    owner = r.run_row(job)["owner"]
    first, second = (a, b) if owner == "staging-removed-0" else (b, a)
    log(f"job {job}: codegen running on {first.name}; SIGSTOP {first.name}")
    os.kill(first.pid, signal.SIGSTOP)
    try:
        wait(lambda: r.logged(second, "staging_prepare", job), 20, "the takeover's staging")
        log(f"{second.name} took the job over and rebuilt its staging; SIGCONT {first.name}")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    run = r.ended(job)
    log(f"run {run['status']} {run['error_code']}")
    r.story(job)
    return run["status"] == "failed" and run["error_code"] == "v2_staging_error"


SCENARIOS: dict[str, Callable[[Repro], bool]] = {
    "lost-attempt-charged": lost_attempt_charged,
    "swap-after-abort": swap_after_abort,
    "staging-removed": staging_removed,
}


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {unknown}; known: {list(SCENARIOS)}", file=sys.stderr)
        return 2
    cluster = start_cluster(STATE)
    reproduced = []
    try:
        for name in names:
            drop_database(cluster, DB_NAME)
            db = EmbeddedDatabase(cluster, DB_NAME)
            db.start()
            with psycopg.connect(db.url, autocommit=True) as conn:
                conn.execute(HEARTBEAT_SWITCH_SQL)  # type: ignore[arg-type]
            log(f"--- {name}")
            r = Repro(db.url, name)
            try:
                bug = SCENARIOS[name](r)
            finally:
                r.close()
            log(f"{name}: {'REPRODUCED' if bug else 'not reproduced (behaves as required)'}")
            if bug:
                reproduced.append(name)
    finally:
        cluster.stop()
    log(f"reproduced: {reproduced or 'none'}")
    return 1 if reproduced else 0


if __name__ == "__main__":
    sys.exit(main())
