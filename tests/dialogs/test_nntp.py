import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, crlf, run

TRANSCRIPTS = [
    # RFC 4642 section 2.2.2 example.
    Transcript(
        "rfc",
        "nntp",
        crlf(
            "200 news.example.com NNTP service ready",
            "101 Capability list:",
            "VERSION 2",
            "READER",
            "IHAVE",
            "STARTTLS",
            "LIST ACTIVE NEWSGROUPS",
            ".",
            "382 Continue with TLS negotiation",
        ),
        crlf("CAPABILITIES", "STARTTLS"),
    ),
    Transcript(
        "no-posting",
        "nntp",
        crlf("201 read only", "101 list", "VERSION 2", "starttls", ".", "382 go"),
        crlf("CAPABILITIES", "STARTTLS"),
    ),
    Transcript(
        "not-advertised",
        "nntp",
        crlf("200 hi", "101 Capability list:", "VERSION 2", "READER", "."),
        crlf("CAPABILITIES"),
        Outcome.STARTTLS_UNSUPPORTED,
        "STARTTLS not in CAPABILITIES: VERSION 2 / READER",
    ),
    Transcript(
        "refused",
        "nntp",
        crlf("200 hi", "101 list", "STARTTLS", ".", "580 Can not initiate TLS negotiation"),
        crlf("CAPABILITIES", "STARTTLS"),
        Outcome.STARTTLS_REFUSED,
        "580 Can not initiate TLS negotiation",
    ),
    Transcript(
        "busy",
        "nntp",
        crlf("400 Service temporarily unavailable"),
        b"",
        Outcome.BUSY,
        "400 Service temporarily unavailable",
    ),
    Transcript(
        "permanently-unavailable",
        "nntp",
        crlf("502 Service permanently unavailable"),
        b"",
        Outcome.STARTTLS_REFUSED,
        "greeting: 502 Service permanently unavailable",
    ),
    Transcript(
        "rfc977-server",
        "nntp",
        crlf("200 old server", "500 What?"),
        crlf("CAPABILITIES"),
        Outcome.STARTTLS_UNSUPPORTED,
        "CAPABILITIES failed: 500 What?",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server", [b"+OK hi\r\n", b"200-hi\r\n", b"200 hi\r\n101 x\r\nSTARTTLS\r\n.\r\nyes\r\n"]
)
def test_unexpected_replies_are_protocol_errors(server):
    with pytest.raises(DialogError):
        run("nntp", [server])
