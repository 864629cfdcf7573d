"""feature_flag.should_use_v2: design section 4, including its rollout table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from enginev2d.config import EngineConfig, load_config
from enginev2d.feature_flag import daemon_may_claim, should_use_v2

URL = "postgresql://x@127.0.0.1/x"
UID = "7b0c8a4e-3a3e-4a55-9d0b-2f1f1f1f1f1f"
EMAIL = "notef@neighbor.gg"


@dataclass
class User:
    id: object
    email: str | None = None


def _cfg(env: dict[str, str]):
    return load_config(env={"DATABASE_URL": URL, **env})


@pytest.mark.parametrize(
    ("env", "user", "expected"),
    [
        # M1-M2: flag off -> nobody, allowlisted or not.
        ({"ENGINE_V2_ENABLED": "false", "ENGINE_V2_ALLOWLIST": EMAIL}, {"email": EMAIL}, False),
        ({}, {"id": UID, "email": EMAIL}, False),  # unset means off
        ({"ENGINE_V2_ENABLED": "false", "ENGINE_V2_ALLOWLIST_ONLY": "false"}, {"id": UID}, False),
        ({"ENGINE_V2_ENABLED": "1"}, {"id": UID}, False),  # design: === 'true' only
        # M3-M4: on, allowlist only -> id or email listed.
        ({"ENGINE_V2_ENABLED": "true", "ENGINE_V2_ALLOWLIST": EMAIL}, {"email": EMAIL}, True),
        (
            {"ENGINE_V2_ENABLED": "true", "ENGINE_V2_ALLOWLIST": EMAIL},
            {"id": UID, "email": "other@x.y"},
            False,
        ),
        ({"ENGINE_V2_ENABLED": "true", "ENGINE_V2_ALLOWLIST": f"a@b.c,{UID}"}, {"id": UID}, True),
        ({"ENGINE_V2_ENABLED": "true"}, {"id": UID, "email": EMAIL}, False),  # empty list
        # ALLOWLIST_ONLY defaults to true (!== 'false'): anything but "false" keeps it on.
        (
            {"ENGINE_V2_ENABLED": "true", "ENGINE_V2_ALLOWLIST_ONLY": "no"},
            {"id": UID},
            False,
        ),
        # M5: on, allowlist off -> everyone.
        ({"ENGINE_V2_ENABLED": "true", "ENGINE_V2_ALLOWLIST_ONLY": "false"}, {"id": UID}, True),
        (
            {"ENGINE_V2_ENABLED": "true", "ENGINE_V2_ALLOWLIST_ONLY": "false"},
            {"id": None, "email": None},
            True,
        ),
    ],
)
def test_design_rollout_table(env, user, expected):
    assert should_use_v2(user, _cfg(env)) is expected


def _engine(**kw) -> EngineConfig:
    return EngineConfig(**{"enabled": True, "allowlist_only": True, **kw})


def test_id_or_email_with_engine_config_directly():
    engine = _engine(allowlist=(UID, EMAIL))
    assert should_use_v2({"id": UID}, engine) is True
    assert should_use_v2({"email": EMAIL}, engine) is True
    assert should_use_v2({"id": str(uuid.uuid4()), "email": "x@y.z"}, engine) is False
    assert should_use_v2({}, engine) is False


def test_uuid_objects_and_attribute_users():
    engine = _engine(allowlist=(UID,))
    assert should_use_v2(User(uuid.UUID(UID)), engine) is True
    assert should_use_v2(User(uuid.uuid4(), EMAIL), engine) is False
    assert should_use_v2(User(None, EMAIL), _engine(allowlist=(EMAIL,))) is True


def test_matching_is_exact_like_a_js_set():
    engine = _engine(allowlist=(EMAIL,))
    assert should_use_v2({"email": EMAIL.upper()}, engine) is False
    assert should_use_v2({"email": EMAIL + " "}, engine) is False
    assert should_use_v2({"email": "neighbor.gg"}, engine) is False


def test_missing_identity_never_matches_odd_allowlist_entries():
    engine = _engine(allowlist=("None", ""))
    assert should_use_v2({"id": None, "email": None}, engine) is False
    assert should_use_v2(User(None), engine) is False


def test_flag_off_wins_over_everything():
    engine = EngineConfig(enabled=False, allowlist_only=False, allowlist=(UID, EMAIL))
    assert should_use_v2({"id": UID, "email": EMAIL}, engine) is False


def test_daemon_claims_only_when_enabled():
    assert daemon_may_claim(_cfg({"ENGINE_V2_ENABLED": "true"})) is True
    assert daemon_may_claim(_cfg({"ENGINE_V2_ENABLED": "false"})) is False
    assert daemon_may_claim(_cfg({})) is False
