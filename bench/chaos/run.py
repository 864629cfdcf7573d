"""The chaos run of issue 12 ("one owner per job"): several real daemons sharing one
database, one projects_root and one staging_root, live jobs submitted as the host server
does, random SIGKILLs of the daemons and PostgreSQL restarts mid-run; then, after
everything settled, count from the database and the production git histories: jobs
lost, published twice, published then failed over, public.jobs completed twice, and
the share of the jobs whose daemon was killed that still finished in v2.

    .venv/bin/python -m bench.chaos [--jobs 60] [--daemons 3] [--kills 50]
                                    [--pg-restarts 2] [--seed N]

Every wait has a deadline. Exits 0 when the issue's bar is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg

from enginev2d.embedded import EmbeddedDatabase
from enginev2d.pgcluster import PgCluster

from ..common import Deadline, loadavg, machine_info
from ..pg import drop_database, server_version, start_cluster
from ..run import code_version
from .fleet import DAEMON_KEYS, Fleet, Slot, wait_ready
from .host import COMPLETIONS_SQL, HOST_APP, V1_APP, Db, V1StandIn, submit
from .plan import ChaosClock, ScenarioSizes, scenario
from .report import brief_log_line, render, render_details, violators
from .tally import GIT_LOG_FORMAT, JobFacts, job_commits, kill_points, tally

BENCH_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BENCH_DIR / "results"
DB_NAME = "bench_chaos"
TICK_S = 0.02

OWNED_SQL = """
SELECT r.job_id::text AS job_id,
       coalesce(array_agg(t.task_key ORDER BY t.position)
                FILTER (WHERE t.status = 'running'), '{}') AS running
  FROM engine_v2.job_runs r LEFT JOIN engine_v2.job_tasks t ON t.job_id = r.job_id
 WHERE r.owner = %s AND (r.status = 'running' OR r.draining)
 GROUP BY r.job_id
"""


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- the run


class ChaosRun:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = ScenarioSizes(
            jobs=args.jobs,
            kills=args.kills,
            pg_restarts=args.pg_restarts,
            submit_span_s=args.span,
        )
        self.plan = scenario(args.seed, self.sizes)
        self.clock = ChaosClock(args.seed, self.sizes)
        self.state = args.state_dir
        self.events: list[dict[str, Any]] = []
        self.kills: list[dict[str, Any]] = []
        self.killed_jobs: set[str] = set()
        self.losses: Counter[str] = Counter()
        self.t0 = time.monotonic()

    def event(self, kind: str, **data: Any) -> dict[str, Any]:
        now = time.time()
        wall = time.strftime("%H:%M:%S", time.localtime(now)) + f",{int(now * 1000) % 1000:03d}"
        e = {"t": round(time.monotonic() - self.t0, 3), "wall": wall, "kind": kind, **data}
        self.events.append(e)
        return e

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        for sub in ("projects", "staging", "daemons"):
            shutil.rmtree(self.state / sub, ignore_errors=True)
        self.cluster: PgCluster = start_cluster(self.state)
        drop_database(self.cluster, DB_NAME)
        db = EmbeddedDatabase(self.cluster, DB_NAME)
        db.start()
        self.url = db.url
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(COMPLETIONS_SQL)  # type: ignore[arg-type]
        self.host = Db(self.url, HOST_APP)
        self.v1 = V1StandIn(self.url)
        self.fleet = Fleet(self.state, self.url, self.args.daemons, self.args.crash_daemons)
        for s in self.fleet.slots:
            self.fleet.start(s)
        wait_ready(self.fleet, Deadline(60, "waiting for the daemons to be ready"))

    # ------------------------------------------------------------------ chaos
    def chaos(self, deadline: Deadline) -> None:
        self.t0 = time.monotonic()
        pending = sorted(self.plan.jobs, key=lambda j: j.at_s)
        next_kill = self.t0 + self.clock.next_kill_gap()
        pg_after = self.clock.pg_restart_after_kills()
        pg_done = 0
        while pending or len(self.kills) < self.sizes.kills or pg_done < len(pg_after):
            deadline.check()
            now = time.monotonic()
            while pending and pending[0].at_s <= now - self.t0:
                submit(self.host, pending.pop(0))
            self.tend(now, restart_crashers=True)
            self.v1.poll(now)
            if len(self.kills) < self.sizes.kills and now >= next_kill:
                killed = self.kill_one(now)
                next_kill = now + (self.clock.next_kill_gap() if killed else 0.1)
            if pg_done < len(pg_after) and len(self.kills) >= pg_after[pg_done]:
                self.pg_restart(pg_done)
                pg_done += 1
            time.sleep(TICK_S)
        self.event("chaos_end", kills=len(self.kills), pg_restarts=pg_done)

    def kill_one(self, now: float) -> bool:
        alive = [s for s in self.fleet.normal() if s.alive()]
        if not alive:
            return False
        names = {s.name: s for s in alive}
        slot = names[self.clock.victim(list(names))]
        assert slot.daemon is not None
        rc = slot.daemon.kill()
        self.record_loss(slot, "sigkill", rc)
        slot.restart_at = now + self.clock.restart_delay()
        return True

    def record_loss(self, slot: Slot, kind: str, rc: int) -> None:
        """The jobs the dead daemon held (still its own until their lease expires)."""
        owned = self.host.rows(OWNED_SQL, (slot.daemon_id,), what="jobs of a dead daemon")
        jobs = [{"job_id": r["job_id"], "running": list(r["running"])} for r in owned]
        rec = self.event(kind, daemon=slot.daemon_id, rc=rc, jobs=jobs)
        slot.exits.append(rc)
        slot.daemon = None
        if kind == "sigkill":
            self.kills.append(rec)
        self.killed_jobs.update(j["job_id"] for j in jobs)
        for j in jobs:
            self.losses[j["job_id"]] += 1

    def tend(self, now: float, *, restart_crashers: bool) -> None:
        """Daemons that died on their own (crash_after_swap, or anything unexpected)
        are recorded and restarted; due restarts happen."""
        for s in self.fleet.slots:
            if s.daemon is not None:
                rc = s.daemon.exited()
                if rc is None:
                    continue
                kind = "crash_after_swap" if s.crash_after_swap and rc == -9 else "exited"
                if kind == "exited":
                    log(f"daemon {s.daemon_id} exited with {rc}:\n{s.daemon.log_tail(5)}")
                self.record_loss(s, kind, rc)
                s.restart_at = now if (restart_crashers or not s.crash_after_swap) else None
            if s.restart_at is not None and now >= s.restart_at:
                self.fleet.start(s)

    def pg_restart(self, i: int) -> None:
        mode, down = self.clock.pg_mode(i), self.clock.pg_downtime(i, DAEMON_KEYS["lease_s"])
        log(f"PostgreSQL restart {i + 1} (-m {mode}, down {down:.1f} s)")
        t = time.monotonic()
        self.event("pg_stop", mode=mode)
        self.cluster.stop(mode)
        time.sleep(down)
        self.cluster.start()
        self.event(
            "pg_restart",
            mode=mode,
            downtime_s=round(down, 2),
            took_s=round(time.monotonic() - t, 2),
        )

    # ------------------------------------------------------------------ settle
    def settle(self, deadline: Deadline) -> None:
        """No more chaos: the crash daemons stop (SIGTERM), every normal daemon runs, and
        we wait until no run is going and v1 has taken every fallback."""
        for s in self.fleet.slots:
            if s.crash_after_swap and s.alive():
                assert s.daemon is not None
                s.daemon.stop(grace_s=10.0)
                s.daemon = None
            s.restart_at = None if s.crash_after_swap else time.monotonic()
        while True:
            now = time.monotonic()
            self.tend(now, restart_crashers=False)
            self.v1.poll(now, force=True)
            going = self.host.rows(
                "SELECT count(*) AS n FROM engine_v2.job_runs WHERE status = 'running' OR draining"
            )[0]["n"]
            fell = self.host.rows(
                "SELECT count(*) AS n FROM engine_v2.job_runs WHERE fallback_triggered"
            )[0]["n"]
            if going == 0 and fell == len(self.v1.handled):
                self.event("settled")
                return
            if deadline.remaining <= 0:
                self.event("settle_deadline", running=going)
                log(f"settle deadline passed with {going} run(s) still going")
                return
            time.sleep(0.2)

    # ------------------------------------------------------------------ counting
    def facts(self) -> list[JobFacts]:
        ids = [j.job_id for j in self.plan.jobs]
        runs = {
            r["job_id"]: r
            for r in self.host.rows(
                "SELECT job_id::text AS job_id, status, error_code, fallback_triggered,"
                " draining, result->>'type' AS result_type,"
                " (SELECT coalesce((t.output->>'unchanged')::boolean, false)"
                "    FROM engine_v2.job_tasks t"
                "   WHERE t.job_id = r.job_id AND t.task_key = 'publish_prep') AS unchanged"
                " FROM engine_v2.job_runs r WHERE job_id = ANY(%s::uuid[])",
                (ids,),
            )
        }
        done: Counter[tuple[str, bool]] = Counter()
        completions = "SELECT job_id::text AS job_id, by_app FROM public.chaos_completions"
        for r in self.host.rows(completions):
            done[(r["job_id"], r["by_app"] == V1_APP)] += 1
        commits = self.production_commits()
        live_projects = Counter(
            (j.user_id, j.project_id) for j in self.plan.jobs if commits.get(j.job_id)
        )
        out = []
        for j in self.plan.jobs:
            run = runs.get(j.job_id) or {}
            mine = 1 if commits.get(j.job_id) else 0
            out.append(
                JobFacts(
                    job_id=j.job_id,
                    designed_to_fail=j.designed_to_fail,
                    shared=j.shared,
                    killed=j.job_id in self.killed_jobs,
                    status=run.get("status"),
                    error_code=run.get("error_code"),
                    fallback_triggered=bool(run.get("fallback_triggered")),
                    draining=bool(run.get("draining")),
                    result_type=run.get("result_type"),
                    unchanged=bool(run.get("unchanged")),
                    commits=len(commits.get(j.job_id, [])),
                    v2_completions=done[(j.job_id, False)],
                    v1_completions=done[(j.job_id, True)],
                    losses=self.losses[j.job_id],
                    rival_published=live_projects[(j.user_id, j.project_id)] - mine > 0,
                )
            )
        return out

    def production_commits(self) -> dict[str, list[str]]:
        """Commits per job trailer over every production project's HEAD history."""
        root = Path(self.fleet.shared["projects_root"])
        out: dict[str, list[str]] = {}
        for prod in sorted({root / j.user_id / "projects" / j.project_id for j in self.plan.jobs}):
            if not (prod / ".git").exists():
                continue
            text = subprocess.run(
                ["git", "-c", "safe.directory=*", "-C", str(prod), "log", GIT_LOG_FORMAT, "HEAD"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
            for job_id, shas in job_commits(text).items():
                out.setdefault(job_id, []).extend(shas)
        return out

    def engine_stats(self) -> dict[str, Any]:
        q = """
        SELECT (SELECT coalesce(sum(takeover_count), 0) FROM engine_v2.job_runs) AS job_takeovers,
               (SELECT count(*) FROM engine_v2.job_task_attempts
                 WHERE error->>'code' = 'worker_lost') AS worker_lost_attempts,
               (SELECT coalesce(max(takeovers), 0) FROM engine_v2.job_tasks) AS max_task_takeovers,
               (SELECT count(*) FROM engine_v2.job_task_attempts
                 WHERE status = 'canceled') AS canceled_attempts
        """
        return dict(self.host.rows(q)[0])

    def daemon_log(self, job_id: str, limit: int = 60) -> list[str]:
        """What the daemons logged about one job (time, daemon, action, message), and the
        chaos events that touched it, in time order."""
        out = []
        for path in self.fleet.logs():
            for line in path.read_text(errors="replace").splitlines():
                if job_id in line:
                    out.append(brief_log_line(path.stem, line))
        span = (min(out), max(out)) if out else ("", "")
        for e in self.events:
            pg = e["kind"] in ("pg_stop", "pg_restart")
            if (pg and span[0] <= e["wall"] <= span[1]) or (not pg and job_id in json.dumps(e)):
                data = {k: v for k, v in e.items() if k not in ("t", "wall", "kind")}
                out.append(f"{e['wall']} BENCH {e['kind']} {json.dumps(data)}")
        return sorted(out)[-limit:]


# --------------------------------------------------------------------------- main


def is_recorded(args: argparse.Namespace) -> bool:
    """A run at the issue's scale or larger is kept in bench/results/."""
    return (
        args.jobs >= 60 and args.daemons >= 3 and args.kills >= 50 and args.pg_restarts >= 2
    ) and not args.no_record


def run(args: argparse.Namespace) -> dict[str, Any]:
    c = ChaosRun(args)
    started = time.monotonic()
    res: dict[str, Any] = {"seed": args.seed, "loadavg_before": loadavg(), "code": code_version()}
    log(
        f"seed {args.seed}: {args.jobs} jobs, {args.daemons} daemons (+{args.crash_daemons} "
        f"crash_after_swap), {args.kills} kills, {args.pg_restarts} PostgreSQL restarts"
    )
    c.setup()
    try:
        res["machine"] = machine_info(server_version(c.url))
        log("chaos")
        c.chaos(Deadline(args.span * 4 + 120, "the chaos phase"))
        log(f"{len(c.kills)} kills done: settling")
        c.settle(Deadline(args.settle, "settling"))
        res["daemon_exit_codes"] = c.fleet.stop_all()
        facts = c.facts()
        t = tally(facts)
        res["tally"] = t.as_dict()
        res["engine"] = c.engine_stats()
        res["violations"] = {j: c.daemon_log(j) for j in violators(t)}
        res["killed_not_finished"] = {
            f.job_id: c.daemon_log(f.job_id)
            for f in facts
            if (f.killed and not f.designed_to_fail and f.status != "succeeded")
            or any(f.job_id in jobs for jobs in t.failed_unexpectedly.values())
        }
    finally:
        c.fleet.stop_all()
        c.host.close()
        c.v1.db.close()
        c.cluster.stop()
    res.update(
        jobs=args.jobs,
        designed_to_fail=sum(j.designed_to_fail for j in c.plan.jobs),
        shared_jobs=sum(j.shared for j in c.plan.jobs),
        daemons=args.daemons,
        crash_daemons=args.crash_daemons,
        kills=len(c.kills),
        self_kills=sum(e["kind"] == "crash_after_swap" for e in c.events),
        unexpected_exits=sum(e["kind"] == "exited" for e in c.events),
        pg_modes=[e["mode"] for e in c.events if e["kind"] == "pg_restart"],
        kill_points=dict(kill_points(c.kills)),
        daemon_starts=c.fleet.starts,
        # The whole plan (latencies included) replays from the seed; enough to read by.
        jobs_plan=[
            {k: v for k, v in asdict(j).items() if k not in ("options", "user_id")}
            for j in c.plan.jobs
        ],
        events=c.events,
        facts=[asdict(f) for f in facts],
        loadavg_after=loadavg(),
        elapsed_s=time.monotonic() - started,
    )
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=60)
    ap.add_argument("--daemons", type=int, default=3)
    ap.add_argument(
        "--crash-daemons",
        type=int,
        default=1,
        help="extra daemons with testing.crash_after_swap (they kill themselves "
        "between every publish's swap and its commit)",
    )
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--pg-restarts", type=int, default=2)
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--span", type=float, default=60.0, help="submits spread over SPAN seconds")
    ap.add_argument("--settle", type=float, default=120.0, help="deadline to settle, seconds")
    ap.add_argument("--state-dir", type=Path, default=BENCH_DIR / ".state" / "chaos")
    ap.add_argument("--no-record", action="store_true", help="keep the JSON out of results/")
    args = ap.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    res = run(args)
    table, details = render(res), render_details(res)
    print(f"\n{table}\n\n{details}")
    shown = {**res["killed_not_finished"], **res["violations"]}
    for job_id, lines in shown.items():
        why = "violation" if job_id in res["violations"] else "did not finish in v2"
        print(f"\n--- job {job_id} ({why}): daemon logs and chaos events")
        print("\n".join(lines))
    out_dir = RESULTS_DIR if is_recorded(args) else args.state_dir / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"chaos-{time.strftime('%Y%m%d-%H%M%S')}-seed{args.seed}.json"
    path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    log(f"results in {path}; took {res['elapsed_s']:.0f} s")
    return 0 if res["tally"]["bar_met"] else 1
