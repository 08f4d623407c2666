"""Probing real servers: the lab pool (implicit TLS and SMTP STARTTLS) and misbehaving ones."""

from __future__ import annotations

import socket
import subprocess

import pytest

from certcensus.lab.pool import running_pool
from certcensus.model.chain import chain_fingerprint

from . import badservers
from .engines import cli  # noqa: F401 (each test once per handshake engine)


def scan_json(cli, port, db, *extra, protocol_args=()):
    result = cli(
        "scan", f"127.0.0.1:{port}", "--rate", "0", "--db", db, "--json", *protocol_args, *extra
    )
    return result, (result.json["targets"][0] if result.out.strip() else None)


@pytest.mark.parametrize("protocol", ["tls", "smtp"])
def test_census_counts_every_chain_exactly_as_served(cli, db, two_chains, protocol):
    with running_pool(two_chains.backends, protocol=protocol, seed=7) as pool:
        args = ("--starttls", "smtp") if protocol == "smtp" else ("--starttls", "none")
        result, census = scan_json(cli, pool.port, db, "--count", 200, protocol_args=args)
        served = dict(pool.served)
    assert result.code == 0, result.err
    assert census["probes"] == 200 and census["ok"] == 200 and census["errors"] == {}
    assert census["protocol"] == protocol
    by_id = {chain["id"]: chain for chain in census["chains"]}
    for backend in two_chains.backends:
        wire = backend.wire_ders
        chain = by_id[chain_fingerprint(wire)]
        # Every certificate, in the order sent, with the fingerprint of what was served.
        assert [c["sha256"] for c in chain["certificates"]] == [
            _openssl_fingerprint(backend.leaf.pem),
            *(_openssl_fingerprint(c.pem) for c in backend.chain),
        ]
        assert chain["count"] == served[backend.name]
        assert chain["ips"] == {"127.0.0.1": served[backend.name]}
    assert sum(c["share"] for c in census["chains"]) == pytest.approx(1.0)
    assert census["chains"][0]["count"] >= census["chains"][1]["count"]
    assert census["chains"][1]["differs_from_most_common"]  # leaf and intermediate differ


def _openssl_fingerprint(pem: bytes) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
        input=pem,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def test_replies_split_into_single_bytes_still_reach_tls(cli, db, two_chains):
    with running_pool([two_chains.old], protocol="smtp", split_writes=True) as pool:
        result, census = scan_json(
            cli, pool.port, db, "--count", 5, protocol_args=("--starttls", "smtp")
        )
    assert census["ok"] == 5, result.out


@pytest.mark.parametrize(
    "pool_options, outcome, said",
    [
        ({"smtp_advertise_starttls": False}, "starttls-unsupported", "STARTTLS not advertised"),
        ({"smtp_starttls_reply": "454 4.7.0 TLS not available"}, "starttls-refused", "454 4.7.0"),
        ({"smtp_greeting": "421 4.7.0 busy, try later"}, "busy", "421 4.7.0 busy"),
    ],
)
def test_smtp_refusals_are_classified_never_plaintext(
    cli, db, two_chains, pool_options, outcome, said
):
    with running_pool([two_chains.old], protocol="smtp", **pool_options) as pool:
        result, census = scan_json(
            cli, pool.port, db, "--count", 3, protocol_args=("--starttls", "smtp")
        )
        assert sum(pool.served.values()) == 0  # no handshake was attempted
    assert result.code == 1  # no probe succeeded
    assert census["errors"] == {outcome: 3}
    assert said in census["error_examples"][outcome]


@pytest.mark.parametrize(
    "handler, outcome, detail",
    [
        (badservers.silent, "timeout", "during handshake"),
        (badservers.speaks_http, "not-tls", "HTTP/1.1 400"),
        (badservers.banner_first, "not-tls", "220 mail.example.test"),
        (badservers.closes_at_once, None, None),
        (badservers.resets_after_client_hello, "reset", "reset during handshake"),
        (badservers.sends_tls_alert, "tls-alert", "handshake failure"),
    ],
)
def test_misbehaving_servers_are_classified(cli, db, handler, outcome, detail):
    with badservers.serving(handler) as port:
        result, census = scan_json(
            cli, port, db, "--count", 2, "--timeout", "0.5", protocol_args=("--starttls", "none")
        )
    assert result.code == 1
    assert census["ok"] == 0 and census["probes"] == 2
    if outcome is None:  # a close right after accept races with our ClientHello: closed or reset
        assert set(census["errors"]) <= {"closed", "reset"}
        return
    assert census["errors"] == {outcome: 2}
    assert detail in census["error_examples"][outcome]


def test_silent_smtp_server_times_out_in_the_starttls_phase(cli, db):
    with badservers.serving(badservers.silent) as port:
        result, census = scan_json(
            cli, port, db, "--count", 1, "--timeout", "0.3", protocol_args=("--starttls", "smtp")
        )
    assert census["errors"] == {"timeout": 1}
    assert "during starttls" in census["error_examples"]["timeout"]


def test_closed_port_is_refused(cli, db):
    with socket.socket() as bound:  # bound but not listening: the kernel answers SYN with RST
        bound.bind(("127.0.0.1", 0))
        result, census = scan_json(cli, bound.getsockname()[1], db, "--count", 2)
    assert result.code == 1 and census["errors"] == {"refused": 2}


def test_garbage_in_smtp_dialog_is_a_protocol_error(cli, db):
    with badservers.serving(badservers.babbles) as port:
        result, census = scan_json(
            cli, port, db, "--count", 1, "--timeout", "2", protocol_args=("--starttls", "smtp")
        )
    assert census["errors"] == {"protocol-error": 1}
    assert "SSH-2.0" in census["error_examples"]["protocol-error"]


def test_worker_processes_record_the_same_observations(cli, db, two_chains):
    with running_pool(two_chains.backends, protocol="smtp", seed=9) as pool:
        result, census = scan_json(
            cli, pool.port, db, "--count", 120, "--workers", 2, protocol_args=("--starttls", "smtp")
        )
        served = dict(pool.served)
    assert result.code == 0, result.err
    assert census["ok"] == 120
    counts = {chain["id"]: chain["count"] for chain in census["chains"]}
    assert counts == {chain_fingerprint(b.wire_ders): served[b.name] for b in two_chains.backends}
    import sqlite3

    rows = (
        sqlite3.connect(db)
        .execute(
            "SELECT COUNT(DISTINCT source_port), MIN(handshake_seconds), MIN(starttls_seconds) FROM probes"
        )
        .fetchone()
    )
    assert rows[0] == 120 and rows[1] > 0 and rows[2] > 0
