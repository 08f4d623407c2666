"""Fixtures for the trust tests (the session `pki` fixture comes from tests/conftest.py)."""

from __future__ import annotations

import pytest

from .trust_helpers import AIAServer


@pytest.fixture
def aia_server():
    server = AIAServer()
    yield server
    server.close()
