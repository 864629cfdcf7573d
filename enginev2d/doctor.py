"""``enginev2d doctor``: is this machine ready to run the daemon?

Checks, in order (later ones are skipped when an earlier one they need failed):

* ``config``     the configuration loads and validates
* ``database``   the database answers (server version)
* ``schema``     every migration is applied and unmodified (``migrations.is_current``)
* ``providers``  each provider of every task's route is configured; secrets are checked
                 by environment variable *name* only, values are never read out
* ``models``     (``--online`` only) each provider in use is asked for its model list
                 (Anthropic ``GET /v1/models``, Gemini ``models.list``); every configured
                 model it does not offer fails the check, a deprecated one warns
* ``paths``      projects_root and staging_root exist, are writable and sit on one
                 filesystem (equal ``st_dev``: the publish swap is a rename)
* ``clock``      this machine's clock agrees with the database's ``now()``
* ``cpus``       the CPUs ``daemon.cpu_affinity`` names are this process's, and it may set
                 them (run it as the daemon runs: a systemd unit's seccomp filter applies
                 to the unit's processes only)
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import affinity
from .config import MODEL_FREE_TASKS, TASK_KEYS, Config, Step, load_config
from .errors import EngineError
from .providers.registry import PROVIDERS
from .sql import load_queries

QUERIES = load_queries("admin")
MAX_CLOCK_SKEW_S = 5.0


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


def routed_steps(cfg: Config) -> dict[str, list[tuple[str, Step]]]:
    """provider -> [(task, step)] over every task's route."""
    used: dict[str, list[tuple[str, Step]]] = {}
    for task in TASK_KEYS:
        if task in MODEL_FREE_TASKS:
            continue
        for step in cfg.providers.chain(task):
            used.setdefault(step.provider, []).append((task, step))
    return used


def check_providers(cfg: Config, env: Mapping[str, str]) -> list[Check]:
    """One check per provider in use; names the missing variables, never their values."""
    checks: list[Check] = []
    for provider, uses in sorted(routed_steps(cfg).items()):
        name = f"providers.{provider}"
        spec = PROVIDERS[provider]
        scope = ", ".join(dict.fromkeys(task for task, _ in uses))
        if provider == "offline":
            checks.append(Check(name, "ok", f"built-in offline provider ({scope})"))
            continue
        problems: list[str] = []
        notes: list[str] = []
        for task, step in uses:
            problem = spec.config_problem(cfg, task, step.model) or spec.credentials(cfg, task, env)
            if problem is None:
                continue
            if step.optional:
                notes.append(f"{problem}: no {provider} fallback for {task}")
            elif problem not in problems:
                problems.append(problem)
        if provider == "modal":
            has_pair = env.get("MODAL_TOKEN_ID") and env.get("MODAL_TOKEN_SECRET")
            if not (has_pair or env.get("MODAL_AUTH_TOKEN")):
                notes.append("no MODAL_TOKEN_ID/MODAL_TOKEN_SECRET or MODAL_AUTH_TOKEN set")
        if problems:
            checks.append(Check(name, "fail", f"{'; '.join(problems)} ({scope})"))
        elif notes:
            checks.append(Check(name, "warn", f"{'; '.join(dict.fromkeys(notes))} ({scope})"))
        else:
            checks.append(Check(name, "ok", f"configured ({scope})"))
    return checks


def check_models(cfg: Config, env: Mapping[str, str], failed: set[str]) -> list[Check]:
    """``--online``: every configured model must be in its provider's model list."""
    from .providers.route import step_model

    checks: list[Check] = []
    for provider, uses in sorted(routed_steps(cfg).items()):
        if provider in failed or provider == "offline":
            continue
        wanted = {}
        for task, step in uses:
            model = step_model(cfg, task, step)
            if model and not step.optional:
                wanted.setdefault(model, []).append(task)
        inst = PROVIDERS[provider].build(getattr(cfg.providers, provider), env=env)
        if not wanted or not hasattr(inst, "list_models"):
            continue
        checks.append(_compare_models(f"models.{provider}", inst, wanted))
    return checks


def _compare_models(name: str, inst: Any, wanted: dict[str, list[str]]) -> Check:
    try:
        offered = {m["id"]: m for m in inst.list_models()}
    except EngineError as exc:
        return Check(name, "fail", f"could not list models: {exc.message}")
    missing = [f"{m} ({', '.join(tasks)})" for m, tasks in wanted.items() if m not in offered]
    if missing:
        return Check(name, "fail", "not offered: " + "; ".join(missing))
    old = [
        f"{m} is {offered[m]['lifecycle']}"
        + (f", retires {offered[m]['retires_at']}" if offered[m].get("retires_at") else "")
        for m in wanted
        if offered[m].get("lifecycle", "active") != "active"
    ]
    if old:
        return Check(name, "warn", "; ".join(old))
    return Check(name, "ok", f"{len(wanted)} configured model(s) offered: {', '.join(wanted)}")


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


def check_cpus(cfg: Config) -> Check:
    spec = cfg.daemon.cpu_affinity
    if not spec.strip():
        return Check("cpus", "ok", "daemon.cpu_affinity not set: no pin")
    try:
        cpus = affinity.usable(spec)
    except EngineError as exc:
        return Check("cpus", "fail", exc.message)
    if not affinity.may_set():
        return Check("cpus", "fail", affinity.REFUSED)
    everything = affinity.format_cpu_list(affinity.available())
    return Check(
        "cpus",
        "ok",
        f"the daemon pins itself to CPU {affinity.format_cpu_list(cpus)}; Chromium, git "
        f"and PostgreSQL keep {everything}",
    )


def run_checks(
    config_path: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    load: Callable[[], Config] | None = None,
    online: bool = False,
) -> list[Check]:
    """Every check, never raising: a failure is a ``fail`` row with a one-line reason.

    The configuration is loaded without the credentials check: missing keys are reported
    per provider below instead of stopping everything at ``config``."""
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

    provider_checks = check_providers(cfg, env)
    checks.extend(provider_checks)
    if online:
        failed = {c.name.split(".", 1)[1] for c in provider_checks if c.failed}
        checks.extend(check_models(cfg, env, failed))
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
    checks.append(check_cpus(cfg))
    return checks


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"ok": not any(c.failed for c in checks), "checks": [asdict(c) for c in checks]}
