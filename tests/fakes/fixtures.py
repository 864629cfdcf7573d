"""pytest fixtures around the fake server; import them into a test module::

from tests.fakes.fixtures import fake_env, llm_config, srv, waits  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from enginev2d import providers
from enginev2d.config import Config
from enginev2d.providers.retry import Backoff

from .ctx import make_config
from .server import FakeServer

FAKE_KEYS = {
    "ANTHROPIC_API_KEY": "sk-ant-test-SECRET-abcdef123456",
    "GEMINI_API_KEY": "AIzaTESTSECRETgeminikey0123456789",
    "MODAL_TOKEN_ID": "ak-TESTSECRETmodalid0001",
    "MODAL_TOKEN_SECRET": "as-TESTSECRETmodalsecret0001",
}


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Fake keys in the environment, Vertex credentials injected, provider cache fresh."""
    for k in ("GOOGLE_API_KEY", "MODAL_AUTH_TOKEN", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in FAKE_KEYS.items():
        monkeypatch.setenv(k, v)
    providers.reset_cache()
    providers.set_google_credentials(Credentials(token="fake-oauth-token"))
    yield dict(FAKE_KEYS)
    providers.reset_cache()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Provider backoff waits are recorded instead of slept (no jitter)."""
    seen: list[float] = []

    def fake_sleep(self: Backoff, seconds: float, should_stop: Any = None) -> bool:
        seen.append(seconds)
        return not (should_stop is not None and should_stop())

    monkeypatch.setattr(Backoff, "sleep", fake_sleep)
    monkeypatch.setattr(Backoff, "DELAY_JITTER", 0.0)
    return seen


def llm_overrides(srv: FakeServer, **route: Any) -> dict[str, Any]:
    """Route Claude tasks to anthropic, Gemini tasks to google, both at ``srv``."""
    default_route = {"codegen": "google", "fix": "google", "asset": "google"}
    return {
        "providers": {
            "default": "anthropic",
            "route": {**default_route, **route},
            "anthropic": {"base_url": srv.url, "max_retries": 1},
            "google": {"base_url": srv.url, "project": "proj", "max_retries": 1},
            "modal": {
                "detect_intent_url": srv.url + "/v2_detect_intent",
                "generate_code_url": srv.url + "/v2_generate_code",
                "chat_haiku_url": srv.url + "/v2_chat_haiku",
                "max_retries": 1,
            },
        }
    }


@pytest.fixture
def llm_config(tmp_path: Path, srv: FakeServer, fake_env: dict[str, str]) -> Config:
    return make_config(tmp_path, llm_overrides(srv))
