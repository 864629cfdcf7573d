"""The ``enginev2d`` command line: thin click wrappers over plain functions.

Shared options (``--config``, ``--log-level``) live on the group and are applied once;
commands receive the loaded :class:`Config` through :func:`pass_config`. Errors are one
line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .config import Config, load_config
from .errors import EngineError

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
            click.echo(f"{s.version:04d}  {s.name:<32} {s.state:<9} {when}")
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
    from .uninstall import uninstall as do_uninstall

    left = do_uninstall(cfg.database.url, **connect_kwargs(cfg, application_name="enginev2d"))
    if left:
        raise click.ClickException("uninstall left objects behind: " + ", ".join(left))
    click.echo("schema engine_v2 dropped; public holds nothing of enginev2d")


@cli.command()
@click.argument("prompt", required=False)
def demo(prompt: str | None) -> None:
    """Make a playable game end to end on an embedded PostgreSQL (not yet)."""
    click.echo("enginev2d demo: not yet (lands with the demo issue)")


def main() -> None:
    cli(prog_name="enginev2d")


if __name__ == "__main__":  # pragma: no cover
    main()
