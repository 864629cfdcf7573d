"""A private PostgreSQL 15 cluster for the demo, the tests and the benchmarks.

``initdb`` and ``postgres`` refuse to run as root, so when we are root every server
command runs as the ``postgres`` OS user through ``runuser`` and the cluster directory
is handed to that user. The server listens on 127.0.0.1 and on a socket directory of
its own, never on the machine's default port or socket.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from .affinity import unpinned
from .errors import ConfigError

PG_BIN = Path(os.environ.get("ENGINEV2_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"

# Throwaway clusters trade durability for speed; the benchmark passes durable=True.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class PgCluster:
    base_dir: Path
    port: int = 0
    durable: bool = False
    settings: Mapping[str, str] = field(default_factory=dict)
    bin_dir: Path = PG_BIN

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir).resolve()
        if not self.port:
            saved = self.base_dir / "port"
            self.port = int(saved.read_text()) if saved.exists() else free_port()

    # ------------------------------------------------------------------ paths
    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{dbname}?sslmode=disable"

    # ------------------------------------------------------------------ commands
    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        if shutil.which("runuser") is None:
            raise ConfigError("running as root needs runuser to start PostgreSQL as postgres")
        return ["runuser", "-u", SERVER_USER, "--", *argv]

    def _run(self, argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        with unpinned():  # a server started here is not the daemon: not its CPUs
            return subprocess.run(
                self._as_server_user(argv),
                check=True,
                capture_output=True,
                text=True,
                cwd="/",
                **kw,  # type: ignore[arg-type]
            )

    def _check_binaries(self) -> None:
        for exe in ("initdb", "pg_ctl", "postgres"):
            if not (self.bin_dir / exe).exists():
                raise ConfigError(
                    f"PostgreSQL 15 binaries not found in {self.bin_dir} "
                    "(install with: apt-get install -y postgresql-15)"
                )

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise ConfigError(
                    "no 'postgres' OS user to run PostgreSQL as (apt-get install -y postgresql-15)"
                ) from None
            # The server user must reach the cluster directory: make the ancestors
            # traversable (not readable) and hand the directory over.
            for parent in reversed(self.base_dir.parents):
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            if self.data_dir.exists():
                os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        self._check_binaries()
        self._prepare_dirs()
        if not self.initialized:
            self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SERVER_USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            )
        (self.base_dir / "port").write_text(str(self.port))

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        result = subprocess.run(
            self._as_server_user(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"]
            ),
            capture_output=True,
            text=True,
            cwd="/",
        )
        return result.returncode == 0

    def start(self) -> None:
        self.init()
        if self.is_running():
            return
        if port_in_use(self.port):
            raise ConfigError(
                f"port {self.port} on 127.0.0.1 is taken by another process "
                f"(remove {self.base_dir / 'port'} to pick a new one)"
            )
        settings = {
            "listen_addresses": "127.0.0.1",
            "max_connections": "200",
            "shared_buffers": "128MB",
            **({} if self.durable else FAST_SETTINGS),
            **self.settings,
        }
        opts = f"-p {self.port} -k {self.socket_dir} " + " ".join(
            f"-c {k}={v}" for k, v in settings.items()
        )
        # The log file must be writable by the server user.
        self.log_file.touch()
        if os.geteuid() == 0:
            pw = pwd.getpwnam(SERVER_USER)
            os.chown(self.log_file, pw.pw_uid, pw.pw_gid)
        try:
            self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        except subprocess.CalledProcessError as exc:
            tail = ""
            with contextlib.suppress(OSError):
                tail = self.log_file.read_text()[-2000:]
            raise ConfigError(f"PostgreSQL did not start: {exc.stderr.strip()} {tail}") from None

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"]
            )

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)


def host_server_login(db_url: str, role: str) -> str:
    """``db_url`` (a superuser's, as :meth:`PgCluster.dsn` gives) as the host server's
    login ``role``, made if missing: a member of ``engine_v2_server`` (migration 0005)
    with what the host grants itself on ``public.jobs`` (it inserts its job rows and v1
    completes them). What a production host sets up; the demo, the tests and the Node
    benchmark log in this way."""
    name = sql.Identifier(role)
    with psycopg.connect(db_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
        conn.execute(sql.SQL("GRANT engine_v2_server TO {}").format(name))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON public.jobs TO {}").format(name))
    return db_url.replace(f"postgresql://{SERVER_USER}@", f"postgresql://{role}@", 1)
