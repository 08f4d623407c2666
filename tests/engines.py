"""Run a test module's `certcensus scan/check/watch` commands once per handshake engine.

Importing `cli` from here into a test module (or a conftest) overrides the shared `cli` fixture
with one parametrized by engine, so every existing assertion about a real server's chain and
every misbehaving server's outcome is checked for both engines: that is the agreement test.
"""

from __future__ import annotations

import pytest

ENGINES = ("openssl", "native")
PROBING_COMMANDS = {"scan", "check", "watch"}


@pytest.fixture(params=ENGINES)
def cli(cli, request):
    def run(*args):
        if args and args[0] in PROBING_COMMANDS and "--engine" not in args:
            args = (*args, "--engine", request.param)
        return cli(*args)

    run.engine = request.param
    return run
