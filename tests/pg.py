"""A real PostgreSQL server for the store tests: Debian's `postgresql` package, initdb in a
temporary directory, the server on a free loopback port, password authentication over TCP.

`postgres_server` (one per session) and `postgres_url` (a fresh database per test) are the
fixtures; `PostgresServer.crash()` and `.start()` let a test take the server away and back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import free_port, missing, wait_for_port

USER = "census"
PASSWORD = "census-secret"


def postgres_binary(name: str) -> str:
    """Debian keeps the server outside PATH, in /usr/lib/postgresql/<major>/bin."""
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    found = shutil.which(name) or (str(candidates[0]) if candidates else None)
    if not found:
        missing(f"{name} is not installed (run ./scripts/install-debian-packages.sh)")
    return found


def _as_postgres() -> dict:
    """PostgreSQL refuses to run as root: run it as Debian's `postgres` user then."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


class PostgresServer:
    def __init__(self, directory: Path):
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.log = directory / "postgres.log"
        self.process: subprocess.Popen | None = None

    def initdb(self) -> None:
        password_file = self.directory / "password"
        password_file.write_text(PASSWORD + "\n")
        command = [
            postgres_binary("initdb"), "-D", str(self.data), f"--username={USER}",
            f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
            "--no-sync", "--no-instructions", "--encoding=UTF8", "--locale=C",
        ]  # fmt: skip
        self._chown()
        with self.log.open("ab") as output:
            done = subprocess.run(
                command, stdout=output, stderr=subprocess.STDOUT, **_as_postgres()
            )
        if done.returncode:
            raise RuntimeError(f"initdb failed:\n{self.log.read_text()[-3000:]}")

    def _chown(self) -> None:
        if os.geteuid() == 0:
            for path in [self.directory, *self.directory.rglob("*")]:
                shutil.chown(path, "postgres", "postgres")

    def start(self) -> None:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.directory),
            # fsync=off survives a crash of the server process (the kernel still has the
            # pages), so a committed transaction stays committed, as the tests need; it does
            # not survive a crash of the machine, which the tests do not cause.
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "100",
        }
        command = [postgres_binary("postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                **_as_postgres(),
            )  # fmt: skip
        try:
            wait_for_port(self.port, self.process)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"postgres: {error}\n{self.log.read_text()[-3000:]}") from None
        # Accepting TCP is not yet accepting logins (recovery after a crash): wait for one.
        import psycopg

        for _ in range(300):
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError as error:
                if "starting up" not in str(error) and "recovery" not in str(error):
                    raise
        raise RuntimeError("postgres did not accept logins")

    def stop(self, *, crash: bool = False) -> None:
        """A fast shutdown; `crash`: SIGQUIT, the immediate shutdown that leaves no time to
        say goodbye to clients (what a dying machine or a failover looks like to them)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGQUIT if crash else signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def url(self, database: str, password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def create_database(self) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        self.admin(f"CREATE DATABASE {name}")
        return name


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    directory = Path(tempfile.mkdtemp(prefix="certcensus-pg-"))
    directory.chmod(0o755)
    server = PostgresServer(directory)
    try:
        server.initdb()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.url(postgres_server.create_database())
