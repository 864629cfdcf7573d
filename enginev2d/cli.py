"""The ``enginev2d`` command line: thin click wrappers over plain functions.

Shared options (``--config``, ``--log-level``) live on the group and are applied once;
commands receive the loaded :class:`Config` through :func:`pass_config`. Errors are one
line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .config import Config, load_config
from .errors import EngineError
from .status import RunStatus

F = TypeVar("F", bound=Callable[..., Any])


class State:
    def __init__(self, config_path: str | None, log_level: str | None) -> None:
        self.config_path = config_path
        self.log_level = log_level
        self._config: Config | None = None

    def config(self, *, require_database: bool = True) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, require_database=require_database)
        return self._config


def pass_config(fn: F) -> F:
    """Load the config (one-line error on failure) and pass it as the first argument."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state: State = click.get_current_context().ensure_object(State)
        try:
            cfg = state.config()
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
        return fn(cfg, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def fail_cleanly(fn: F) -> F:
    """Turn EngineError and database errors into a one-line message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import psycopg

        try:
            return fn(*args, **kwargs)
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise click.ClickException(f"database unreachable: {first}") from None
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise click.ClickException(f"database error: {first}") from None

    return wrapper  # type: ignore[return-value]


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="ENGINEV2_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML configuration file (default: $ENGINEV2_CONFIG; environment overrides it).",
)
@click.option("--log-level", default=None, help="Override logging.level (DEBUG, INFO, ...).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_level: str | None) -> None:
    """enginev2d: the v2 game-creation engine daemon and its admin commands."""
    ctx.obj = State(config_path, log_level)


# --------------------------------------------------------------------------- daemon


@cli.command()
@click.option("--migrate", "do_migrate", is_flag=True, help="Apply pending migrations first.")
@click.option(
    "--no-listen", is_flag=True, help="Do not LISTEN for jobs: polling only (diagnostics)."
)
@pass_config
@fail_cleanly
def run(cfg: Config, do_migrate: bool, no_listen: bool) -> None:
    """Run the daemon: claim submitted jobs and run their DAGs until SIGTERM/SIGINT."""
    from .config import validate_routes
    from .daemon import run_daemon
    from .logsetup import setup_logging

    validate_routes(cfg, os.environ)  # every routed provider has its key: one line if not
    state: State = click.get_current_context().ensure_object(State)
    setup_logging(cfg, level=state.log_level)
    sys.exit(run_daemon(cfg, migrate=do_migrate, listen=not no_listen))


# --------------------------------------------------------------------------- schema


@cli.command()
@click.option("--status", "show_status", is_flag=True, help="List migrations and their state.")
@pass_config
@fail_cleanly
def migrate(cfg: Config, show_status: bool) -> None:
    """Apply pending schema migrations (idempotent; safe to run from two daemons at once)."""
    from . import migrations
    from .db import connect_kwargs

    kw = connect_kwargs(cfg, application_name="enginev2d-migrate")
    if show_status:
        rows = migrations.status(cfg.database.url, **kw)
        for s in rows:
            when = s.applied_at.isoformat(timespec="seconds") if s.applied_at else "-"
            number = f"{s.version:04d}" if s.version is not None else "fn  "
            click.echo(f"{number}  {s.name:<32} {s.state:<9} {when}")
        if any(s.state != "applied" for s in rows):
            sys.exit(1)
        return
    applied = migrations.migrate(cfg.database.url, **kw)
    if applied:
        for m in applied:
            click.echo(f"applied {m.version:04d}_{m.name}")
    else:
        click.echo("schema is current")


@cli.command()
@click.option("--yes", is_flag=True, help="Really drop schema engine_v2 and everything in it.")
@pass_config
@fail_cleanly
def uninstall(cfg: Config, yes: bool) -> None:
    """Remove enginev2d from the database: DROP SCHEMA engine_v2 CASCADE, then verify."""
    if not yes:
        raise click.ClickException(
            "refusing to drop schema engine_v2 and all v2 job history without --yes "
            "(turn the flag off first: ENGINE_V2_ENABLED=false; public.* is never touched)"
        )
    from .db import connect_kwargs
    from .uninstall import uninstall_all

    done = uninstall_all(cfg.database.url, **connect_kwargs(cfg, application_name="enginev2d"))
    if done.leftovers:
        raise click.ClickException("uninstall left objects behind: " + ", ".join(done.leftovers))
    click.echo("schema engine_v2 dropped; public holds nothing of enginev2d")
    click.echo(done.role)


@cli.command()
@click.argument("prompt", required=False)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the private cluster and projects live (default: ./var/demo).",
)
@click.option("--keep", is_flag=True, help="Leave the private PostgreSQL running afterwards.")
@click.option("--reset", is_flag=True, help="Wipe the state directory first (a brand-new game).")
@click.option("--serve", is_flag=True, help="Serve the game on 127.0.0.1 afterwards.")
@click.option("--port", default=8000, show_default=True, help="Port for --serve.")
@fail_cleanly
def demo(
    prompt: str | None, state_dir: Path | None, keep: bool, reset: bool, serve: bool, port: int
) -> None:
    """Make a real playable game end to end: private PostgreSQL, offline provider.

    The first run creates a game from PROMPT (default: "make me a neon snake game");
    later runs edit the same project (default: "make it faster"), as a new commit.
    With --serve and no PROMPT, the game is served as it is (no job).
    """
    from . import demo as demo_mod

    result = demo_mod.run_demo(
        prompt,
        state_dir=state_dir,
        keep=keep,
        reset=reset,
        serve=serve,
        port=port,
        echo=click.echo,
    )
    if result.status not in ("succeeded", "served"):
        raise click.ClickException(f"demo job {result.status}: {result.error_code}")


# --------------------------------------------------------------------------- admin
# Thin wrappers over enginev2d.admin / slo / doctor (observability issue).


def _admin_conn(cfg: Config) -> Any:
    from .db import connect

    return connect(cfg, application_name="enginev2d-admin")


def _fmt_s(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}s"


@cli.command("submit")
@click.argument("message")
@click.option("--user", "user_id", required=True, help="JWT-verified user id (UUID).")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.option(
    "--mode",
    type=click.Choice(["live", "shadow"]),
    default="live",
    show_default=True,
    help="live publishes; shadow runs the DAG in staging only.",
)
@click.option("--job-id", default=None, help="id of the host's existing public.jobs row.")
@click.option(
    "--create-host-row",
    is_flag=True,
    help="Insert the public.jobs stand-in row first (demo/test setups only).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_config
@fail_cleanly
def submit_cmd(
    cfg: Config,
    message: str,
    user_id: str,
    project_id: str,
    mode: str,
    job_id: str | None,
    create_host_row: bool,
    as_json: bool,
) -> None:
    """Submit MESSAGE as a v2 job through engine_v2.submit_job (as the Node server does).

    The public.jobs row belongs to the host: pass its id with --job-id, or let
    --create-host-row insert a stand-in row (demo and test setups only).
    """
    from . import admin

    with _admin_conn(cfg) as conn:
        result = admin.submit(
            conn,
            message,
            user_id=user_id,
            project_id=project_id,
            mode=mode,
            job_id=job_id,
            create_host_row=create_host_row,
        )
    if as_json:
        emit_json(result)
    else:
        word = "submitted" if result["created"] else "already submitted"
        click.echo(f"{word} {result['job_id']}")


@cli.command("status")
@click.argument("job", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_config
@fail_cleanly
def status_cmd(cfg: Config, job: str | None, as_json: bool) -> None:
    """Show one job's v2 run and its tasks: status, attempts, cost, durations.

    Without JOB: the fleet. The kill switch, every daemon (alive or stopped within the
    hour) with its ENGINE_V2_ENABLED flag, whether it claims, its jobs and leases, and the
    running runs by lease holder.
    """
    from . import admin

    if job is None:
        _fleet_status(cfg, as_json)
        return
    with _admin_conn(cfg) as conn:
        data = admin.job_status(conn, job)
    if as_json:
        emit_json(data)
        return
    click.echo(
        f"job {data['job_id']}  {data['status']}  mode={data['mode']}  "
        f"progress={data['progress']}%  error={data['error_code'] or '-'}  "
        f"duration={_fmt_s(data['duration_s'])}  attempts={data['attempts']}  "
        f"cost=${data['cost_usd']:.4f}"
    )
    click.echo(f"  {'task':<13} {'status':<10} {'att':>3} {'cost':>9} {'dur':>8}  error")
    for t in data["tasks"]:
        click.echo(
            f"  {t['task_key']:<13} {t['status']:<10} {t['attempts']:>3} "
            f"${t['cost_usd']:>8.4f} {_fmt_s(t['duration_s']):>8}  {t['error_code'] or ''}"
        )


def _fleet_status(cfg: Config, as_json: bool) -> None:
    from . import fleet

    with _admin_conn(cfg) as conn:
        data = fleet.fleet_status(conn)
    if as_json:
        emit_json(data)
        return
    sw = data["switch"]
    if sw["enabled"]:
        click.echo("fleet switch: enabled")
    else:
        why = f": {sw['reason']}" if sw["reason"] else ""
        click.echo(f"fleet switch: DISABLED by {sw['changed_by']} at {sw['changed_at']}{why}")
    click.echo(
        f"{'daemon':<34} {'state':<8} {'env':<4} {'claims':<6} {'jobs':>7} {'leases':>6}"
        f" {'lease left':>10}  seen"
    )
    for d in data["daemons"]:
        state = "alive" if d["alive"] else ("stopped" if d["stopped_at"] else "silent")
        left = "-" if d["lease_left_s"] is None else f"{d['lease_left_s']:.0f}s"
        click.echo(
            f"{d['daemon_id']:<34} {state:<8} {'on' if d['env_enabled'] else 'off':<4} "
            f"{'yes' if d['claiming'] and d['alive'] else 'no':<6} "
            f"{d['running_jobs']:>3}/{d['max_jobs']:<3} {d['leases']:>6} {left:>10}  "
            f"{d['seen_s_ago']:.0f}s ago"
        )
    if not data["daemons"]:
        click.echo("(no daemon registered)")
    for row in data["leases"]:
        owner = row["owner"] or "(waiting: no daemon)"
        expired = f", {row['expired']} lease(s) expired" if row["expired"] else ""
        click.echo(f"running: {row['running']} held by {owner}{expired}")


@cli.command("disable")
@click.option("--reason", default=None, help="Why (shown by `status` and in every daemon's log).")
@pass_config
@fail_cleanly
def disable_cmd(cfg: Config, reason: str | None) -> None:
    """Fleet-wide kill switch (design 16, without a restart): every daemon stops claiming
    at once, stops the jobs it runs and fails every running v2 job over to v1
    (v2_scheduler_error + fallback). `enginev2d rollback-check` then reads 0."""
    from . import fleet

    with _admin_conn(cfg) as conn:
        sw = fleet.set_switch(conn, False, reason=reason)
    click.echo(f"engine v2 disabled fleet-wide by {sw.changed_by} (every daemon notified)")


@cli.command("enable")
@pass_config
@fail_cleanly
def enable_cmd(cfg: Config) -> None:
    """Turn the fleet switch back on. A daemon claims again only where its own
    ENGINE_V2_ENABLED is also true (see `enginev2d status`)."""
    from . import fleet

    with _admin_conn(cfg) as conn:
        sw = fleet.set_switch(conn, True)
        off = [
            d["daemon_id"]
            for d in fleet.fleet_status(conn)["daemons"]
            if d["alive"] and not d["env_enabled"]
        ]
    click.echo(f"engine v2 enabled fleet-wide by {sw.changed_by}")
    if off:
        click.echo(f"still off by ENGINE_V2_ENABLED on: {', '.join(off)}", err=True)


@cli.command("events")
@click.argument("job")
@click.option("--after", type=click.IntRange(min=0), default=0, help="Only events with seq > N.")
@click.option(
    "--follow", "-f", is_flag=True, help="Wait for new events (LISTEN) until the job ends."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="With --follow: give up after this many seconds.",
)
@pass_config
@fail_cleanly
def events_cmd(cfg: Config, job: str, after: int, follow: bool, timeout: float | None) -> None:
    """Print a job's events, one JSON object per line, as the Node server relays them.

    --follow keeps listening (LISTEN engine_v2_events, whose notifications name the jobs
    each commit wrote events for) and exits after jobCompleted, jobFailed or jobCanceled.
    """
    from . import admin

    def out(event: dict[str, Any]) -> None:
        click.echo(json.dumps(event, default=str, ensure_ascii=False))
        sys.stdout.flush()

    if follow:
        for event in admin.follow(lambda: _admin_conn(cfg), job, after=after, timeout_s=timeout):
            out(event)
        return
    with _admin_conn(cfg) as conn:
        for event in admin.events(conn, job, after=after):
            out(event)


@cli.command("jobs")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in RunStatus]),
    help="Only runs in this status (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@pass_config
@fail_cleanly
def jobs_cmd(cfg: Config, statuses: tuple[str, ...], limit: int, as_json: bool) -> None:
    """List recent v2 runs, newest first."""
    from . import admin

    with _admin_conn(cfg) as conn:
        rows = admin.jobs(conn, statuses=statuses, limit=limit)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(
            f"{r['job_id']}  {r['status']:<9} {r['mode']:<6} {r['progress']:>3}%  "
            f"{_fmt_s(r['duration_s']):>8}  {r['created_at']:%Y-%m-%d %H:%M:%S}  "
            f"{r['error_code'] or ''}"
        )


@cli.command("cancel")
@click.argument("job")
@click.option("--reason", default="canceled by operator", show_default=True)
@pass_config
@fail_cleanly
def cancel_cmd(cfg: Config, job: str, reason: str) -> None:
    """Cancel a running job: every task still going is stopped at once and v1 is told
    (fallback). Prints cancel_job's answer: canceled, completed (v2 had already won) or
    pending (its daemon died mid-publish; the takeover decides)."""
    from . import admin

    with _admin_conn(cfg) as conn:
        result = admin.cancel(conn, job, reason=reason, cfg=cfg)
    click.echo(f"{result['result']}: {result['job_id']} (run {result['status']})")


@cli.command("retry")
@click.argument("job")
@pass_config
@fail_cleanly
def retry_cmd(cfg: Config, job: str) -> None:
    """Re-run a failed job from its failed tasks."""
    from . import admin

    with _admin_conn(cfg) as conn:
        result = admin.retry(conn, job)
    click.echo(f"retry scheduled for {result['job_id']} (now {result['status']})")


@cli.command("slo")
@click.option(
    "--since", default=None, help="Window, e.g. 30m, 24h, 7d [default: metrics.slo_window_s]."
)
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@pass_config
@fail_cleanly
def slo_cmd(cfg: Config, since: str | None, as_json: bool) -> None:
    """The design's SLO table (section 18): v1 baseline, v2 value, target, pass/fail."""
    from . import slo

    window = slo.parse_duration(since) if since is not None else cfg.metrics.slo_window_s
    with _admin_conn(cfg) as conn:
        report = slo.compute(conn, window, v1_query=cfg.metrics.v1_baseline_query)
    if as_json:
        emit_json(report.to_json())
        return

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    click.echo(
        f"window {window:g}s: {report.counts['jobs_finished']} finished v2 jobs"
        + ("" if report.v1 is not None else " (no v1 baseline query configured)")
    )
    click.echo(f"{'metric':<22} {'v1 baseline':>12} {'v2':>12}  {'target':<14} result")
    for row in report.rows:
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[row["pass"]]
        click.echo(
            f"{row['key']:<22} {num(row['v1']):>12} {num(row['v2']):>12}  "
            f"{row['target']:<14} {verdict}"
        )
    if report.v1_error:
        click.echo(report.v1_error, err=True)


@cli.command("prune")
@click.option(
    "--older-than",
    default=None,
    help="Finished runs older than this, e.g. 30d [default: retention.older_than_days].",
)
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Runs per batch.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted (and its bytes).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_config
@fail_cleanly
def prune_cmd(
    cfg: Config, older_than: str | None, batch: int | None, dry_run: bool, as_json: bool
) -> None:
    """Retention: delete the events, attempts, artifacts and tasks of v2 runs that
    finished before the window, in small batches (one short transaction each), never
    touching a running job. The job_runs rows stay (SLO history). Run daily by
    systemd/enginev2d-prune.timer."""
    from . import retention, slo

    window = (
        slo.parse_duration(older_than)
        if older_than is not None
        else cfg.retention.older_than_days * 86400
    )
    with _admin_conn(cfg) as conn:
        report = retention.prune(
            conn,
            window,
            batch=batch or cfg.retention.batch,
            dry_run=dry_run,
            pause_s=cfg.retention.pause_ms / 1000,
        )
    data = report.to_json()
    if as_json:
        emit_json(data)
        return
    word = "would delete" if dry_run else "deleted"
    click.echo(
        f"runs finished before {report.cutoff:%Y-%m-%d %H:%M:%S%z}: {data['runs']} "
        f"(job_runs rows kept); {word} {data['tasks']} tasks, {data['attempts']} attempts, "
        f"{data['events']} events, {data['artifacts']} artifacts, "
        f"{data['dependencies']} dependencies, {data['server_fallbacks']} server fallbacks"
    )
    if dry_run:
        click.echo(f"about {sum(report.bytes.values()) / 1e6:.1f} MB of rows")
    else:
        click.echo(
            f"{data['rows']} rows in {data['batches']} batch(es), {data['seconds']:.1f}s"
            + (f" ({data['rows_per_s']} rows/s)" if data["rows_per_s"] else "")
        )


@cli.command("shadow-report")
@click.option(
    "--since", default="7d", show_default=True, help="Window: shadow runs submitted in it."
)
@click.option("--json", "as_json", is_flag=True, help="Print the same figures as JSON.")
@click.option("--no-browser", is_flag=True, help="Skip loading the games in headless Chromium.")
@pass_config
@fail_cleanly
def shadow_report_cmd(cfg: Config, since: str, as_json: bool, no_browser: bool) -> None:
    """The M3 comparison (design 17): v1 and the v2 shadow run of each job side by side
    (success, latency, cost, files and size, whether the v2 game loads in headless
    Chromium), the design 18 table over the paired jobs, and the verdict for moving to M4
    (GO / NO-GO / INSUFFICIENT). Exit status 0 whatever the verdict."""
    from . import shadow, slo
    from .browser import find_chromium

    window = slo.parse_duration(since)
    exe = None if no_browser else find_chromium()
    with _admin_conn(cfg) as conn:
        rep = shadow.report(conn, cfg, window, browser=exe)
    if as_json:
        emit_json(rep.to_json())
        return
    _print_shadow(rep)


def _print_shadow(rep: Any) -> None:
    def num(v: Any, fmt: str = "{:.4g}") -> str:
        return "-" if v is None else fmt.format(v)

    def ok(v: Any) -> str:
        return {True: "ok", False: "FAIL", None: "-"}[v]

    click.echo(
        f"{'job':<8}  {'v1':<4} {'v1 s':>7} {'v1 $':>8} {'v1 files':>8}  "
        f"{'v2':<4} {'v2 s':>7} {'v2 $':>8} {'files':>5} {'KB':>7}  loads"
    )
    for j in rep.jobs:
        v1 = j.v1 or {}
        kb = None if j.v2_bytes is None else j.v2_bytes / 1024
        click.echo(
            f"{j.job_id[:8]}  {ok(v1.get('succeeded')) if j.v1 else 'n/a':<4} "
            f"{num(v1.get('latency_s'), '{:.1f}'):>7} {num(v1.get('cost_usd'), '{:.4f}'):>8} "
            f"{num(v1.get('files'), '{:d}'):>8}  {ok(j.v2_ok):<4} "
            f"{num(j.v2_latency_s, '{:.1f}'):>7} {j.v2_cost_usd:>8.4f} "
            f"{num(j.v2_files, '{:d}'):>5} {num(kb, '{:.1f}'):>7}  "
            f"{ok(j.loads) if j.loads is not None else '-'}"
            + (f"  {j.load_errors[0]}" if j.load_errors else "")
        )
    paired = sum(j.v1 is not None for j in rep.jobs)
    click.echo(f"\n{len(rep.jobs)} shadow run(s), {paired} paired with a v1 job")
    click.echo(f"{'metric':<22} {'v1':>10} {'v2':>10}  {'target':<14} result")
    for r in rep.rows:
        res = {True: "pass", False: "FAIL", None: "n/a"}[r["pass"]]
        click.echo(f"{r['key']:<22} {num(r['v1']):>10} {num(r['v2']):>10}  {r['target']:<14} {res}")
    if rep.chromium is None:
        click.echo("browser check: skipped (no Chromium, or --no-browser)")
    if rep.v1_error:
        click.echo(rep.v1_error, err=True)
    click.echo(f"verdict (design 18, M3 -> M4): {rep.verdict}: " + "; ".join(rep.reasons))


@cli.command("rollback-check")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_config
@fail_cleanly
def rollback_check_cmd(cfg: Config, as_json: bool) -> None:
    """Design 16 step 3: exit 1, listing them, while any v2 run is still running."""
    from . import admin

    with _admin_conn(cfg) as conn:
        result = admin.rollback_check(conn)
    running = result["running"]
    if as_json:
        emit_json(result)
    elif not result["schema_present"]:
        click.echo("schema engine_v2 is absent: no v2 run can be running")
    elif not running:
        click.echo("0 v2 runs running: safe to proceed")
    else:
        for r in running:
            click.echo(f"{r['job_id']}  running {r['age_s']:.0f}s  owner={r['owner'] or '-'}")
    if running:
        click.echo(f"{len(running)} v2 run(s) still running", err=True)
        sys.exit(1)


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--online", is_flag=True, help="Also ask each provider in use for its model list.")
@click.pass_context
def doctor_cmd(ctx: click.Context, as_json: bool, online: bool) -> None:
    """Check config, database, schema, providers' keys (by name), paths and clock;
    with --online, that every configured model exists."""
    from . import doctor

    state: State = ctx.ensure_object(State)
    checks = doctor.run_checks(state.config_path, online=online)
    if as_json:
        emit_json(doctor.as_json(checks))
    else:
        for c in checks:
            click.echo(f"{c.status:<4}  {c.name:<20} {c.detail}")
    failed = [c.name for c in checks if c.failed]
    if failed:
        click.echo(f"doctor: failed: {', '.join(failed)}", err=True)
        sys.exit(1)


def main() -> None:
    cli(prog_name="enginev2d")


if __name__ == "__main__":  # pragma: no cover
    main()
