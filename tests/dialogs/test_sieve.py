import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, crlf, run

RFC_CAPABILITIES = [
    '"IMPLEMENTATION" "Example1 ManageSieved v001"',
    '"SASL" "DIGEST-MD5 GSSAPI"',
    '"SIEVE" "fileinto vacation"',
    '"STARTTLS"',
    '"VERSION" "1.0"',
]

TRANSCRIPTS = [
    # RFC 5804 section 2.2 example.
    Transcript("rfc", "sieve", crlf(*RFC_CAPABILITIES, "OK", "OK"), crlf("STARTTLS")),
    # Literals (RFC 5804 section 4) and escaped quotes; the literal's content is not a status line.
    Transcript(
        "literals-and-escapes",
        "sieve",
        b'"IMPLEMENTATION" "Dovecot \\"Pigeonhole\\""\r\n'
        b'"SIEVE" {12}\r\nOK fileinto\r\n'
        b"{8+}\r\nSTARTTLS\r\n"
        b'OK (WARNINGS) "Dovecot ready."\r\n'
        b'OK "Begin TLS negotiation now"\r\n',
        crlf("STARTTLS"),
    ),
    Transcript(
        "not-advertised",
        "sieve",
        crlf('"IMPLEMENTATION" "x"', '"SASL" "PLAIN"', 'OK "ready"'),
        b"",
        Outcome.STARTTLS_UNSUPPORTED,
        "STARTTLS not advertised: IMPLEMENTATION SASL",
    ),
    Transcript(
        "refused",
        "sieve",
        crlf(*RFC_CAPABILITIES, "OK", 'NO "TLS not available"'),
        crlf("STARTTLS"),
        Outcome.STARTTLS_REFUSED,
        'NO "TLS not available"',
    ),
    Transcript(
        "bye-greeting",
        "sieve",
        crlf('BYE (TRYLATER) "Too many connections"'),
        b"",
        Outcome.BUSY,
        "Too many connections",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server",
    [b"* OK IMAP\r\n", b'"STARTTLS"\r\nOK\r\n"SASL"\r\n', b'"unterminated\r\n', b"\r\n"],
)
def test_unexpected_replies_are_protocol_errors(server):
    with pytest.raises(DialogError):
        run("sieve", [server])
