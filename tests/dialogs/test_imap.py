import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, crlf, run

TRANSCRIPTS = [
    # RFC 3501 section 6.2.1, with the capabilities in the greeting (RFC 3501 section 7.1).
    Transcript(
        "greeting-capabilities",
        "imap",
        crlf(
            "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] IMAP4rev1 Service Ready",
            "a1 OK Begin TLS negotiation now",
        ),
        crlf("a1 STARTTLS"),
    ),
    # RFC 3501 section 6.2.1 example: CAPABILITY first.
    Transcript(
        "capability-command",
        "imap",
        crlf(
            "* OK IMAP4rev1 Service Ready",
            "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED",
            "a1 OK CAPABILITY completed",
            "a2 OK Begin TLS negotiation now",
        ),
        crlf("a1 CAPABILITY", "a2 STARTTLS"),
    ),
    # An untagged reply with a literal holding what looks like our tagged NO: it is data.
    Transcript(
        "literal-hides-fake-tag",
        "imap",
        b"* OK Dovecot ready.\r\n"
        b"* CAPABILITY IMAP4rev1 starttls\r\n"
        b"* OK [ALERT] {12}\r\na1 NO trap\r\n and more\r\n"
        b"a1 OK [CAPABILITY IMAP4rev1 STARTTLS] done\r\n"
        b"a2 OK Begin TLS\r\n",
        crlf("a1 CAPABILITY", "a2 STARTTLS"),
    ),
    Transcript(
        "not-advertised",
        "imap",
        crlf(
            "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready",
            "* CAPABILITY IMAP4rev1 AUTH=PLAIN",
            "a1 OK done",
        ),
        crlf("a1 CAPABILITY"),
        Outcome.STARTTLS_UNSUPPORTED,
        "STARTTLS not advertised: AUTH=PLAIN IMAP4REV1",
    ),
    Transcript(
        "refused-no",
        "imap",
        crlf(
            "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready",
            "a1 NO [UNAVAILABLE] TLS not available now",
        ),
        crlf("a1 STARTTLS"),
        Outcome.STARTTLS_REFUSED,
        "a1 NO [UNAVAILABLE] TLS not available now",
    ),
    Transcript(
        "refused-bad",
        "imap",
        crlf("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready", "a1 BAD command unknown"),
        crlf("a1 STARTTLS"),
        Outcome.STARTTLS_REFUSED,
        "a1 BAD command unknown",
    ),
    Transcript(
        "bye-greeting",
        "imap",
        crlf("* BYE Too many connections from your IP"),
        b"",
        Outcome.BUSY,
        "* BYE Too many connections from your IP",
    ),
    Transcript(
        "bye-mid-dialog",
        "imap",
        crlf("* OK ready", "* BYE shutting down"),
        crlf("a1 CAPABILITY"),
        Outcome.BUSY,
        "shutting down",
    ),
    # RFC 3501 section 6.2.1: STARTTLS is only valid before authentication.
    Transcript(
        "preauth",
        "imap",
        crlf("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in as joe"),
        b"",
        Outcome.STARTTLS_UNSUPPORTED,
        "PREAUTH greeting: * PREAUTH",
    ),
    Transcript(
        "capability-fails",
        "imap",
        crlf("* OK ready", "a1 BAD what?"),
        crlf("a1 CAPABILITY"),
        Outcome.STARTTLS_UNSUPPORTED,
        "CAPABILITY failed: a1 BAD what?",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


def test_bare_lf_line_endings_are_accepted():
    sent, dialog = run("imap", [b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\na1 OK go\n"])
    assert sent == b"a1 STARTTLS\r\n" and dialog.ready


@pytest.mark.parametrize(
    "server",
    [
        b"+OK POP3 server ready\r\n",  # wrong protocol on the port
        b"* OK [CAPABILITY STARTTLS] hi\r\na9 OK wrong tag\r\n",
        b"* OK [CAPABILITY STARTTLS] hi\r\n+ go ahead\r\n",
        b"* OK [CAPABILITY STARTTLS] hi\r\na1 MAYBE\r\n",
        b"* OK [CAPABILITY STARTTLS hi\r\n",
        b"* OK hi\r\n* X {99999999}\r\n",
    ],
)
def test_unexpected_replies_are_protocol_errors(server):
    with pytest.raises(DialogError):
        run("imap", [server])


def test_data_after_the_go_ahead_is_an_injection():
    with pytest.raises(DialogError):
        run("imap", [crlf("* OK [CAPABILITY STARTTLS] hi", "a1 OK go", "* injected")])
