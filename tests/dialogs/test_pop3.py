import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, crlf, run

# RFC 2449 section 6's CAPA example, with STLS (RFC 2595 section 4).
RFC_CAPABILITIES = [
    "+OK Capability list follows",
    "TOP",
    "USER",
    "SASL CRAM-MD5 KERBEROS_V4",
    "RESP-CODES",
    "LOGIN-DELAY 900",
    "PIPELINING",
    "EXPIRE 60",
    "UIDL",
    "IMPLEMENTATION Shlemazle-Plotz-v302",
]

TRANSCRIPTS = [
    Transcript(
        "rfc",
        "pop3",
        crlf(
            "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
            *RFC_CAPABILITIES,
            "STLS",
            ".",
            "+OK Begin TLS negotiation",
        ),
        crlf("CAPA", "STLS"),
    ),
    Transcript(
        "not-advertised",
        "pop3",
        crlf("+OK ready", *RFC_CAPABILITIES, "."),
        crlf("CAPA"),
        Outcome.STARTTLS_UNSUPPORTED,
        "STLS not in CAPA: TOP / USER",
    ),
    # Dot-stuffing (RFC 1939 section 3): "..STLS" is the capability ".STLS", not STLS.
    Transcript(
        "dot-stuffed",
        "pop3",
        crlf("+OK ready", "+OK", "..STLS", "."),
        crlf("CAPA"),
        Outcome.STARTTLS_UNSUPPORTED,
        "STLS not in CAPA: .STLS",
    ),
    Transcript(
        "refused",
        "pop3",
        crlf("+OK ready", "+OK", "STLS", ".", "-ERR TLS support not configured"),
        crlf("CAPA", "STLS"),
        Outcome.STARTTLS_REFUSED,
        "-ERR TLS support not configured",
    ),
    Transcript(
        "busy-greeting",
        "pop3",
        crlf("-ERR [SYS/TEMP] Max connections reached"),
        b"",
        Outcome.BUSY,
        "-ERR [SYS/TEMP] Max connections reached",
    ),
    Transcript(
        "no-capa",
        "pop3",
        crlf("+OK ready", "-ERR unknown command"),
        crlf("CAPA"),
        Outcome.STARTTLS_UNSUPPORTED,
        "CAPA failed: -ERR unknown command",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server", [b"* OK IMAP ready\r\n", b"+OK hi\r\n+OK\r\nSTLS\r\n.\r\nOK\r\n"]
)
def test_unexpected_replies_are_protocol_errors(server):
    with pytest.raises(DialogError):
        run("pop3", [server])
