"""Shared fixtures: a real PostgreSQL 15 cluster per test session, a fresh database per
test cloned from a migrated template, and a Config pointing at it."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from enginev2d.config import Config, load_config
from enginev2d.migrations import migrate
from enginev2d.pgcluster import PgCluster, host_server_login

TESTS = Path(__file__).resolve().parent
STANDINS = TESTS / "sql" / "host_standins.sql"
TEMPLATE_BARE = "ev2_tpl_bare"  # host stand-ins only
TEMPLATE_MIGRATED = "ev2_tpl_migrated"  # stand-ins + every migration

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    base = Path(tempfile.mkdtemp(prefix="enginev2d-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = PgCluster(base / "cluster")
    cluster.start()
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        for name, migrated in ((TEMPLATE_BARE, False), (TEMPLATE_MIGRATED, True)):
            conn.execute(f"CREATE DATABASE {name}")
            with psycopg.connect(cluster.dsn(name), autocommit=True) as db:
                db.execute(STANDINS.read_text())
            if migrated:
                migrate(cluster.dsn(name))
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    """A private, migrated cluster that a test may stop, restart or break (never the
    shared session one, which other tests use at the same time)."""
    base = Path(tempfile.mkdtemp(prefix="enginev2d-own-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = PgCluster(base / "cluster")
    cluster.start()
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(STANDINS.read_text())
        migrate(cluster.dsn())
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


_counter = itertools.count()


def _clone(cluster: PgCluster, template: str) -> Iterator[str]:
    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield cluster.dsn(name)
    finally:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh, fully migrated database with the host stand-ins."""
    yield from _clone(pg_cluster, TEMPLATE_MIGRATED)


@pytest.fixture
def bare_db_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh database with only the host stand-ins (nothing of engine_v2)."""
    yield from _clone(pg_cluster, TEMPLATE_BARE)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        yield c


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Config:
    """Config for the test database: engine on, injection allowed, paths in tmp_path."""
    projects = tmp_path / "projects"
    staging = tmp_path / "staging"
    projects.mkdir()
    staging.mkdir()
    return load_config(
        env={},
        overrides={
            "database": {"url": db_url, "ssl": False},
            "engine": {"enabled": True, "allowlist_only": False},
            "daemon": {"poll_interval_s": 0.5, "lease_s": 5.0, "job_timeout_s": 60.0},
            "paths": {"projects_root": str(projects), "staging_root": str(staging)},
            "metrics": {"enabled": False},
            "testing": {"allow_inject": True},
            "logging": {"format": "text"},
        },
    )


SERVER_LOGIN = "ev2_test_server"


def server_login_url(db_url: str) -> str:
    """A login role for the host server in ``db_url``'s database (see
    :func:`enginev2d.pgcluster.host_server_login`)."""
    return host_server_login(db_url, SERVER_LOGIN)


@pytest.fixture
def server_url(db_url: str) -> str:
    """``db_url`` as the host server's login role (see :func:`server_login_url`)."""
    return server_login_url(db_url)


@pytest.fixture
def pool(config: Config) -> Iterator[Any]:
    """An opened connection pool on the test database, as the daemon makes it."""
    from enginev2d.db import make_pool

    p = make_pool(config, min_size=1, max_size=8, name="test")
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def make_job(conn: psycopg.Connection[dict[str, Any]]) -> Callable[..., str]:
    """Insert a public.jobs row (the host's part) and submit it through the SQL contract."""

    def _make(
        message: str = "make me a neon snake game",
        *,
        user_id: str | None = None,
        project_id: str = "proj-1",
        options: dict[str, Any] | None = None,
        submit: bool = True,
    ) -> str:
        job_id = str(uuid.uuid4())
        user_id = user_id or str(uuid.uuid4())
        conn.execute(
            "INSERT INTO public.jobs (id, user_id, project_id, status)"
            " VALUES (%s, %s, %s, 'pending')",
            (job_id, user_id, project_id),
        )
        if submit:
            conn.execute(
                "SELECT engine_v2.submit_job(%s, %s, %s, %s, %s)",
                (job_id, user_id, project_id, message, psycopg.types.json.Jsonb(options or {})),
            )
        return job_id

    return _make
