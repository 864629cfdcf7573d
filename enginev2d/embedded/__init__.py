"""The embedded default: a private PostgreSQL cluster with the host stand-ins, migrated,
for the demo and the benchmarks (never used in a real deployment)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from ..migrations import migrate
from ..pgcluster import PgCluster

HOST_SQL = Path(__file__).with_name("host.sql")


@dataclass
class EmbeddedDatabase:
    cluster: PgCluster
    dbname: str = "enginev2d"

    @property
    def url(self) -> str:
        return self.cluster.dsn(self.dbname)

    def start(self) -> None:
        """Start (or reuse) the cluster, create the database and migrate it."""
        self.cluster.start()
        with psycopg.connect(self.cluster.dsn(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(HOST_SQL.read_text())
        migrate(self.url)

    def stop(self) -> None:
        self.cluster.stop()
