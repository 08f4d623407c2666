"""STARTTLS dialogs against real servers from Debian packages: directory, chat, databases, RDP.

Each server runs on 127.0.0.1 with a leaf and intermediate made here, configured to send both;
the census must find exactly that chain, in wire order, on every probe. Where the real server can
be configured to refuse, the refusal's classified outcome and the server's own words are checked.

Proven elsewhere only, from transcripts (tests/dialogs/): telnet, because no Debian package
implements telnet START_TLS (option 46; telnetd-ssl speaks the older AUTHENTICATION-option SSL
of netkit-telnet-ssl, and its `-z ssl` mode is implicit TLS); and mssql, which Debian does not
package at all.
"""

from __future__ import annotations

import pytest

from .other_fixtures import (  # noqa: F401 (fixtures pytest finds by name)
    XMPP_DOMAIN,
    XMPP_DOMAIN_WITHOUT_CERTIFICATE,
    inspircd,
    inspircd_with_starttls,
    mariadb,
    mariadb_directory,
    postgres,
    postgres_directory,
    prosody_server,
    served_chain,
    served_rsa_chain,
    slapd_with_tls,
    slapd_without_tls,
    xrdp,
    xrdp_with_tls,
)

# Each test here starts a real server from a Debian package.
pytestmark = pytest.mark.server

PROBES = 50


def scan(cli, db, port: int, starttls: str, *extra) -> dict:
    """`certcensus scan` of 127.0.0.1:port; the one target's census from its JSON."""
    result = cli(
        "scan",
        f"127.0.0.1:{port}",
        "--starttls",
        starttls,
        "--count",
        PROBES,
        "--rate",
        "0",
        "--db",
        db,
        "--json",
        *extra,
    )
    assert result.code in (0, 1), result.err
    (target,) = result.json["targets"]
    target["exit_code"] = result.code
    return target


def assert_only_chain(target: dict, chain) -> None:
    assert target["exit_code"] == 0
    assert target["ok"] == PROBES, target["error_examples"]
    (found,) = target["chains"]
    assert [certificate["sha256"] for certificate in found["certificates"]] == chain.fingerprints
    assert found["id"] == chain.chain_id
    assert found["count"] == PROBES


def assert_refused(target: dict, outcome: str, server_said: str) -> None:
    assert target["exit_code"] == 1
    assert target["ok"] == 0 and target["chains"] == []
    assert target["errors"] == {outcome: PROBES}
    assert server_said in target["error_examples"][outcome]


# --- LDAP: OpenLDAP slapd ----------------------------------------------------------------------


def test_slapd_starttls_sends_leaf_and_intermediate(cli, db, slapd_with_tls, served_chain):
    assert_only_chain(scan(cli, db, slapd_with_tls.port, "ldap"), served_chain)


def test_slapd_ldaps_is_implicit_tls_with_the_same_chain(cli, db, slapd_with_tls, served_chain):
    assert_only_chain(scan(cli, db, slapd_with_tls.tls_port, "none"), served_chain)


def test_slapd_without_certificate_has_no_starttls(cli, db, slapd_without_tls):
    # slapd 2.5 with no TLS settings does not register the StartTLS operation at all.
    target = scan(cli, db, slapd_without_tls.port, "ldap")
    said = "resultCode 2 (protocolError): unsupported extended operation"
    assert_refused(target, "starttls-unsupported", said)


# --- XMPP: Prosody -------------------------------------------------------------------------------


def test_prosody_client_stream_starttls(cli, db, prosody_server, served_chain):
    target = scan(cli, db, prosody_server.port, "xmpp", "--xmpp-domain", XMPP_DOMAIN)
    assert_only_chain(target, served_chain)
    # Backend identity: the stream's from (its id, new per stream, is only in the detail).
    assert [(b["identity"], b["count"]) for b in target["backends"]] == [(XMPP_DOMAIN, PROBES)]


def test_prosody_server_to_server_stream_starttls(cli, db, prosody_server, served_chain):
    target = scan(cli, db, prosody_server.s2s_port, "xmpp-server", "--xmpp-domain", XMPP_DOMAIN)
    assert_only_chain(target, served_chain)


def test_prosody_host_without_certificate_fails_the_handshake(cli, db, prosody_server):
    # Prosody 0.12 still offers STARTTLS for a host it has no certificate for, then ends the
    # handshake with an alert.
    target = scan(
        cli, db, prosody_server.port, "xmpp", "--xmpp-domain", XMPP_DOMAIN_WITHOUT_CERTIFICATE
    )
    assert_refused(target, "tls-alert", "handshake failure")


def test_prosody_unknown_domain_is_a_stream_error(cli, db, prosody_server):
    target = scan(cli, db, prosody_server.port, "xmpp", "--xmpp-domain", "unknown.test")
    assert_refused(target, "starttls-refused", "stream error: host-unknown")


# --- PostgreSQL ----------------------------------------------------------------------------------


def test_postgres_sslrequest(cli, db, postgres_directory, served_chain):
    with postgres(postgres_directory, ssl=True) as server:
        target = scan(cli, db, server.port, "postgres")
    assert_only_chain(target, served_chain)


def test_postgres_with_ssl_off_answers_n(cli, db, postgres_directory):
    with postgres(postgres_directory, ssl=False) as server:
        target = scan(cli, db, server.port, "postgres")
    assert_refused(target, "starttls-unsupported", "N: the server does not accept SSL")


# --- MySQL protocol: MariaDB --------------------------------------------------------------------


def test_mariadb_ssl_request(cli, db, mariadb_directory, served_chain):
    with mariadb(mariadb_directory, ssl=True) as server:
        target = scan(cli, db, server.port, "mysql")
    assert_only_chain(target, served_chain)
    (backend,) = target["backends"]  # the server version string names it
    assert "MariaDB" in backend["identity"] and backend["count"] == PROBES


def test_mariadb_without_ssl_does_not_set_client_ssl(cli, db, mariadb_directory):
    with mariadb(mariadb_directory, ssl=False) as server:
        target = scan(cli, db, server.port, "mysql")
    assert_refused(target, "starttls-unsupported", "does not set CLIENT_SSL")
    assert "MariaDB" in target["error_examples"]["starttls-unsupported"]


# --- IRC: InspIRCd -------------------------------------------------------------------------------


def test_inspircd_starttls_after_hostname_notice(cli, db, inspircd_with_starttls, served_chain):
    target = scan(cli, db, inspircd_with_starttls.port, "irc")
    assert_only_chain(target, served_chain)
    assert [b["identity"] for b in target["backends"]] == ["irc.certcensus.test"]


def test_inspircd_ssl_port_is_implicit_tls(cli, db, inspircd_with_starttls, served_chain):
    assert_only_chain(scan(cli, db, inspircd_with_starttls.tls_port, "none"), served_chain)


def test_inspircd_without_starttls_module_ignores_the_command(cli, db, tmp_path, served_chain):
    # InspIRCd answers no unknown command before registration: no 421, no 451. Nothing in the
    # stream tells a client that STARTTLS will never come (openssl s_client -starttls irc waits
    # too), so such a server costs --timeout and is counted as a timeout in the dialog phase.
    with inspircd(tmp_path, served_chain, starttls=False) as server:
        target = scan(cli, db, server.port, "irc", "--timeout", "1")
    assert_refused(target, "timeout", "during starttls")


# --- RDP: xrdp -----------------------------------------------------------------------------------


def test_xrdp_negotiates_tls(cli, db, xrdp_with_tls, served_rsa_chain):
    # xrdp's listen backlog is 2 (see the fixture): the rdp dialog's polite default of two
    # probes at a time applies without any --concurrency.
    target = scan(cli, db, xrdp_with_tls.port, "rdp")
    assert_only_chain(target, served_rsa_chain)


def test_xrdp_with_standard_rdp_security_only(cli, db, tmp_path, served_rsa_chain):
    with xrdp(tmp_path, served_rsa_chain, security_layer="rdp") as server:
        target = scan(cli, db, server.port, "rdp", "--concurrency", 2)
    assert_refused(target, "starttls-unsupported", "RDP_NEG_RSP selected Standard RDP Security")
