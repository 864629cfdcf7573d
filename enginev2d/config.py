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

from .errors import ConfigError

TASK_KEYS = ("intent", "plan", "codegen", "asset", "qa_review", "fix", "publish_prep")
PROVIDER_NAMES = ("offline", "anthropic", "google", "modal")

DEFAULT_COMPLETE_JOB_SQL = (
    "UPDATE public.jobs SET status = 'completed', updated_at = now() WHERE id = %(job_id)s"
)


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""
    ssl: bool = True  # DATABASE_SSL=false disables (design 12)
    pool_max: int = 5
    statement_timeout_ms: int = 30000
    idle_in_transaction_timeout_ms: int = 60000
    connect_timeout_s: float = 5.0


@dataclass(frozen=True)
class EngineConfig:
    enabled: bool = False  # ENGINE_V2_ENABLED === 'true' (design 4): off unless said
    allowlist_only: bool = True
    allowlist: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class AnthropicConfig:
    model: str = "claude-haiku-4-5"
    codegen_model: str = "claude-sonnet-4-6"  # codegen fallback when Gemini fails
    base_url: str = ""
    timeout_s: float = 60.0
    max_retries: int = 2
    max_tokens: int = 8192


@dataclass(frozen=True)
class GoogleConfig:
    model: str = "gemini-2.0-flash"
    image_model: str = "imagen-3.0-generate-002"
    vertexai: bool = False
    image_vertexai: bool = True  # Vertex AI image generation (design 7.3)
    project: str = ""
    location: str = "us-central1"
    base_url: str = ""
    timeout_s: float = 120.0
    max_retries: int = 2


@dataclass(frozen=True)
class ModalConfig:
    detect_intent_url: str = ""  # v2_detect_intent
    generate_code_url: str = ""  # v2_generate_code
    chat_haiku_url: str = ""  # v2_chat_haiku
    timeout_s: float = 120.0
    max_retries: int = 2


@dataclass(frozen=True)
class ProvidersConfig:
    default: str = "offline"
    route: Mapping[str, str] = field(default_factory=dict)  # task_key -> provider
    anthropic: AnthropicConfig = field(default_factory=AnthropicConfig)
    google: GoogleConfig = field(default_factory=GoogleConfig)
    modal: ModalConfig = field(default_factory=ModalConfig)

    def for_task(self, task_key: str) -> str:
        return self.route.get(task_key, self.default)


@dataclass(frozen=True)
class ModelPrice:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    per_image: float = 0.0


def _default_pricing() -> dict[str, ModelPrice]:
    # Section 19's estimates expressed as list prices (USD).
    return {
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
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    testing: TestingConfig = field(default_factory=TestingConfig)

    def replace(self, **sections: Any) -> Config:
        """A copy with some sections replaced (``cfg.replace(daemon={...})`` merges keys)."""
        changes = {}
        for name, value in sections.items():
            current = getattr(self, name)
            if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
                value = dataclasses.replace(current, **value)
            changes[name] = value
        return dataclasses.replace(self, **changes)

    @property
    def heartbeat_s(self) -> float:
        return self.daemon.heartbeat_s or self.daemon.lease_s / 3


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
) -> Config:
    """Read the TOML file (if any), apply the environment, validate, return a Config."""
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
    validate(cfg, require_database=require_database)
    return cfg


def validate(cfg: Config, *, require_database: bool = True) -> None:
    if require_database and not cfg.database.url:
        raise ConfigError("config: database.url is required (or set DATABASE_URL)")
    if cfg.providers.default not in PROVIDER_NAMES:
        raise ConfigError(
            f"config: providers.default must be one of {', '.join(PROVIDER_NAMES)}, "
            f"got {cfg.providers.default!r}"
        )
    for task_key, provider in cfg.providers.route.items():
        if task_key not in TASK_KEYS:
            raise ConfigError(f"config: unknown key providers.route.{task_key}")
        if provider not in PROVIDER_NAMES:
            raise ConfigError(
                f"config: providers.route.{task_key} must be one of "
                f"{', '.join(PROVIDER_NAMES)}, got {provider!r}"
            )
    # Only the google provider makes images (Imagen / Gemini image models on Vertex AI);
    # the offline provider draws them itself.
    asset = cfg.providers.for_task("asset")
    if asset not in ("google", "offline"):
        raise ConfigError(
            f"config: providers.route.asset must be google or offline (images), got {asset!r}"
        )
    positive = {
        "database.pool_max": cfg.database.pool_max,
        "daemon.max_concurrent_jobs": cfg.daemon.max_concurrent_jobs,
        "daemon.workers_per_job": cfg.daemon.workers_per_job,
        "daemon.poll_interval_s": cfg.daemon.poll_interval_s,
        "daemon.lease_s": cfg.daemon.lease_s,
        "daemon.max_takeovers": cfg.daemon.max_takeovers,
        "daemon.job_timeout_s": cfg.daemon.job_timeout_s,
        "limits.max_files": cfg.limits.max_files,
        "limits.max_file_bytes": cfg.limits.max_file_bytes,
        "limits.max_total_bytes": cfg.limits.max_total_bytes,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"config: {key} must be > 0, got {value}")
    if cfg.logging.format not in ("json", "text"):
        raise ConfigError(
            f"config: logging.format must be json or text, got {cfg.logging.format!r}"
        )
