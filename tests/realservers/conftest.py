"""Every real-server test runs once per handshake engine (see tests/engines.py)."""

from ..engines import cli  # noqa: F401 (the fixture, overriding the shared one)
