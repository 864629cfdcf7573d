"""``enginev2d doctor --online``: every configured model is asked for by name in the
providers' model lists (Anthropic GET /v1/models, Gemini models.list), at a fake server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from enginev2d import doctor
from enginev2d.cli import cli
from tests.fakes import FakeServer, anthropic_models, gemini_models
from tests.fakes.ctx import make_config
from tests.fakes.fixtures import srv

__all__ = ["srv"]

ENV = {"ANTHROPIC_API_KEY": "sk-ant-doctor-key", "GEMINI_API_KEY": "AIzaDOCTORkey0000000000000000"}
ROUTE = {
    "intent": "anthropic",
    "codegen": ["google:gemini-3.8-flash", "anthropic:claude-sonnet-5-5"],
    "asset": "google",
}


@pytest.fixture
def gsrv() -> Iterator[FakeServer]:
    """Gemini's own server: both services list models under .../models."""
    with FakeServer() as s:
        yield s


def serve_models(srv: FakeServer, gsrv: FakeServer, *, sonnet: str = "active") -> None:
    srv.default(
        "/v1/models",
        anthropic_models(
            "claude-haiku-5-5", "claude-sonnet-5", "claude-sonnet-5-5",
            lifecycle={"claude-sonnet-5-5": sonnet},
        ),
    )  # fmt: skip
    gsrv.default("/models", gemini_models("gemini-3.8-flash", "gemini-3.5-flash-lite"))


def config(tmp_path: Path, srv: FakeServer, gsrv: FakeServer):
    return make_config(
        tmp_path,
        {
            "providers": {
                "route": ROUTE,
                "anthropic": {"base_url": srv.url},
                "google": {"base_url": gsrv.url},
            }
        },
    )


def test_online_names_every_configured_model_that_does_not_exist(
    tmp_path: Path, srv: FakeServer, gsrv: FakeServer
) -> None:
    serve_models(srv, gsrv)
    checks = {c.name: c for c in doctor.check_models(config(tmp_path, srv, gsrv), ENV, set())}
    assert checks["models.anthropic"].status == "ok"
    google = checks["models.google"]
    assert google.status == "fail"
    assert google.detail == "not offered: gemini-nano-banana-2.1 (asset)"
    assert srv.for_route("/v1/models")[0].method == "GET"
    assert gsrv.for_route("/models")[0].method == "GET"


def test_online_warns_about_a_deprecated_model(
    tmp_path: Path, srv: FakeServer, gsrv: FakeServer
) -> None:
    serve_models(srv, gsrv, sonnet="deprecated")
    checks = {c.name: c for c in doctor.check_models(config(tmp_path, srv, gsrv), ENV, set())}
    assert checks["models.anthropic"].status == "warn"
    assert "claude-sonnet-5-5 is deprecated" in checks["models.anthropic"].detail


def test_online_skips_providers_without_credentials(
    tmp_path: Path, srv: FakeServer, gsrv: FakeServer
) -> None:
    serve_models(srv, gsrv)
    assert doctor.check_models(config(tmp_path, srv, gsrv), ENV, {"anthropic", "google"}) == []
    assert srv.count() == 0 and gsrv.count() == 0


def test_doctor_online_command_exits_non_zero(
    tmp_path: Path, srv: FakeServer, gsrv: FakeServer
) -> None:
    serve_models(srv, gsrv)
    path = tmp_path / "c.toml"
    path.write_text(
        f"""
[database]
url = "postgresql://postgres@127.0.0.1:1/none"
connect_timeout_s = 1.0
[paths]
projects_root = "{tmp_path}"
staging_root = "{tmp_path}"
[providers.route]
intent = "anthropic"
codegen = ["google:gemini-3.8-flash", "anthropic:claude-sonnet-5-5"]
asset = "google"
[providers.anthropic]
base_url = "{srv.url}"
[providers.google]
base_url = "{gsrv.url}"
"""
    )
    result = CliRunner().invoke(
        cli, ["--config", str(path), "doctor", "--online", "--json"], env=ENV
    )
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["models.google"]["status"] == "fail"
    assert "gemini-nano-banana-2.1" in checks["models.google"]["detail"]
    assert checks["models.anthropic"]["status"] == "ok"
    assert ENV["ANTHROPIC_API_KEY"] not in result.output
    # without --online nothing is asked
    srv.requests.clear()
    gsrv.requests.clear()
    offline = CliRunner().invoke(cli, ["--config", str(path), "doctor", "--json"], env=ENV)
    assert "models.google" not in offline.stdout and srv.count() + gsrv.count() == 0
