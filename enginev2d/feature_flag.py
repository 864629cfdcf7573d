"""v2 activation (design 4): flag + allowlist double gate.

``should_use_v2`` is the Node server's routing rule, kept here for the CLI, the tests and
any Python caller; the daemon's own rule is simpler: with ``engine.enabled`` false it
claims nothing (the instant-stop switch of section 16).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import Config, EngineConfig


def should_use_v2(verified_user: Mapping[str, Any] | Any, engine: EngineConfig | Config) -> bool:
    """``verified_user`` must come from a JWT-verified source (``id`` = sub, ``email``)."""
    if isinstance(engine, Config):
        engine = engine.engine
    if not engine.enabled:
        return False
    if not engine.allowlist_only:
        return True
    if isinstance(verified_user, Mapping):
        uid, email = verified_user.get("id"), verified_user.get("email")
    else:
        uid, email = getattr(verified_user, "id", None), getattr(verified_user, "email", None)
    allow = set(engine.allowlist)
    return (uid is not None and str(uid) in allow) or (email is not None and email in allow)


def daemon_may_claim(cfg: Config) -> bool:
    return cfg.engine.enabled
