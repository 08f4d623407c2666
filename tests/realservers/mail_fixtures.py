"""Pytest fixtures for the mail, news and FTP servers: one server per test module, one chain per
session, and the checks every STARTTLS test makes on a census. Import them into a test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from certcensus.model.chain import certificate_fingerprint, chain_fingerprint

from ..servers import missing
from . import mail_configs
from .mail_configs import ServerChain


def require_file(path: str, package: str) -> None:
    if not Path(path).exists():
        missing(
            f"{path} is missing: install the Debian package {package} "
            "(./scripts/install-debian-packages.sh)"
        )


def require_binary(name: str, package: str) -> None:
    if mail_configs.find_binary(name) == name:
        missing(
            f"{name} is not installed: install the Debian package {package} "
            "(./scripts/install-debian-packages.sh)"
        )


@pytest.fixture(scope="session")
def mail_chain() -> ServerChain:
    return mail_configs.make_server_chain()


@pytest.fixture(scope="module")
def postfix(mail_chain):
    require_file(mail_configs.POSTFIX_MASTER, "postfix")
    with mail_configs.running_postfix(mail_chain) as server:
        yield server


@pytest.fixture(scope="module")
def dovecot(mail_chain, tmp_path_factory):
    require_binary("dovecot", "dovecot-imapd dovecot-pop3d dovecot-managesieved dovecot-lmtpd")
    with mail_configs.running_dovecot(tmp_path_factory.mktemp("dovecot"), mail_chain) as server:
        yield server


@pytest.fixture(scope="module")
def dovecot_without_tls(mail_chain, tmp_path_factory):
    require_binary("dovecot", "dovecot-imapd dovecot-pop3d dovecot-managesieved dovecot-lmtpd")
    directory = tmp_path_factory.mktemp("dovecot-plain")
    with mail_configs.running_dovecot(directory, mail_chain, ssl=False) as server:
        yield server


@pytest.fixture(scope="module")
def nnrpd(mail_chain):
    require_file(mail_configs.NNRPD, "inn2")
    with mail_configs.running_nnrpd(mail_chain) as server:
        yield server


@pytest.fixture(scope="module")
def nnrpd_without_tls(mail_chain):
    require_file(mail_configs.NNRPD, "inn2")
    with mail_configs.running_nnrpd(mail_chain, tls=False) as server:
        yield server


@pytest.fixture(scope="module")
def proftpd(mail_chain, tmp_path_factory):
    require_binary("proftpd", "proftpd-core")
    require_file(f"{mail_configs.PROFTPD_MODULES}/mod_tls.so", "proftpd-mod-crypto")
    with mail_configs.running_proftpd(tmp_path_factory.mktemp("proftpd"), mail_chain) as server:
        yield server


def scan(cli, db, address: str, protocol: str, count: int):
    """`certcensus scan ADDRESS --starttls PROTOCOL`, flat out; the census of the one target."""
    result = cli(
        "scan",
        address,
        "--starttls",
        protocol,
        "--count",
        count,
        "--rate",
        "0",
        "--db",
        db,
        "--json",
    )
    return result, result.json["targets"][0]


def assert_every_probe_saw_the_chain(result, census, chain: ServerChain, count: int) -> None:
    """Exit 0, every probe ok, and exactly one chain: leaf then intermediate, as on the wire."""
    assert result.code == 0, (result.err, census["errors"], census["error_examples"])
    assert census["probes"] == count
    assert (census["ok"], census["errors"]) == (count, {}), census["error_examples"]
    (seen,) = census["chains"]
    assert [c["sha256"] for c in seen["certificates"]] == [
        certificate_fingerprint(der) for der in chain.wire_ders
    ]
    fingerprints = [c["sha256"] for c in seen["certificates"]]
    assert fingerprints == [chain.leaf.sha256, chain.intermediate.sha256]
    assert seen["id"] == chain_fingerprint(chain.wire_ders)
    assert seen["count"] == count


def assert_every_probe_refused(census, outcome: str, server_said: str, count: int) -> None:
    """Every probe ended in `outcome`, quoting the server, and none reached a handshake."""
    assert census["probes"] == count and census["ok"] == 0
    assert census["errors"] == {outcome: count}, census["error_examples"]
    assert server_said in census["error_examples"][outcome], census["error_examples"]
    assert census["chains"] == []
