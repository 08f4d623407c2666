"""Every store test runs against each backend: an SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import pytest

from ..pg import postgres_server, postgres_url  # noqa: F401 - fixtures


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """Where a fresh, empty store lives: a file, or a new database on the test server."""
    if request.param == "sqlite":
        return str(tmp_path / "census.sqlite")
    return request.getfixturevalue("postgres_url")
