from pathlib import Path

import pytest

from enginev2d.config import Config, load_config
from enginev2d.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_and_equals_defaults():
    cfg = load_config(ROOT / "config.example.toml", env={}, require_database=False)
    assert cfg == Config()


def test_design_environment_overrides_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[database]\nurl = "postgresql://file/db"\n[engine]\nenabled = false\n')
    cfg = load_config(
        path,
        env={
            "DATABASE_URL": "postgresql://env/db",
            "DATABASE_SSL": "false",
            "ENGINE_V2_ENABLED": "true",
            "ENGINE_V2_ALLOWLIST_ONLY": "false",
            "ENGINE_V2_ALLOWLIST": "a@b.c, 123",
            "ENGINEV2_DAEMON_LEASE_S": "12.5",
        },
    )
    assert cfg.database.url == "postgresql://env/db"
    assert cfg.database.ssl is False
    assert cfg.engine.enabled is True
    assert cfg.engine.allowlist_only is False
    assert cfg.engine.allowlist == ("a@b.c", "123")
    assert cfg.daemon.lease_s == 12.5


@pytest.mark.parametrize("value", ["TRUE", "1", "yes", "on"])
def test_enabled_only_for_the_exact_string_true(value):
    # design 4: process.env.ENGINE_V2_ENABLED === 'true'
    cfg = load_config(env={"DATABASE_URL": "x", "ENGINE_V2_ENABLED": value})
    assert cfg.engine.enabled is (value.lower() == "true")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[daemon]\nworkers = 3\n", "unknown key daemon.workers"),
        ("[bogus]\nx = 1\n", "unknown key bogus"),
        ('[daemon]\nlease_s = "long"\n', "daemon.lease_s must be float"),
        ("[daemon]\nworkers_per_job = 0\n", "daemon.workers_per_job must be > 0"),
        ('[providers]\ndefault = "openai"\n', "providers.default must be one of"),
        ('[providers.route]\nrender = "offline"\n', "unknown key providers.route.render"),
        ("[engine]\nenabled = 1\n", "engine.enabled must be bool"),
    ],
)
def test_bad_config_names_the_key(tmp_path, toml, message):
    path = tmp_path / "c.toml"
    path.write_text(
        '[database]\nurl = "postgresql://x/y"\n' + toml if "[database]" not in toml else toml
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_database_url_is_one_clear_line():
    with pytest.raises(ConfigError, match=r"database\.url is required"):
        load_config(env={})


def test_pricing_table_merges_over_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[pricing."my-model"]\ninput_per_mtok = 2.0\n')
    cfg = load_config(path, env={}, require_database=False)
    assert cfg.pricing["my-model"].input_per_mtok == 2.0
    assert cfg.pricing["claude-haiku-4-5"].output_per_mtok == 5.0


@pytest.mark.parametrize("provider", ["anthropic", "modal"])
def test_asset_cannot_route_to_a_text_only_provider(provider):
    with pytest.raises(ConfigError, match=r"providers\.route\.asset must be google or offline"):
        load_config(
            env={}, overrides={"providers": {"route": {"asset": provider}}}, require_database=False
        )


def test_asset_follows_the_default_provider():
    with pytest.raises(ConfigError, match=r"providers\.route\.asset"):
        load_config(
            env={}, overrides={"providers": {"default": "anthropic"}}, require_database=False
        )
    cfg = load_config(
        env={},
        overrides={"providers": {"default": "anthropic", "route": {"asset": "google"}}},
        require_database=False,
    )
    assert cfg.providers.for_task("asset") == "google"
