"""The census through a real HAProxy (TCP mode) in front of backends serving different chains."""

from __future__ import annotations

import contextlib

import pytest

from certcensus.lab.pool import running_pool
from certcensus.model.chain import chain_fingerprint

from .engines import cli  # noqa: F401 (each test once per handshake engine)
from .servers import haproxy

# Each test here starts a real server from a Debian package.
pytestmark = pytest.mark.server


def test_round_robin_weights_show_as_exact_shares(cli, db, tmp_path, two_chains):
    with contextlib.ExitStack() as stack:
        old = stack.enter_context(running_pool([two_chains.old]))
        new = stack.enter_context(running_pool([two_chains.new]))
        port = stack.enter_context(haproxy(tmp_path, [(old.port, 3), (new.port, 1)], "roundrobin"))
        result = cli(
            "scan",
            f"127.0.0.1:{port}",
            "--starttls",
            "none",
            "--rate",
            "0",
            "--count",
            200,
            "--db",
            db,
            "--json",
        )
    assert result.code == 0, result.err
    (target,) = result.json["targets"]
    counts = {chain["id"]: chain["count"] for chain in target["chains"]}
    assert counts == {
        chain_fingerprint(two_chains.old.wire_ders): 150,
        chain_fingerprint(two_chains.new.wire_ders): 50,
    }


def test_random_balancing_of_smtp_backends(cli, db, tmp_path, two_chains):
    with contextlib.ExitStack() as stack:
        old = stack.enter_context(running_pool([two_chains.old], protocol="smtp"))
        new = stack.enter_context(running_pool([two_chains.new], protocol="smtp"))
        port = stack.enter_context(haproxy(tmp_path, [(old.port, 92), (new.port, 8)], "random"))
        result = cli(
            "scan", f"smtp://127.0.0.1:{port}", "--rate", "0", "--count", 400, "--db", db, "--json"
        )
        served = {"old": old.served["old"], "new": new.served["new"]}
    assert result.code == 0, result.err
    (target,) = result.json["targets"]
    assert target["protocol"] == "smtp" and target["ok"] == 400
    counts = {chain["id"]: chain["count"] for chain in target["chains"]}
    # What the census counted is exactly what each backend served...
    assert counts == {
        chain_fingerprint(two_chains.old.wire_ders): served["old"],
        chain_fingerprint(two_chains.new.wire_ders): served["new"],
    }
    # ... and the minority share is near HAProxy's 8% weight (binomial bounds, p > 0.9999).
    assert 10 <= served["new"] <= 65
