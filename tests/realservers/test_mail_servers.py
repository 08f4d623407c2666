"""The SMTP, LMTP, IMAP, POP3 and ManageSieve dialogs against Postfix and Dovecot from Debian.

Each server sends a leaf and its intermediate; every probe must record exactly that chain. Where a
real server can be configured to refuse, the refusal is classified through it, and the server's
own log shows the probe stopped at the refusal instead of pressing on in plaintext.
"""

from __future__ import annotations

import re

import pytest

from .mail_fixtures import (  # noqa: F401 (fixtures)
    assert_every_probe_refused,
    assert_every_probe_saw_the_chain,
    dovecot,
    dovecot_without_tls,
    mail_chain,
    postfix,
    scan,
)

# Each test here starts a real server from a Debian package.
pytestmark = pytest.mark.server

COUNT = 50
SMTP_SESSION_WITH_STARTTLS = re.compile(r" ehlo=1 starttls=(1|0/1) commands=(2|1/2)$")


def test_postfix_smtp_starttls_presents_leaf_and_intermediate(cli, db, postfix, mail_chain):
    needles = ("postfix/smtpd", "disconnect from", "ehlo=")
    before = len(postfix.wait_for_log_lines(*needles, count=0))  # the other engine's run
    result, census = scan(cli, db, f"127.0.0.1:{postfix.ports['smtp']}", "smtp", COUNT)
    assert_every_probe_saw_the_chain(result, census, mail_chain, COUNT)
    # Postfix's own summary of each session: EHLO, then STARTTLS answered 220, nothing else.
    # ("starttls=0/1" when the probe leaves once it has the certificates, before its Finished:
    # always so with the native engine.)
    summaries = postfix.wait_for_log_lines(*needles, count=before + COUNT)[before:]
    assert len(summaries) == COUNT
    assert all(SMTP_SESSION_WITH_STARTTLS.search(line) for line in summaries), summaries[:3]


def test_postfix_without_tls_is_unsupported_and_the_probe_stops_after_ehlo(cli, db, postfix):
    needles = ("postfix-plain/smtpd", "disconnect from", "ehlo=")
    before = len(postfix.wait_for_log_lines(*needles, count=0))  # the other engine's run
    result, census = scan(cli, db, f"127.0.0.1:{postfix.ports['smtp-plain']}", "smtp", COUNT)
    assert result.code == 1
    said = "STARTTLS not advertised: 250 mail.test"
    assert_every_probe_refused(census, "starttls-unsupported", said, COUNT)
    summaries = postfix.wait_for_log_lines(*needles, count=before + COUNT)[before:]
    # The server saw EHLO and nothing after it: no STARTTLS sent anyway, no MAIL, no handshake.
    assert len(summaries) == COUNT
    assert all(line.endswith(" ehlo=1 commands=1") for line in summaries), summaries[:3]


@pytest.mark.parametrize("protocol", ["imap", "pop3", "sieve", "lmtp"])
def test_dovecot_starttls_presents_leaf_and_intermediate(cli, db, dovecot, mail_chain, protocol):
    result, census = scan(cli, db, f"127.0.0.1:{dovecot.ports[protocol]}", protocol, COUNT)
    assert_every_probe_saw_the_chain(result, census, mail_chain, COUNT)
    if protocol in ("imap", "pop3"):  # the greeting's text, Dovecot's default login_greeting
        assert [b["identity"] for b in census["backends"]] == ["Dovecot (Debian) ready."]


@pytest.mark.parametrize(
    ("protocol", "server_said"),
    [
        ("imap", "STARTTLS not advertised: AUTH=PLAIN ENABLE ID IDLE IMAP4REV1"),
        ("pop3", "STLS not in CAPA: CAPA / TOP / UIDL"),
        ("sieve", "STARTTLS not advertised: IMPLEMENTATION NOTIFY SASL SIEVE VERSION"),
        ("lmtp", "STARTTLS not advertised: 250 "),
    ],
)
def test_dovecot_with_ssl_no_is_unsupported(cli, db, dovecot_without_tls, protocol, server_said):
    port = dovecot_without_tls.ports[protocol]
    result, census = scan(cli, db, f"127.0.0.1:{port}", protocol, 10)
    assert result.code == 1
    assert_every_probe_refused(census, "starttls-unsupported", server_said, 10)
    # Dovecot logs "TLS" in a login session's summary once TLS started: none did.
    sessions = dovecot_without_tls.wait_for_log_lines("Disconnected", count=1)
    assert not any("TLS" in line for line in sessions)


def test_dovecot_local_ssl_no_still_lists_starttls_in_managesieve_then_refuses(cli, db, dovecot):
    # A real Dovecot 2.3 quirk: with `ssl = no` inside a `local` block, ManageSieve still lists
    # "STARTTLS" in its greeting and only answers the command with NO. That is a refusal of an
    # advertised upgrade, not an unsupported one; IMAP on the same address drops STARTTLS.
    address = f"127.0.0.2:{dovecot.ports['sieve@127.0.0.2']}"
    result, census = scan(cli, db, address, "sieve", 10)
    assert result.code == 1
    assert_every_probe_refused(census, "starttls-refused", 'NO "TLS support isn\'t enabled."', 10)
    imap = f"127.0.0.2:{dovecot.ports['imap@127.0.0.2']}"
    _, imap_census = scan(cli, db, imap, "imap", 10)
    assert_every_probe_refused(imap_census, "starttls-unsupported", "LOGINDISABLED", 10)
