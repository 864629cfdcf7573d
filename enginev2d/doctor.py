"""``enginev2d doctor``: is this machine ready to run the daemon?

Checks, in order (later ones are skipped when an earlier one they need failed):

* ``config``     the configuration loads and validates
* ``database``   the database answers (server version)
* ``schema``     every migration is applied and unmodified (``migrations.is_current``)
* ``providers``  each provider a task is routed to is configured; secrets are checked
                 by environment variable *name* only, values are never read out
* ``paths``      projects_root and staging_root exist, are writable and sit on one
                 filesystem (equal ``st_dev``: the publish swap is a rename)
* ``clock``      this machine's clock agrees with the database's ``now()``
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .config import TASK_KEYS, Config, load_config
from .errors import EngineError
from .sql import load_queries

QUERIES = load_queries("admin")
MAX_CLOCK_SKEW_S = 5.0
MODEL_FREE_TASKS = frozenset({"publish_prep"})  # local work, no model call


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_providers(cfg: Config, env: Mapping[str, str]) -> list[Check]:
    """One check per provider in use; names the missing variables, never their values."""
    used: dict[str, list[str]] = {}
    for task in TASK_KEYS:
        if task not in MODEL_FREE_TASKS:
            used.setdefault(cfg.providers.for_task(task), []).append(task)
    checks: list[Check] = []
    for provider, tasks in sorted(used.items()):
        name = f"providers.{provider}"
        scope = ", ".join(tasks)
        problems: list[str] = []
        notes: list[str] = []
        if provider == "offline":
            checks.append(Check(name, "ok", f"built-in offline provider ({scope})"))
            continue
        if provider == "anthropic":
            if not env.get("ANTHROPIC_API_KEY"):
                problems.append("ANTHROPIC_API_KEY is not set")
        elif provider == "google":
            g = cfg.providers.google
            text_tasks = [t for t in tasks if t != "asset"]
            if text_tasks:
                if g.vertexai:
                    if not g.project:
                        problems.append("providers.google.project is empty (vertexai = true)")
                elif not (env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")):
                    problems.append("neither GEMINI_API_KEY nor GOOGLE_API_KEY is set")
            if "asset" in tasks:
                if g.image_vertexai:
                    if not g.project:
                        problems.append("providers.google.project is empty (image_vertexai = true)")
                    else:
                        notes.append("images via Vertex AI (application default credentials)")
                elif not (env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")):
                    problems.append("neither GEMINI_API_KEY nor GOOGLE_API_KEY is set")
            if "codegen" in tasks and not env.get("ANTHROPIC_API_KEY"):
                notes.append("ANTHROPIC_API_KEY not set: no Claude fallback for codegen")
        elif provider == "modal":
            m = cfg.providers.modal
            if "asset" in tasks:
                problems.append("modal cannot generate images: route asset to google or offline")
            if not (m.generate_code_url or m.chat_haiku_url or m.detect_intent_url):
                problems.append("no providers.modal.*_url is set")
            has_pair = env.get("MODAL_TOKEN_ID") and env.get("MODAL_TOKEN_SECRET")
            if not (has_pair or env.get("MODAL_AUTH_TOKEN")):
                notes.append("no MODAL_TOKEN_ID/MODAL_TOKEN_SECRET or MODAL_AUTH_TOKEN set")
        if problems:
            checks.append(Check(name, "fail", f"{'; '.join(problems)} ({scope})"))
        elif notes:
            checks.append(Check(name, "warn", f"{'; '.join(notes)} ({scope})"))
        else:
            checks.append(Check(name, "ok", f"configured ({scope})"))
    return checks


def check_paths(cfg: Config) -> Check:
    devices: dict[str, int] = {}
    problems: list[str] = []
    for key in ("projects_root", "staging_root"):
        path = Path(getattr(cfg.paths, key))
        if not path.is_dir():
            problems.append(f"paths.{key} {path} is not a directory")
            continue
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".enginev2d-doctor-"):
                pass
        except OSError as exc:
            problems.append(f"paths.{key} {path} is not writable ({exc.strerror or exc})")
            continue
        devices[key] = path.stat().st_dev
    if not problems and len(set(devices.values())) > 1:
        problems.append(
            "paths.projects_root and paths.staging_root are on different filesystems "
            "(the publish swap is a rename: put them on one)"
        )
    if problems:
        return Check("paths", "fail", "; ".join(problems))
    return Check(
        "paths",
        "ok",
        f"{cfg.paths.projects_root} and {cfg.paths.staging_root} writable, one filesystem",
    )


def run_checks(
    config_path: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    load: Callable[[], Config] | None = None,
) -> list[Check]:
    """Every check, never raising: a failure is a ``fail`` row with a one-line reason."""
    env = os.environ if env is None else env
    checks: list[Check] = []
    try:
        cfg = load() if load is not None else load_config(config_path, env)
    except EngineError as exc:
        checks.append(Check("config", "fail", exc.message))
        return checks
    checks.append(Check("config", "ok", f"loaded ({config_path or 'environment'})"))

    from . import migrations
    from .db import connect, connect_kwargs

    db_now: Any = None
    local_before = local_after = 0.0
    try:
        with connect(cfg, application_name="enginev2d-doctor") as conn:
            local_before = time.time()
            row = conn.execute(QUERIES["db_clock"]).fetchone()
            local_after = time.time()
        assert row is not None
        db_now = row["now"]
        checks.append(Check("database", "ok", f"PostgreSQL {row['server_version']} answers"))
    except Exception as exc:
        checks.append(Check("database", "fail", f"unreachable: {_first_line(exc)}"))

    if db_now is None:
        checks.append(Check("schema", "skip", "database unreachable"))
    else:
        try:
            kw = connect_kwargs(cfg, application_name="enginev2d-doctor")
            rows = migrations.status(cfg.database.url, **kw)
            bad = [
                f"{s.version:04d}_{s.name} {s.state}"
                if s.version is not None
                else f"functions/{s.name} {s.state}"
                for s in rows
                if s.state != "applied"
            ]
            if bad:
                checks.append(
                    Check("schema", "fail", "not current: " + ", ".join(bad) + " (run migrate)")
                )
            else:
                checks.append(Check("schema", "ok", f"current ({len(rows)} migrations)"))
        except Exception as exc:
            checks.append(Check("schema", "fail", _first_line(exc)))

    checks.extend(check_providers(cfg, env))
    checks.append(check_paths(cfg))

    if db_now is None:
        checks.append(Check("clock", "skip", "database unreachable"))
    else:
        local_mid = (local_before + local_after) / 2
        skew = db_now.timestamp() - local_mid
        status = "ok" if abs(skew) <= MAX_CLOCK_SKEW_S else "fail"
        checks.append(
            Check(
                "clock",
                status,
                f"database now() - local clock = {skew:+.3f}s (limit ±{MAX_CLOCK_SKEW_S:g}s)",
            )
        )
    return checks


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"ok": not any(c.failed for c in checks), "checks": [asdict(c) for c in checks]}
