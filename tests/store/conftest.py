"""The store tests' PostgreSQL server (tests/pg.py): one per session, a database per test."""

from __future__ import annotations

from ..pg import postgres_server, postgres_url  # noqa: F401 - fixtures
