"""``enginev2d demo``: the whole product on the embedded default.

A private PostgreSQL cluster in ``var/demo`` (reused between runs), the host stand-ins,
the migrations, one job submitted through ``engine_v2.submit_job`` and the daemon running
in-process with the offline provider. Progress is shown from the ``job_task_events``
stream exactly as the Node server would relay it, then what the engine understood: the
intent, the template, the summary (or the chat reply).

``--serve`` without a prompt serves the game as it is (no job); a prompt that is blank or
a port that is taken is refused in one line before anything is changed. The server never
serves ``.git/`` or any other dot-file.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import http.server
import os
import posixpath
import shutil
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .config import Config, load_config
from .daemon import Daemon
from .embedded import EmbeddedDatabase
from .errors import ConfigError
from .logsetup import setup_logging
from .pgcluster import PgCluster
from .progress import notified_jobs
from .status import TERMINAL_EVENTS

DEFAULT_PROMPT = "make me a neon snake game"
DEFAULT_EDIT_PROMPT = "make it faster"
DEMO_USER = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://enginev2d.local/demo-user"))
DEMO_PROJECT = "demo"
BAR = 24


@dataclass
class DemoResult:
    job_id: str | None
    status: str
    error_code: str | None
    index_html: Path | None
    seconds: float
    events: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)  # task outputs by task key


def default_state_dir() -> Path:
    return Path(os.environ.get("ENGINEV2_DEMO_DIR", Path.cwd() / "var" / "demo")).resolve()


def demo_config(state: Path, db_url: str) -> Config:
    return load_config(
        env={},
        overrides={
            "database": {"url": db_url, "ssl": False},
            "engine": {"enabled": True, "allowlist_only": False},
            "daemon": {"poll_interval_s": 1.0, "lease_s": 15.0, "job_timeout_s": 120.0},
            "paths": {
                "projects_root": str(state / "projects"),
                "staging_root": str(state / "staging"),
            },
            "providers": {"default": "offline"},
            "metrics": {"enabled": False},
            "logging": {"format": "text", "level": "WARNING"},
        },
    )


def _check_writable(state: Path) -> None:
    try:
        state.mkdir(parents=True, exist_ok=True)
        probe = state / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"state directory {state} is not writable: {exc.strerror}") from None


def project_dir(cfg: Config) -> Path:
    return Path(cfg.paths.projects_root) / DEMO_USER / "projects" / DEMO_PROJECT


def submit(conn: psycopg.Connection[Any], message: str) -> str:
    job_id = str(uuid.uuid4())
    with conn.transaction():
        conn.execute(
            "INSERT INTO public.jobs (id, user_id, project_id, status)"
            " VALUES (%s, %s, %s, 'pending')",
            (job_id, DEMO_USER, DEMO_PROJECT),
        )
        conn.execute(
            "SELECT engine_v2.submit_job(%s, %s, %s, %s, %s)",
            (job_id, DEMO_USER, DEMO_PROJECT, message, Jsonb({})),
        )
    return job_id


def follow_events(
    db_url: str,
    job_id: str,
    on_event: Callable[[dict[str, Any]], None],
    *,
    timeout_s: float,
) -> list[dict[str, Any]]:
    """Relay the job's events in seq order until a terminal one, as the Node server would:
    LISTEN, then ask for ``seq > last`` on every notification naming the job beyond
    ``last`` (and on a short timeout)."""
    events: list[dict[str, Any]] = []
    last = 0
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("LISTEN engine_v2_events")
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT seq, event_type, data FROM engine_v2.job_task_events"
                " WHERE job_id = %s AND seq > %s ORDER BY seq",
                (job_id, last),
            ).fetchall()
            for row in rows:
                last = row["seq"]
                events.append(row)
                on_event(row)
                if row["event_type"] in TERMINAL_EVENTS:
                    return events
            for note in conn.notifies(timeout=0.5):
                if notified_jobs(note.payload).get(job_id, last) > last:
                    break  # something new for this job: read it
    raise TimeoutError(f"job {job_id} did not finish within {timeout_s:.0f} s")


class ProgressPrinter:
    """Turns events into the lines a user would see: label, bar, retries, summary."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.started: dict[str, float] = {}
        self.retries = 0
        self.cost = 0.0

    def bar(self, progress: int) -> str:
        filled = BAR * max(0, min(100, progress)) // 100
        return "[" + "#" * filled + "." * (BAR - filled) + f"] {progress:3d}%"

    def __call__(self, ev: dict[str, Any]) -> None:
        data = ev.get("data") or {}
        kind = ev["event_type"]
        key = data.get("task_key", "")
        progress = int(data.get("progress", 0) or 0)
        if kind == "taskStarted":
            self.started[key] = time.monotonic()
            attempt = data.get("attempt", 1)
            again = f" (attempt {attempt})" if attempt and attempt > 1 else ""
            self.echo(f"  {self.bar(progress)}  > {key:<12} {data.get('label', '')}{again}")
        elif kind == "taskDone":
            ms = (time.monotonic() - self.started.get(key, time.monotonic())) * 1000
            self.echo(f"  {self.bar(progress)}  + {key:<12} done ({ms:.0f} ms)")
        elif kind == "taskSkipped":
            self.echo(f"  {self.bar(progress)}  - {key:<12} skipped")
        elif kind == "taskRetry":
            self.retries += 1
            err = (data.get("error") or {}).get("message", "")
            self.echo(f"  {self.bar(progress)}  ! {key:<12} retrying: {err}")
        elif kind == "taskFailed":
            err = (data.get("error") or {}).get("message", "")
            self.echo(f"  {self.bar(progress)}  x {key:<12} failed: {err}")
        elif kind == "partialResult":
            files = data.get("files") or []
            what = "playable preview" if data.get("stage") == "preview" else "partial result"
            self.echo(f"  {self.bar(progress)}    {key:<12} {what}: {len(files)} file(s)")
        elif kind == "jobCompleted":
            self.echo(f"  {self.bar(100)}  job completed")
        elif kind == "jobFailed":
            self.echo(f"  job failed: {data.get('error_code')} (the server would now run v1)")
        elif kind == "jobCanceled":
            self.echo("  job canceled")


def _job_summary(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any]:
    row = conn.execute(
        """
        SELECT r.status, r.error_code,
               extract(epoch FROM r.finished_at - r.created_at) AS seconds,
               count(t.*) FILTER (WHERE t.status = 'succeeded') AS done,
               count(t.*) FILTER (WHERE t.status = 'skipped') AS skipped,
               (SELECT coalesce(sum(a.cost_usd), 0) FROM engine_v2.job_task_attempts a
                  JOIN engine_v2.job_tasks t2 ON t2.id = a.task_id
                 WHERE t2.job_id = r.job_id) AS cost,
               (SELECT count(*) FROM engine_v2.job_task_attempts a
                  JOIN engine_v2.job_tasks t2 ON t2.id = a.task_id
                 WHERE t2.job_id = r.job_id AND a.attempt_no > 1) AS retries
          FROM engine_v2.job_runs r
          LEFT JOIN engine_v2.job_tasks t ON t.job_id = r.job_id
         WHERE r.job_id = %s
         GROUP BY r.job_id
        """,
        (job_id,),
    ).fetchone()
    return dict(row) if row else {}


class _GameHandler(http.server.SimpleHTTPRequestHandler):
    """Static files of the game only: any path with a dot-segment (``.git/``, ``.env``)
    is not found, so the project's history and secrets are never served."""

    def send_head(self) -> Any:
        path = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
        if any(part.startswith(".") for part in path.split("/") if part):
            self.send_error(404, "Not found")
            return None
        return super().send_head()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def open_server(directory: Path, port: int) -> http.server.ThreadingHTTPServer:
    """Bind the game server now (a taken port is found before anything changes)."""
    handler = functools.partial(_GameHandler, directory=str(directory))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise ConfigError(
                f"port {port} on 127.0.0.1 is taken by another process; choose another with --port"
            ) from None
        raise ConfigError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror}") from None


def serve_fn(
    server: http.server.ThreadingHTTPServer, directory: Path, echo: Callable[[str], None]
) -> None:
    """Serve ``directory`` with an already bound server until Ctrl-C."""
    with server as httpd:
        echo(f"  serving {directory} at http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            httpd.serve_forever()


@contextlib.contextmanager
def daemon_in_thread(cfg: Config) -> Iterator[Daemon]:
    """The real daemon, in-process: started before the block, stopped gracefully after."""
    daemon = Daemon(cfg)
    thread = threading.Thread(target=daemon.run, name="enginev2d-daemon", daemon=True)
    thread.start()
    try:
        yield daemon
    finally:
        daemon.request_stop("demo finished")
        thread.join(cfg.daemon.shutdown_grace_s + 5)


def _task_outputs(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT task_key, output FROM engine_v2.job_tasks"
        " WHERE job_id = %s AND status = 'succeeded'",
        (job_id,),
    ).fetchall()
    return {r["task_key"]: r["output"] or {} for r in rows}


def explain(outputs: dict[str, Any], echo: Callable[[str], None]) -> None:
    """What the engine understood and answered: intent, template, summary or reply."""
    intent = outputs.get("intent") or {}
    plan = outputs.get("plan") or {}
    kind = intent.get("intent", "?")
    step = f" ({intent['step']})" if intent.get("step") else ""
    echo(f"  intent    {kind}{step}")
    if plan.get("template_id"):
        title = f"{plan.get('title', '')}, " if plan.get("title") else ""
        echo(f"  template  {plan['template_id']} ({title}{plan.get('language', '?')})")
    if intent.get("reply"):
        echo(f"  reply     {intent['reply']}")
    publish = outputs.get("publish_prep") or {}
    summary = publish.get("summary") or (outputs.get("codegen") or {}).get("summary")
    if summary:
        echo(f"  summary   {summary}")
    if publish.get("unchanged"):
        echo("  (nothing changed, so no new version was made)")


def _check_prompt(prompt: str | None) -> None:
    if prompt is not None and not prompt.strip():
        raise ConfigError('the prompt is empty: say what to make, e.g. "make me a snake game"')


def run_demo(
    prompt: str | None = None,
    *,
    state_dir: Path | None = None,
    keep: bool = False,
    reset: bool = False,
    serve: bool = False,
    port: int = 8000,
    echo: Callable[[str], None] = print,
    timeout_s: float = 120.0,
) -> DemoResult:
    """One demo run: refuse a blank prompt and a taken port first, then (unless only
    serving an existing game) run one job, explain it, and serve the game if asked."""
    _check_prompt(prompt)
    state = state_dir or default_state_dir()
    server = open_server(project_dir_for(state), port) if serve else None
    try:
        if reset and state.exists():
            cluster = PgCluster(state / "pg")
            with contextlib.suppress(Exception):
                cluster.stop("immediate")
            shutil.rmtree(state)
        game = project_dir_for(state) / "index.html"
        if serve and prompt is None and game.is_file():
            echo(f"enginev2d demo: serving your game as it is (no job): {game}")
            result = DemoResult(None, "served", None, game, 0.0)
        else:
            result = _run_job(prompt, state, keep=keep, echo=echo, timeout_s=timeout_s)
        if server is not None and result.index_html is not None:
            serve_and_close, server = server, None
            serve_fn(serve_and_close, result.index_html.parent, echo)
        return result
    finally:
        if server is not None:
            server.server_close()


def project_dir_for(state: Path) -> Path:
    return state / "projects" / DEMO_USER / "projects" / DEMO_PROJECT


def _run_job(
    prompt: str | None,
    state: Path,
    *,
    keep: bool,
    echo: Callable[[str], None],
    timeout_s: float,
) -> DemoResult:
    _check_writable(state)
    db = EmbeddedDatabase(PgCluster(state / "pg"))
    t0 = time.monotonic()
    db.start()
    with contextlib.ExitStack() as stack:
        if not keep:
            stack.callback(db.stop)
        cfg = demo_config(state, db.url)
        existing = (project_dir(cfg) / "index.html").exists()
        message = prompt or (DEFAULT_EDIT_PROMPT if existing else DEFAULT_PROMPT)
        log_file = state / "daemon.log"
        log_stream = log_file.open("a", encoding="utf-8")
        stack.callback(log_stream.close)
        setup_logging(cfg, level="INFO", stream=log_stream)
        echo(f'enginev2d demo: "{message}"')
        echo(f"  database  {db.url}  (private cluster in {state / 'pg'})")
        echo("  provider  offline (template-based, no API keys, no network)")
        echo(f"  log       {log_file}")
        with psycopg.connect(db.url, autocommit=True, row_factory=dict_row) as conn:
            job_id = submit(conn, message)
            echo(f"  job       {job_id} ({'edit of the existing game' if existing else 'new'})")
            printer = ProgressPrinter(echo)
            with daemon_in_thread(cfg):
                events = follow_events(db.url, job_id, printer, timeout_s=timeout_s)
            summary = _job_summary(conn, job_id)
            outputs = _task_outputs(conn, job_id)
        status = summary.get("status", "unknown")
        index = project_dir(cfg) / "index.html"
        seconds = float(summary.get("seconds") or 0.0)
        if status == "succeeded":
            echo(
                f"  job succeeded in {seconds:.2f} s: {summary['done']} tasks done, "
                f"{summary['skipped']} skipped, {summary['retries']} retries, "
                f"cost ${float(summary['cost']):.4f}"
            )
            echo("")
            explain(outputs, echo)
            if index.is_file():
                echo("")
                echo(f"  Your game: {index}")
                echo(f"  Open it:   xdg-open {index}   (or: enginev2d demo --serve)")
        else:
            echo(f"  job ended {status}: {summary.get('error_code')}")
        echo(f"  (demo took {time.monotonic() - t0:.1f} s)")
        return DemoResult(
            job_id=job_id,
            status=status,
            error_code=summary.get("error_code"),
            index_html=index if status == "succeeded" and index.is_file() else None,
            seconds=seconds,
            events=events,
            outputs=outputs,
        )
