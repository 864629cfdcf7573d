"""Every provider, declared once: what it can do, what it needs, where its code lives.

This module imports no SDK and no configuration at run time, so ``config.py`` can use it
to validate routes at start-up. Adding a provider is one module (a class built from the
:class:`~enginev2d.config.Config`, with ``generate`` and/or ``generate_image``, and
``list_models`` if the service can list them) plus one :class:`ProviderSpec` line in
:data:`PROVIDERS`. Route validation, the credentials check at start, secret scrubbing,
``doctor`` and the client cache derive from that line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..task_types import CODE_TASKS

if TYPE_CHECKING:
    from ..config import Config

# CODE_TASKS (enginev2d.task_types): answers are code files; they stream and use the
# larger model.
IMAGE_TASK = "asset"
# The Modal v2 web endpoint each task calls (design section 11); the rest use chat_haiku_url.
MODAL_ENDPOINTS = {
    "intent": "detect_intent_url",
    "codegen": "generate_code_url",
    "fix": "generate_code_url",
}
MODAL_DEFAULT_ENDPOINT = "chat_haiku_url"

# (cfg, task_key) -> the model a step without one calls (None: the service decides)
DefaultModel = Callable[["Config", str], "str | None"]
# (cfg, task_key, model or None) -> what makes this step impossible, or None
ConfigProblem = Callable[["Config", str, "str | None"], "str | None"]
# (cfg, task_key, environment) -> the missing credential, or None
CredentialProblem = Callable[["Config", str, Mapping[str, str]], "str | None"]


def _none(*_: Any) -> None:
    return None


def _anthropic_model(cfg: Config, task: str) -> str:
    a = cfg.providers.anthropic
    return a.codegen_model if task in CODE_TASKS else a.model


def _google_model(cfg: Config, task: str) -> str:
    g = cfg.providers.google
    return g.image_model if task == IMAGE_TASK else g.model


def _offline_model(cfg: Config, task: str) -> str:
    return "offline"


def _anthropic_credentials(cfg: Config, task: str, env: Mapping[str, str]) -> str | None:
    return None if env.get("ANTHROPIC_API_KEY") else "ANTHROPIC_API_KEY is not set"


def _google_vertex(cfg: Config, task: str) -> bool:
    g = cfg.providers.google
    return g.image_vertexai if task == IMAGE_TASK else g.vertexai


def _google_config(cfg: Config, task: str, model: str | None) -> str | None:
    g = cfg.providers.google
    if task == IMAGE_TASK:
        name = model or g.image_model
        if name.startswith("imagen") and not g.image_vertexai:
            return (
                f"image model {name!r} is an Imagen model, served only by Vertex AI "
                "(generate_images): set providers.google.image_vertexai = true and "
                "providers.google.project, or use a Gemini image model such as "
                "gemini-nano-banana-2.1 with the Gemini API key"
            )
    if _google_vertex(cfg, task) and not g.project:
        flag = "image_vertexai" if task == IMAGE_TASK else "vertexai"
        return f"providers.google.project is required when providers.google.{flag} = true"
    return None


def _google_credentials(cfg: Config, task: str, env: Mapping[str, str]) -> str | None:
    if _google_vertex(cfg, task):
        return None  # application default credentials are resolved at call time
    if env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY"):
        return None
    return "neither GEMINI_API_KEY nor GOOGLE_API_KEY is set"


def modal_endpoint(task: str | None) -> str:
    return MODAL_ENDPOINTS.get(task or "", MODAL_DEFAULT_ENDPOINT)


def _modal_config(cfg: Config, task: str, model: str | None) -> str | None:
    attr = modal_endpoint(task)
    return None if getattr(cfg.providers.modal, attr) else f"providers.modal.{attr} is empty"


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    target: str  # "module:Class", imported only when the provider is first used
    text: bool = True
    images: bool = False
    takes_model: bool = True  # "provider:model" route steps are meaningful
    default_model: DefaultModel = _none
    secret_env: tuple[str, ...] = ()  # values scrubbed from every message we emit
    config_problem: ConfigProblem = _none
    credentials: CredentialProblem = _none

    def build(self, cfg: Config, **kwargs: Any) -> Any:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)(cfg, **kwargs)


_SPECS = (
    ProviderSpec(
        "offline",
        "enginev2d.providers.offline:OfflineProvider",
        images=True,
        takes_model=False,
        default_model=_offline_model,
    ),
    ProviderSpec(
        "anthropic",
        "enginev2d.providers.anthropic:AnthropicProvider",
        default_model=_anthropic_model,
        secret_env=("ANTHROPIC_API_KEY",),
        credentials=_anthropic_credentials,
    ),
    ProviderSpec(
        "google",
        "enginev2d.providers.google:GoogleProvider",
        images=True,
        default_model=_google_model,
        secret_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        config_problem=_google_config,
        credentials=_google_credentials,
    ),
    ProviderSpec(
        "modal",
        "enginev2d.providers.modal:ModalProvider",
        secret_env=("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_AUTH_TOKEN"),
        config_problem=_modal_config,
    ),
)
PROVIDERS: dict[str, ProviderSpec] = {s.name: s for s in _SPECS}
PROVIDER_NAMES = tuple(PROVIDERS)
IMAGE_PROVIDERS = tuple(n for n, s in PROVIDERS.items() if s.images)
SECRET_ENV = tuple(dict.fromkeys(v for s in _SPECS for v in s.secret_env))
