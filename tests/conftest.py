"""Shared fixtures: a test PKI, two-chain backends, and running the CLI in-process."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest

from certcensus.cli import main
from certcensus.lab.pki import PKI
from certcensus.lab.pool import Backend

# The PostgreSQL server (one per session, started only for a test that asks) and a fresh
# database per test, for the store, census and fleet tests.
from .pg import postgres_server, postgres_url  # noqa: F401 - fixtures


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


@pytest.fixture(autouse=True, scope="session")
def private_user_directories(tmp_path_factory):
    """Keep the default database and caches of every test out of the user's home."""
    home = tmp_path_factory.mktemp("home")
    os.environ["XDG_DATA_HOME"] = str(home / "data")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")


@pytest.fixture
def cli(capsys):
    """Run `certcensus ARGS...` in this process; return exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def pki() -> PKI:
    return PKI()


@dataclass
class TwoChains:
    old: Backend
    new: Backend
    roots: list

    @property
    def backends(self) -> list[Backend]:
        return [self.old, self.new]


@pytest.fixture(scope="session")
def two_chains(pki) -> TwoChains:
    """Two backends with different leaves, intermediates and roots (the story's situation)."""
    old_root = pki.root("Test Old Root")
    new_root = pki.root("Test New Root", key_type="ec256")
    old_ca = pki.intermediate("Test Old CA-1", old_root, key_type="ec256")
    new_ca = pki.intermediate("Test New CA G2", new_root, key_type="ec256")
    names = ["pool.test", "127.0.0.1"]
    return TwoChains(
        old=Backend("old", pki.leaf(names, old_ca, key_type="ec256"), [old_ca], weight=0.5),
        new=Backend("new", pki.leaf(names, new_ca, key_type="ec256"), [new_ca], weight=0.5),
        roots=[old_root, new_root],
    )


@pytest.fixture
def db(tmp_path):
    return tmp_path / "census.sqlite"
