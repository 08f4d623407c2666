"""`--engine` as a user meets it on scan, check and watch: both engines census the same pool
alike, each real-client profile is spoken, and a real-client profile with `--engine openssl` is
a one-line usage error (check's is an UNKNOWN line, as monitoring systems expect)."""

from __future__ import annotations

import pytest

from certcensus.lab.pool import running_pool
from certcensus.model.chain import chain_fingerprint
from certcensus.probe.native.clients import REAL_CLIENTS

from ..watch.test_cli_watch_check import run


def test_scan_speaks_every_real_client_through_starttls(cli, db, two_chains):
    with running_pool([two_chains.old], protocol="smtp") as pool:
        result = cli("scan", f"smtp://127.0.0.1:{pool.port}", "--profile", "clients",
                     "--count", 7 * len(REAL_CLIENTS), "--rate", "0", "--db", db, "--json")  # fmt: skip
    assert result.code == 0, result.err
    (target,) = result.json["targets"]
    assert {s["profile"] for s in target["strata"]} == set(REAL_CLIENTS)
    assert [c["id"] for c in target["chains"]] == [chain_fingerprint(two_chains.old.wire_ders)]
    from certcensus.store import open_store

    with open_store(db, read_only=True) as store:  # the store's interface, not its tables
        versions = {p.profile: p.tls_version for t in store.targets() for p in store.probes(t)}
    assert versions["java-8"] == "TLSv1.2" and versions["java-17"] == "TLSv1.3"


@pytest.mark.parametrize("engine", ["native", "openssl"])
def test_check_with_either_engine(two_chains, capsys, engine):
    from certcensus.cli.check import check

    with running_pool([two_chains.old], protocol="smtp") as pool:
        port = pool.port
        code, out, _ = run(check, capsys, f"127.0.0.1:{port}", "--starttls", "smtp",
                           "--rate", "0", "--engine", engine)  # fmt: skip
    assert code == 0
    assert out.startswith(f"CERTCENSUS OK - 127.0.0.1:{port}: 1 chain, 30/30 probes ok")


def test_check_refuses_a_real_client_profile_with_openssl(capsys):
    from certcensus.cli.check import check

    code, out, _ = run(
        check, capsys, "127.0.0.1:25", "--profile", "ibmi-7.4", "--engine", "openssl"
    )
    assert code == 3
    assert out.strip() == (
        "CERTCENSUS UNKNOWN - profile ibmi-7.4 needs --engine native "
        "(OpenSSL cannot be made to send that ClientHello)"
    )


def test_watch_refuses_a_real_client_profile_with_openssl(cli):
    result = cli("watch", "127.0.0.1:25", "--profile", "java-8", "--engine", "openssl")
    assert result.code == 2
    assert result.err.strip() == (
        "certcensus: error: profile java-8 needs --engine native "
        "(OpenSSL cannot be made to send that ClientHello)"
    )
