"""Configuration in one typed place.

A TOML file (``--config PATH`` or ``ENGINEV2_CONFIG``) is read into frozen dataclasses;
the design's environment variables override it (``DATABASE_URL``, ``DATABASE_SSL``,
``ENGINE_V2_ENABLED``, ``ENGINE_V2_ALLOWLIST_ONLY``, ``ENGINE_V2_ALLOWLIST``), plus
``ENGINEV2_<SECTION>_<KEY>`` for any other key. Unknown keys, wrong types and a missing
database URL fail at start with one line naming the key (:class:`ConfigError`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .affinity import configured_cpus
from .errors import ConfigError
from .providers.registry import IMAGE_PROVIDERS, IMAGE_TASK, PROVIDER_NAMES, PROVIDERS
from .task_types import MODEL_FREE_TASKS, TASK_KEYS

DEFAULT_COMPLETE_JOB_SQL = (
    "UPDATE public.jobs SET status = 'completed', updated_at = now() WHERE id = %(job_id)s"
)


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""
    ssl: bool = True  # DATABASE_SSL=false disables (design 12)
    pool_max: int = 0  # the daemon's pool, a hard maximum; 0 = automatic (Config.pool_max)
    statement_timeout_ms: int = 30000
    idle_in_transaction_timeout_ms: int = 60000
    connect_timeout_s: float = 5.0


@dataclass(frozen=True)
class EngineConfig:
    enabled: bool = False  # ENGINE_V2_ENABLED === 'true' (design 4): off unless said
    allowlist_only: bool = True
    allowlist: tuple[str, ...] = ()
    # A playable preview right after plan (partialResult stage "preview", ~25 KB a job):
    # off for hosts whose UI does not show it.
    preview: bool = True


@dataclass(frozen=True)
class DaemonConfig:
    max_concurrent_jobs: int = 8
    workers_per_job: int = 3
    poll_interval_s: float = 2.0
    lease_s: float = 30.0
    heartbeat_s: float = 0.0  # 0 = lease_s / 3
    max_takeovers: int = 3  # per task: a lost attempt is re-run this often, not charged
    job_timeout_s: float = 600.0
    shutdown_grace_s: float = 20.0
    worker_idle_timeout_s: float = 1.0  # safety net on the in-process condition
    daemon_id: str = ""  # "" = hostname:pid:random
    # Group completion (issue 17): the hand-offs of all the daemon's jobs are committed
    # together by one completer, at most batch_max in one transaction.
    group_completion: bool = True
    batch_max: int = 64
    completer_slots: int = 2  # batches being written at once, a connection each
    # CPUs the daemon's threads run on ("1", "0,2", "4-7"); "" = wherever the OS puts
    # them. See enginev2d/affinity.py: 10-23 % less daemon CPU at high task rates.
    cpu_affinity: str = ""

    @property
    def start_more(self) -> int:
        """What a job's first claim takes beyond its own task: one for each other worker
        (the runner's own start and takeover, the intake's start in the claim)."""
        return max(1, self.workers_per_job) - 1


@dataclass(frozen=True)
class PathsConfig:
    projects_root: str = "/data/users"
    staging_root: str = "/data/enginev2d/staging"  # beside projects_root: one filesystem


@dataclass(frozen=True)
class LimitsConfig:
    max_files: int = 200
    max_file_bytes: int = 5 * 1024 * 1024
    max_total_bytes: int = 20 * 1024 * 1024
    partial_inline_bytes: int = 64 * 1024  # design 13


# Default models checked on 2026-11-30 against the providers' model and deprecation pages
# (see config.example.toml): generally available, no shutdown announced.
@dataclass(frozen=True)
class AnthropicConfig:
    model: str = "claude-haiku-5-5"  # intent, plan, qa_review
    codegen_model: str = "claude-sonnet-5-5"  # codegen and fix
    base_url: str = ""
    timeout_s: float = 60.0  # one non-streamed call (intent, plan, qa_review)
    max_retries: int = 2
    max_tokens: int = 8192
    codegen_max_tokens: int = 32768  # codegen and fix (streamed; thinking counts too)
    stream_idle_s: float = 30.0  # longest silence between two streamed chunks
    stream_max_s: float = 300.0  # ceiling for one streamed answer


@dataclass(frozen=True)
class GoogleConfig:
    model: str = "gemini-3.8-flash"
    image_model: str = "gemini-nano-banana-2.1"  # Gemini API key; imagen-* needs Vertex AI
    vertexai: bool = False
    image_vertexai: bool = False  # images through Vertex AI (application default credentials)
    project: str = ""
    location: str = "us-central1"
    base_url: str = ""
    timeout_s: float = 120.0
    max_retries: int = 2
    stream_idle_s: float = 30.0
    stream_max_s: float = 300.0
    image_concurrency: int = 4  # images generated at once by this daemon


@dataclass(frozen=True)
class ModalConfig:
    detect_intent_url: str = ""  # v2_detect_intent
    generate_code_url: str = ""  # v2_generate_code
    chat_haiku_url: str = ""  # v2_chat_haiku
    timeout_s: float = 120.0
    max_retries: int = 2


@dataclass(frozen=True)
class Step:
    """One ``provider:model`` of a task's route (model None: the provider's default)."""

    provider: str
    model: str | None = None
    optional: bool = False  # skipped when not configured (v1's implicit Claude fallback)

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}" if self.model else self.provider


# A bare provider name routed to codegen keeps v1's "Gemini, then Claude" fallback.
LEGACY_CODEGEN_FALLBACK = Step("anthropic", optional=True)


def parse_route(value: Any, key: str) -> tuple[Step, ...]:
    """``"google"``, ``"google:gemini-3.8-flash"`` or a list of those, as Steps."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(
            f'config: {key} must be a provider name or a list of "provider:model" strings, '
            f"got {value!r}"
        )
    steps = []
    for i, item in enumerate(items):
        where = key if isinstance(value, str) else f"{key}[{i}]"
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f'config: {where} must be a "provider:model" string, got {item!r}')
        provider, _, model = (part.strip() for part in item.partition(":"))
        if provider not in PROVIDER_NAMES:
            raise ConfigError(
                f"config: {where} names an unknown provider {provider!r} "
                f"(one of {', '.join(PROVIDER_NAMES)})"
            )
        if model and not PROVIDERS[provider].takes_model:
            raise ConfigError(f"config: {where}: the {provider} provider takes no model name")
        if ":" in item and not model:
            raise ConfigError(f'config: {where}: empty model name in "{item}"')
        steps.append(Step(provider, model or None))
    return tuple(steps)


@dataclass(frozen=True)
class ProvidersConfig:
    default: str = "offline"
    # task_key -> provider, "provider:model" or a fallback chain (list of those)
    route: Mapping[str, Any] = field(default_factory=dict)
    anthropic: AnthropicConfig = field(default_factory=AnthropicConfig)
    google: GoogleConfig = field(default_factory=GoogleConfig)
    modal: ModalConfig = field(default_factory=ModalConfig)

    def chain(self, task_key: str) -> tuple[Step, ...]:
        """The ordered steps a task tries inside one attempt."""
        raw = self.route.get(task_key, self.default)
        key = f"providers.route.{task_key}" if task_key in self.route else "providers.default"
        steps = parse_route(raw, key)
        legacy = isinstance(raw, str) and ":" not in raw
        if task_key == "codegen" and legacy and raw not in ("offline", "anthropic"):
            steps += (LEGACY_CODEGEN_FALLBACK,)
        return steps

    def for_task(self, task_key: str) -> str:
        """The first provider a task calls."""
        return self.chain(task_key)[0].provider


@dataclass(frozen=True)
class ModelPrice:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0  # thinking tokens are billed as output
    per_image: float = 0.0


def _default_pricing() -> dict[str, ModelPrice]:
    # USD list prices. The current defaults were read on 2026-11-30 (config.example.toml
    # names the pages); the older names stay so past usage keeps its price.
    return {
        "claude-haiku-5-5": ModelPrice(0.10, 0.50),  # prompts up to 100k tokens
        "claude-sonnet-5-5": ModelPrice(2.0, 10.0),
        "gemini-3.8-flash": ModelPrice(0.75, 3.75),
        "gemini-nano-banana-2.1": ModelPrice(1.50, 7.50, per_image=0.0336),
        "claude-haiku-4-5": ModelPrice(1.0, 5.0),
        "claude-sonnet-4-6": ModelPrice(3.0, 15.0),
        "gemini-2.0-flash": ModelPrice(0.10, 0.40),
        "imagen-3.0-generate-002": ModelPrice(per_image=0.04),
        "gemini-2.0-flash-preview-image-generation": ModelPrice(per_image=0.04),
        "offline": ModelPrice(),
    }


@dataclass(frozen=True)
class PublishConfig:
    complete_job_sql: str = DEFAULT_COMPLETE_JOB_SQL
    lock_wait_s: float = 0.0  # 0 = fail at once with v2_concurrent_apply (design 10.3)
    git_author_name: str = "enginev2d"
    git_author_email: str = "enginev2d@localhost"
    fallback_webhook_url: str = ""
    fallback_webhook_timeout_s: float = 5.0
    fallback_webhook_retries: int = 3


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9464
    slo_window_s: float = 86400.0
    refresh_s: float = 15.0
    query_timeout_ms: int = 5000
    v1_baseline_query: str = ""


DEFAULT_V1_JOBS_QUERY = (
    "SELECT id AS job_id, status = 'completed' AS succeeded,"
    " extract(epoch FROM updated_at - created_at)::float8 AS latency_s"
    " FROM public.jobs WHERE id = ANY(%(job_ids)s::uuid[])"
)


@dataclass(frozen=True)
class ShadowConfig:
    """``enginev2d shadow-report`` (design 17, M3): v1 per job, the verdict's threshold."""

    # Read-only (a READ ONLY transaction, like metrics.v1_baseline_query), one row per
    # v1 job among %(job_ids)s: job_id, succeeded, latency_s; optionally cost_usd,
    # files, bytes. Aggregates v1 has no per-job column for (retry_rate) come from
    # metrics.v1_baseline_query.
    v1_jobs_query: str = DEFAULT_V1_JOBS_QUERY
    min_jobs: int = 50  # paired jobs needed before the verdict can say GO
    browser_check: bool = True  # load every shadow game in headless Chromium (if present)
    browser_timeout_s: float = 10.0


@dataclass(frozen=True)
class RetentionConfig:
    """``enginev2d prune`` (issue 16): the defaults of its options."""

    older_than_days: float = 30.0  # finished runs older than this lose their detail rows
    batch: int = 200  # runs per batch: one short transaction each
    pause_ms: int = 0  # sleep between batches (0 = none) to spread the load


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    format: str = "json"  # json | text


@dataclass(frozen=True)
class TestingConfig:
    allow_inject: bool = False
    # Rehearsal of the worst crash: the daemon SIGKILLs itself right after publish_prep's
    # swap, before its commit (only with allow_inject). Never in production.
    crash_after_swap: bool = False
    # Rehearsal of a crash mid-batch: the daemon SIGKILLs itself once its group completer
    # has written a batch of at least this many hand-offs, before the commit (0 = never).
    crash_in_batch: int = 0


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    providers: ProvidersConfig = field(default_factory=ProvidersConfig)
    pricing: Mapping[str, ModelPrice] = field(default_factory=_default_pricing)
    publish: PublishConfig = field(default_factory=PublishConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    shadow: ShadowConfig = field(default_factory=ShadowConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    testing: TestingConfig = field(default_factory=TestingConfig)

    def replace(self, **sections: Any) -> Config:
        """A copy with some sections replaced (``cfg.replace(daemon={...})`` merges keys,
        nested tables too: ``providers={"anthropic": {"base_url": ...}}``)."""
        return _merged(self, sections)

    @property
    def pool_max(self) -> int:
        """The daemon's connection pool size: ``database.pool_max`` when set, else one
        connection per worker of every job plus four (heartbeat, claim, slack)."""
        auto = self.daemon.max_concurrent_jobs * self.daemon.workers_per_job + 4
        return self.database.pool_max or auto

    @property
    def pool_min_needed(self) -> int:
        """The smallest ``database.pool_max`` that runs ``max_concurrent_jobs`` jobs: each
        holds its own connection and may borrow one more (publish, a timeout), and the
        daemon's heartbeat and claim loop need one each (the job watch borrows one per
        tick). With group completion a job holds no connection of its own (it borrows one
        per rare call), and the completer's commit slots hold one each instead."""
        return 2 * self.daemon.max_concurrent_jobs + 2

    @property
    def completer_slots(self) -> int:
        """Commit slots of the group completer (none when off; never more than jobs at
        once)."""
        if not self.daemon.group_completion:
            return 0
        return min(self.daemon.completer_slots, self.daemon.max_concurrent_jobs)

    @property
    def heartbeat_s(self) -> float:
        return self.daemon.heartbeat_s or self.daemon.lease_s / 3


def _merged(current: Any, changes: Mapping[str, Any]) -> Any:
    """``current`` (a frozen dataclass) with ``changes`` merged in, recursively."""
    values = {}
    for name, value in changes.items():
        inner = getattr(current, name)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(inner):
            value = _merged(inner, value)
        values[name] = value
    return dataclasses.replace(current, **values)


# --------------------------------------------------------------------------- loading

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(key: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(f"config: {key} must be a boolean, got {raw!r}")


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Check ``value`` against annotation ``tp``; env strings are converted."""
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, str):
            return _parse_bool(key, value)
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif origin in (Mapping, dict) or tp is Mapping:
        args = typing.get_args(tp)
        if isinstance(value, Mapping):
            val_tp = args[1] if len(args) == 2 else Any
            return {str(k): _coerce(f"{key}.{k}", val_tp, v) for k, v in value.items()}
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, Mapping):
            return _build(tp, value, key)
        if isinstance(value, tp):
            return value
    elif tp is Any:
        return value
    tname = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"config: {key} must be {tname}, got {type(value).__name__} {value!r}")


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in data:
        if k not in names:
            where = f"{prefix}.{k}" if prefix else k
            raise ConfigError(f"config: unknown key {where}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            key = f"{prefix}.{f.name}" if prefix else f.name
            tp = hints[f.name]
            if isinstance(tp, types.UnionType):  # pragma: no cover - not used today
                tp = typing.get_args(tp)[0]
            kwargs[f.name] = _coerce(key, tp, data[f.name])
    obj = cls(**kwargs)
    if cls is Config and "pricing" in data:
        merged = {**_default_pricing(), **obj.pricing}
        obj = dataclasses.replace(obj, pricing=merged)
    return obj


# Environment variables named by the design, and where they land.
DESIGN_ENV = {
    "DATABASE_URL": ("database", "url"),
    "DATABASE_SSL": ("database", "ssl"),
    "ENGINE_V2_ENABLED": ("engine", "enabled"),
    "ENGINE_V2_ALLOWLIST_ONLY": ("engine", "allowlist_only"),
    "ENGINE_V2_ALLOWLIST": ("engine", "allowlist"),
}


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for var, (section, key) in DESIGN_ENV.items():
        if var in env:
            raw = env[var]
            if var == "ENGINE_V2_ENABLED":
                raw = "true" if raw.strip().lower() == "true" else "false"  # design: === 'true'
            elif var == "ENGINE_V2_ALLOWLIST_ONLY":
                raw = "false" if raw.strip().lower() == "false" else "true"  # !== 'false'
            out.setdefault(section, {})[key] = raw
    sections = {f.name: f for f in dataclasses.fields(Config)}
    for var, raw in env.items():
        if not var.startswith("ENGINEV2_") or var == "ENGINEV2_CONFIG":
            continue
        rest = var[len("ENGINEV2_") :].lower()
        for name in sections:
            if rest.startswith(name + "_"):
                out.setdefault(name, {})[rest[len(name) + 1 :]] = raw
                break
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), Mapping):
            merged[k] = _merge(dict(merged[k]), v)
        else:
            merged[k] = v
    return merged


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    require_database: bool = True,
    check_credentials: bool = False,
) -> Config:
    """Read the TOML file (if any), apply the environment, validate, return a Config.

    ``check_credentials`` also requires, in ``env``, the key of every provider a task is
    routed to (``enginev2d run`` checks it with :func:`validate_routes` before starting;
    admin commands such as cancel or rollback-check must work without the keys).
    """
    env = os.environ if env is None else env
    path = path or env.get("ENGINEV2_CONFIG") or None
    data: dict[str, Any] = {}
    if path:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config: file not found: {p}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config: {p} is not valid TOML: {exc}") from None
    data = _merge(data, _env_overrides(env))
    if overrides:
        data = _merge(data, overrides)
    cfg: Config = _build(Config, data, "")
    validate(cfg, require_database=require_database, env=env if check_credentials else None)
    return cfg


def validate(
    cfg: Config, *, require_database: bool = True, env: Mapping[str, str] | None = None
) -> None:
    """Raise ConfigError (one line) for the first thing that cannot work.

    With ``env``, the credentials every routed provider needs must be in it."""
    if require_database and not cfg.database.url:
        raise ConfigError("config: database.url is required (or set DATABASE_URL)")
    validate_routes(cfg, env)
    positive = {
        "daemon.max_concurrent_jobs": cfg.daemon.max_concurrent_jobs,
        "daemon.workers_per_job": cfg.daemon.workers_per_job,
        "daemon.poll_interval_s": cfg.daemon.poll_interval_s,
        "daemon.lease_s": cfg.daemon.lease_s,
        "daemon.max_takeovers": cfg.daemon.max_takeovers,
        "daemon.batch_max": cfg.daemon.batch_max,
        "daemon.completer_slots": cfg.daemon.completer_slots,
        "daemon.job_timeout_s": cfg.daemon.job_timeout_s,
        "limits.max_files": cfg.limits.max_files,
        "limits.max_file_bytes": cfg.limits.max_file_bytes,
        "limits.max_total_bytes": cfg.limits.max_total_bytes,
        "retention.older_than_days": cfg.retention.older_than_days,
        "retention.batch": cfg.retention.batch,
        "shadow.min_jobs": cfg.shadow.min_jobs,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"config: {key} must be > 0, got {value}")
    provider_limits = {
        "providers.google.image_concurrency": cfg.providers.google.image_concurrency,
        "providers.google.stream_idle_s": cfg.providers.google.stream_idle_s,
        "providers.google.stream_max_s": cfg.providers.google.stream_max_s,
        "providers.anthropic.stream_idle_s": cfg.providers.anthropic.stream_idle_s,
        "providers.anthropic.stream_max_s": cfg.providers.anthropic.stream_max_s,
    }
    for key, value in provider_limits.items():
        if value <= 0:
            raise ConfigError(f"config: {key} must be > 0, got {value}")
    _validate_pool(cfg)
    if cfg.daemon.cpu_affinity.strip():
        configured_cpus(cfg.daemon.cpu_affinity)  # the syntax here, the CPUs at start
    if cfg.logging.format not in ("json", "text"):
        raise ConfigError(
            f"config: logging.format must be json or text, got {cfg.logging.format!r}"
        )


def validate_routes(cfg: Config, env: Mapping[str, str] | None = None) -> None:
    """Every task's chain parses, every step can do the task, and (with ``env``) has
    its credentials. Optional steps (v1's implicit Claude fallback) are skipped."""
    p = cfg.providers
    if p.default not in PROVIDER_NAMES:
        raise ConfigError(
            f"config: providers.default must be one of {', '.join(PROVIDER_NAMES)}, "
            f"got {p.default!r}"
        )
    for task_key in p.route:
        if task_key not in TASK_KEYS:
            raise ConfigError(f"config: unknown key providers.route.{task_key}")
    for task_key in TASK_KEYS:
        if task_key in MODEL_FREE_TASKS:
            continue
        key = f"providers.route.{task_key}" if task_key in p.route else "providers.default"
        for step in p.chain(task_key):
            spec = PROVIDERS[step.provider]
            if task_key == IMAGE_TASK and not spec.images:
                raise ConfigError(
                    f"config: {key} routes images (asset) to {step.provider}, which cannot "
                    f"draw them (use {' or '.join(IMAGE_PROVIDERS)})"
                )
            if step.optional:
                continue
            problem = spec.config_problem(cfg, task_key, step.model)
            if problem is None and env is not None:
                problem = spec.credentials(cfg, task_key, env)
            if problem:
                raise ConfigError(f"config: {key} uses {step}: {problem}")


def _validate_pool(cfg: Config) -> None:
    """``database.pool_max`` is honoured as a hard maximum, so it must fit the daemon's
    concurrency (design 12's 5 fits ``daemon.max_concurrent_jobs = 1``)."""
    pool_max, jobs = cfg.database.pool_max, cfg.daemon.max_concurrent_jobs
    if pool_max < 0:
        raise ConfigError(f"config: database.pool_max must be >= 0 (0 = automatic), got {pool_max}")
    if pool_max and pool_max < cfg.pool_min_needed:
        raise ConfigError(
            f"config: database.pool_max = {pool_max} is too small for daemon.max_concurrent_jobs"
            f" = {jobs} (needs >= {cfg.pool_min_needed}: 2 per job + 2); raise it,"
            " lower max_concurrent_jobs, or set 0 (automatic)"
        )
