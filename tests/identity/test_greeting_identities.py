"""Each protocol's greeting, as a server sends it, and the backend identity the dialog (or, for
implicit TLS, the reader after the handshake) records: whole, split at every byte, and hostile
(control characters, bidi overrides, invalid UTF-8, a 10 KB line)."""

from __future__ import annotations

import pytest

from certcensus.probe.identity import MAX_IDENTITY
from certcensus.probe.identity.after_tls import GreetingAfterTLS

from ..dialogs.transcripts import OPTIONS, crlf, mysql_greeting, run

# What Exchange Online sends (the bracket is base64 of UTF-16LE).
EXCHANGE_IMAP = (
    b"* OK The Microsoft Exchange IMAP4 service is ready. "
    b"[QgBOADgAUABSADEAMQBDAEEAMAAwADEAMgAuAG4AYQBtAHAAcgBkADEAMQAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]\r\n"
)
EXCHANGE_POP3 = (
    b"+OK The Microsoft Exchange POP3 service is ready. "
    b"[QQBNADYAUABSADAANABNAEIANQA2ADMAOQAuAGUAdQByAHAAcgBkADAANAAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]\r\n"
)
TEN_KB = "b" * 10240

# (name, protocol, server bytes up to where the identity is known, identity, detail contains)
CASES = [
    (
        "smtp-exchange",
        "smtp",
        crlf(
            "220 BN8PR11CA0012.outlook.office365.com Microsoft ESMTP MAIL Service ready at Tue, 1 Dec 2026",
            "250-BN8PR11CA0012.outlook.office365.com Hello [192.0.2.1]",
            "250 STARTTLS",
        ),
        "BN8PR11CA0012.outlook.office365.com",
        "",
    ),
    (
        "smtp-proxy-then-backend",
        "smtp",
        crlf("220 edge.example.net ESMTP", "250-mx7.example.net", "250 STARTTLS"),
        "edge.example.net / mx7.example.net",
        "",
    ),
    (
        "smtp-multiline-greeting",
        "smtp",
        crlf("220-mx1.example.org ESMTP", "220 no UCE", "250-MX1.example.org", "250 STARTTLS"),
        "mx1.example.org",
        "",
    ),
    (
        "lmtp",
        "lmtp",
        crlf("220 lmtp-3.example.org LMTP ready", "250-lmtp-3.example.org", "250 STARTTLS"),
        "lmtp-3.example.org",
        "",
    ),
    (
        "smtp-empty-greeting",
        "smtp",
        crlf("220 ", "250-mx.example", "250 STARTTLS"),
        "mx.example",
        "greeting names no host",
    ),
    (
        "smtp-control-characters",
        "smtp",
        b"220 mx\x1b[31m.evil\x07\x00.example ESMTP\r\n250-mx\xe2\x80\xae.example\r\n250 STARTTLS\r\n",
        "mx[31m.evil.example / mx.example",
        "",
    ),
    (
        "smtp-invalid-utf8",
        "smtp",
        crlf("220 mx.example ESMTP") + b"250-\xff\xfebinary\r\n250 STARTTLS\r\n",
        # The SMTP framing (base.py) quotes bytes that are not UTF-8 as escapes, never U+FFFD.
        "mx.example / \\xff\\xfebinary",
        "",
    ),
    (
        "smtp-10kb-greeting",
        "smtp",
        crlf(f"220 {TEN_KB} ESMTP", f"250-{TEN_KB}", "250 STARTTLS"),
        "b" * MAX_IDENTITY,
        "greeting truncated from 10240 to 255 characters",
    ),
    ("imap-exchange", "imap", EXCHANGE_IMAP, "BN8PR11CA0012.namprd11.prod.outlook.com", ""),
    (
        "imap-dovecot-capabilities",
        "imap",
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
        b"AUTH=PLAIN] backend-a ready.\r\n",
        "backend-a ready.",
        "",
    ),
    (
        "imap-brackets-not-base64",
        "imap",
        b"* OK [ALERT] imap.example.org ready [abcdefgh]\r\n",
        "[ALERT] imap.example.org ready [abcdefgh]",
        "",
    ),
    (
        "imap-10kb-greeting",
        "imap",
        f"* OK {TEN_KB}\r\n".encode(),
        "b" * MAX_IDENTITY,
        "truncated from 10240",
    ),
    (
        "imap-control-characters",
        "imap",
        b"* OK \x1b]0;owned\x07imap\x0bhost\x7f ready\r\n",
        "]0;ownedimap host ready",
        "",
    ),
    ("pop3-exchange", "pop3", EXCHANGE_POP3, "AM6PR04MB5639.eurprd04.prod.outlook.com", ""),
    ("pop3-dovecot", "pop3", b"+OK backend-b ready.\r\n", "backend-b ready.", ""),
    (
        "ftp-multiline-banner",
        "ftp",
        crlf("220-ftp3.example.org", "220 ProFTPD Server ready."),
        "ftp3.example.org / ProFTPD Server ready.",
        "",
    ),
    (
        "ftp-after-120",
        "ftp",
        crlf("120 wait", "220 ftp.example.org FTP ready"),
        "ftp.example.org FTP ready",
        "",
    ),
    (
        "nntp",
        "nntp",
        crlf("200 news.test InterNetNews NNRP server INN 2.7.1 ready (posting ok)"),
        "news.test InterNetNews NNRP server INN 2.7.1 ready (posting ok)",
        "",
    ),
    (
        "xmpp-from-and-id",
        "xmpp",
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        b"xmlns:stream='http://etherx.jabber.org/streams' from='node2.chat.example' "
        b"id='8b4f-11aa' version='1.0'>",
        "node2.chat.example",
        "stream id 8b4f-11aa",
    ),
    (
        "xmpp-no-from",
        "xmpp",
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
        b"version='1.0'>",
        None,
        "no stream from",
    ),
    (
        "mysql-version",
        "mysql",
        mysql_greeting(b"5.5.5-10.11.6-MariaDB-0+deb12u1", 0xF7FF | 0x0800),
        "5.5.5-10.11.6-MariaDB-0+deb12u1",
        "",
    ),
    (
        "irc-server-name",
        "irc",
        crlf(
            ":irc2.example.net NOTICE * :*** Looking up your hostname...",
            ":irc2.example.net 670 * :go",
        ),
        "irc2.example.net",
        "",
    ),
    (
        "irc-tags-and-ping-first",
        "irc",
        crlf("PING :123", "@time=x :hub.example.net NOTICE * :hi"),
        "hub.example.net",
        "",
    ),
]


def _identity(protocol: str, chunks):
    _, dialog = run(protocol, chunks, OPTIONS)
    return dialog.identity


@pytest.mark.parametrize(
    ("name", "protocol", "server", "text", "detail"), CASES, ids=[c[0] for c in CASES]
)
def test_dialog_records_what_the_server_says_about_itself(name, protocol, server, text, detail):
    identity = _identity(protocol, [server])
    assert identity is not None
    assert identity.text == text
    assert detail in identity.detail
    if identity.text is not None:
        assert len(identity.text) <= MAX_IDENTITY
        assert identity.text.isprintable()
    # However the bytes are split, the same identity.
    for cut in range(1, len(server), max(1, len(server) // 40)):
        assert _identity(protocol, [server[:cut], server[cut:]]) == identity, f"split at {cut}"


def test_a_10kb_greeting_still_lets_the_dialog_go_on_to_starttls():
    sent, dialog = run(
        "smtp", [crlf(f"220 {TEN_KB} ESMTP", f"250-{TEN_KB}", "250 STARTTLS", "220 go")]
    )
    assert dialog.ready
    assert sent.endswith(b"STARTTLS\r\n")
    assert dialog.identity is not None and len(dialog.identity.text or "") == MAX_IDENTITY


def test_a_refused_dialog_keeps_the_backend_that_refused():
    _, dialog = run("smtp", [crlf("220 mx9.example ESMTP", "250-mx9.example", "250 SIZE 1000")])
    assert dialog.refusal is not None
    assert dialog.identity is not None and dialog.identity.text == "mx9.example"
    _, busy = run("smtp", [crlf("421 mx4.example Service not available")])
    assert busy.refusal is not None and busy.identity.text == "mx4.example"


IMPLICIT = [
    (
        "smtps",
        crlf("220 BN8PR11CA0012.outlook.office365.com Microsoft ESMTP MAIL Service ready"),
        "BN8PR11CA0012.outlook.office365.com",
    ),
    ("submissions", crlf("220-smtp5.example ESMTP", "220 ok"), "smtp5.example"),
    ("imaps", EXCHANGE_IMAP, "BN8PR11CA0012.namprd11.prod.outlook.com"),
    ("imaps", b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] backend-a ready.\r\n", "backend-a ready."),
    ("pop3s", EXCHANGE_POP3, "AM6PR04MB5639.eurprd04.prod.outlook.com"),
    ("nntps", crlf("200 news2.example ready"), "news2.example ready"),
    ("ftps", crlf("220-ftp.example", "220 ready"), "ftp.example / ready"),
]


@pytest.mark.parametrize(("service", "server", "text"), IMPLICIT)
def test_greeting_read_after_an_implicit_tls_handshake(service, server, text):
    for cut in range(0, len(server)):
        reader = GreetingAfterTLS(service)
        assert reader.initiate() == b""
        for chunk in (server[:cut], server[cut:]):
            if chunk:
                reader.receive_data(chunk)
        assert reader.done and reader.identity.text == text, f"split at {cut}"


@pytest.mark.parametrize(
    ("service", "server", "detail"),
    [
        ("imaps", b"HTTP/1.1 400 Bad Request\r\n", "greeting is not * OK"),
        ("smtps", b"SSH-2.0-OpenSSH_9.2\r\n", "malformed reply line"),
        ("pop3s", b"\x00\x01\x02\xff\r\n", "greeting is not +OK"),
        ("nntps", b"x" * 70000, "greeting longer than 65536 bytes"),
        ("imaps", b"", "closed the connection before greeting"),
    ],
)
def test_a_bad_or_missing_implicit_greeting_is_a_null_identity_with_a_reason(
    service, server, detail
):
    reader = GreetingAfterTLS(service)
    reader.receive_data(server)
    assert reader.done and reader.identity.text is None
    assert detail in reader.identity.detail


def test_a_server_that_never_greets_gets_the_prober_s_reason():
    reader = GreetingAfterTLS("imaps")
    reader.receive_data(b"* OK still typ")
    assert not reader.done
    identity = reader.gave_up("no greeting within 1s after the handshake")
    assert identity.text is None and identity.detail == "no greeting within 1s after the handshake"
