from pathlib import Path

import pytest
from click.testing import CliRunner

from enginev2d.cli import cli
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
        ('[providers.route]\nfix = ["google", "gpt"]\n', "fix[1] names an unknown provider"),
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
    with pytest.raises(ConfigError, match=rf"providers\.route\.asset routes images .* {provider}"):
        load_config(
            env={}, overrides={"providers": {"route": {"asset": provider}}}, require_database=False
        )


def test_asset_follows_the_default_provider():
    with pytest.raises(ConfigError, match=r"providers\.default routes images \(asset\)"):
        load_config(
            env={}, overrides={"providers": {"default": "anthropic"}}, require_database=False
        )
    cfg = load_config(
        env={},
        overrides={"providers": {"default": "anthropic", "route": {"asset": "google"}}},
        require_database=False,
    )
    assert cfg.providers.for_task("asset") == "google"


def routed(route, env=None, **extra):
    providers = {"route": route, **extra}
    if env is None:
        return load_config(env={}, overrides={"providers": providers}, require_database=False)
    return load_config(
        env={"DATABASE_URL": "postgresql://x/y", **env},
        overrides={"providers": providers},
        check_credentials=True,
    )


def test_routes_are_fallback_chains_of_provider_model_steps():
    cfg = routed(
        {
            "codegen": ["google:gemini-3.8-flash", "anthropic:claude-sonnet-5-5"],
            "intent": "anthropic:claude-haiku-5-5",
            "plan": "anthropic",
            "asset": ["google", "offline"],
        }
    )
    assert [str(s) for s in cfg.providers.chain("codegen")] == [
        "google:gemini-3.8-flash",
        "anthropic:claude-sonnet-5-5",
    ]
    assert [str(s) for s in cfg.providers.chain("intent")] == ["anthropic:claude-haiku-5-5"]
    assert [str(s) for s in cfg.providers.chain("plan")] == ["anthropic"]
    assert [s.provider for s in cfg.providers.chain("asset")] == ["google", "offline"]
    assert [str(s) for s in cfg.providers.chain("fix")] == ["offline"]  # the default


def test_old_shape_bare_provider_for_codegen_keeps_the_claude_fallback():
    chain = routed({"codegen": "google"}).providers.chain("codegen")
    assert [(s.provider, s.model, s.optional) for s in chain] == [
        ("google", None, False),
        ("anthropic", None, True),
    ]
    assert len(routed({"codegen": "anthropic"}).providers.chain("codegen")) == 1
    assert len(routed({"fix": "google"}).providers.chain("fix")) == 1


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"codegen": ["google", "openai:gpt"]}, r"codegen\[1\] names an unknown provider 'openai'"),
        ({"codegen": []}, r"codegen must be a provider name or a list"),
        ({"codegen": ["google", 3]}, r"codegen\[1\] must be a \"provider:model\" string"),
        ({"plan": "offline:big"}, r"plan: the offline provider takes no model name"),
        ({"plan": "anthropic:"}, r"plan: empty model name"),
        ({"plan": {"provider": "anthropic"}}, r"plan must be a provider name or a list"),
        ({"render": "offline"}, r"unknown key providers\.route\.render"),
    ],
)
def test_bad_routes_are_one_line_errors(route, message):
    with pytest.raises(ConfigError, match=message) as info:
        routed(route)
    assert "\n" not in str(info.value)


def test_imagen_without_vertex_is_a_config_error_not_a_runtime_one():
    with pytest.raises(ConfigError, match=r"imagen-4.0-generate-001.*image_vertexai = true") as i:
        routed({"asset": "google:imagen-4.0-generate-001"})
    assert "\n" not in str(i.value)
    with pytest.raises(ConfigError, match=r"project is required when .*image_vertexai = true"):
        routed({"asset": "google:imagen-4.0-generate-001"}, google={"image_vertexai": True})
    cfg = routed(
        {"asset": "google:imagen-4.0-generate-001"},
        google={"image_vertexai": True, "project": "p"},
    )
    assert cfg.providers.chain("asset")[0].model == "imagen-4.0-generate-001"
    # the default image model is a Gemini one, served with the Gemini API key
    assert routed({"asset": "google"}).providers.google.image_vertexai is False


def test_routed_provider_without_credentials_stops_the_start():
    route = {"intent": "anthropic", "codegen": ["google", "anthropic"], "asset": "google"}
    with pytest.raises(ConfigError, match=r"intent uses anthropic: ANTHROPIC_API_KEY is not set"):
        routed(route, env={"GEMINI_API_KEY": "g"})
    with pytest.raises(ConfigError, match=r"codegen uses google: neither GEMINI_API_KEY"):
        routed(route, env={"ANTHROPIC_API_KEY": "a"})
    cfg = routed(route, env={"ANTHROPIC_API_KEY": "a", "GOOGLE_API_KEY": "g"})
    assert cfg.providers.for_task("codegen") == "google"
    # v1's implicit Claude fallback is optional: no key, no fallback, no error
    routed({"codegen": "google"}, env={"GEMINI_API_KEY": "g"})
    # commands that do not run jobs (cancel, rollback-check, doctor) work without keys
    load_config(env={"DATABASE_URL": "postgresql://x/y"}, overrides={"providers": {"route": route}})


def test_run_refuses_to_start_with_a_route_it_cannot_call(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[database]\nurl = "postgresql://postgres@127.0.0.1:1/none"\n'
        '[providers.route]\nintent = "anthropic"\n'
    )
    env = {"ANTHROPIC_API_KEY": "", "ENGINEV2_CONFIG": ""}
    result = CliRunner().invoke(cli, ["--config", str(path), "run"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: config: providers.route.intent uses anthropic: ANTHROPIC_API_KEY is not set"
    )


def test_modal_route_needs_its_endpoint_url():
    with pytest.raises(ConfigError, match=r"codegen uses modal: .*generate_code_url is empty"):
        routed({"codegen": "modal"}, modal={"chat_haiku_url": "http://m/chat"})
    routed({"plan": "modal"}, modal={"chat_haiku_url": "http://m/chat"})


def test_new_default_models_are_priced():
    cfg = Config()
    for model in (
        cfg.providers.anthropic.model,
        cfg.providers.anthropic.codegen_model,
        cfg.providers.google.model,
        cfg.providers.google.image_model,
    ):
        assert model in cfg.pricing, model
    assert cfg.pricing[cfg.providers.google.image_model].per_image > 0


def test_pool_max_is_honoured_or_automatic():
    from enginev2d.config import ConfigError, load_config

    auto = load_config(env={"DATABASE_URL": "postgresql://x/y"})
    assert auto.database.pool_max == 0 and auto.pool_max == 8 * 3 + 4
    set_ = load_config(env={"DATABASE_URL": "postgresql://x/y", "ENGINEV2_DATABASE_POOL_MAX": "18"})
    assert set_.pool_max == 18
    one_job = load_config(
        env={
            "DATABASE_URL": "postgresql://x/y",
            "ENGINEV2_DATABASE_POOL_MAX": "5",
            "ENGINEV2_DAEMON_MAX_CONCURRENT_JOBS": "1",
        }
    )
    assert one_job.pool_max == 5  # design 12's pool, one job at a time
    with pytest.raises(ConfigError, match=r"database.pool_max = 5 .*max_concurrent_jobs = 8"):
        load_config(env={"DATABASE_URL": "postgresql://x/y", "ENGINEV2_DATABASE_POOL_MAX": "5"})
