import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, crlf, run

TRANSCRIPTS = [
    # The IRCv3 tls extension's example reply, after the usual pre-registration notices.
    Transcript(
        "ircv3",
        "irc",
        crlf(
            ":irc.example.net NOTICE * :*** Looking up your hostname...",
            "NOTICE AUTH :*** Checking Ident",
            ":irc.example.net 670 * :STARTTLS successful, proceed with TLS handshake",
        ),
        crlf("STARTTLS"),
    ),
    Transcript(
        "ping-before-registration",
        "irc",
        crlf("PING :8F2A11C3", "@time=2024-01-01T00:00:00Z :irc.example.net 670 * :go ahead"),
        crlf("STARTTLS", "PONG :8F2A11C3"),
    ),
    Transcript(
        "refused",
        "irc",
        crlf(":irc.example.net 691 * :STARTTLS failed (no certificate)"),
        crlf("STARTTLS"),
        Outcome.STARTTLS_REFUSED,
        ":irc.example.net 691 * :STARTTLS failed (no certificate)",
    ),
    Transcript(
        "unknown-command",
        "irc",
        crlf(":irc.example.net NOTICE * :hi", ":irc.example.net 421 * STARTTLS :Unknown command"),
        crlf("STARTTLS"),
        Outcome.STARTTLS_UNSUPPORTED,
        "421 * STARTTLS :Unknown command",
    ),
    Transcript(
        "not-registered",
        "irc",
        crlf(":irc.example.net 451 * STARTTLS :You have not registered"),
        crlf("STARTTLS"),
        Outcome.STARTTLS_UNSUPPORTED,
        "451 * STARTTLS :You have not registered",
    ),
    Transcript(
        "closing-link",
        "irc",
        crlf("ERROR :Closing Link: 192.0.2.1 (Too many host connections (global))"),
        crlf("STARTTLS"),
        Outcome.BUSY,
        "Too many host connections",
    ),
    Transcript(
        "other-error-numeric",
        "irc",
        crlf(":irc.example.net 465 * :You are banned from this server"),
        crlf("STARTTLS"),
        Outcome.STARTTLS_REFUSED,
        "465 * :You are banned from this server",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


def test_an_endless_line_is_a_protocol_error():
    with pytest.raises(DialogError):
        run("irc", [b":x NOTICE * :" + b"a" * 10000])


def test_data_after_670_is_an_injection():
    with pytest.raises(DialogError):
        run("irc", [crlf(":s 670 * :go", ":s NOTICE * :injected")])
