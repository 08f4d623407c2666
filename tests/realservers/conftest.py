"""Every real-server test runs once per handshake engine (see tests/engines.py)."""

from ..engines import cli  # noqa: F401 (the fixture, overriding the shared one)


def pytest_collection_modifyitems(items):
    for item in items:
        if "realservers" in str(item.path):
            item.add_marker("server")
