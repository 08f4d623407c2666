import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, crlf, run

TRANSCRIPTS = [
    # RFC 4217 section 4 and 6, RFC 2389 section 3.2 FEAT layout.
    Transcript(
        "rfc",
        "ftp",
        crlf(
            "220 ProFTPD Server ready.",
            "211-Features:",
            " AUTH TLS",
            " PBSZ",
            " PROT",
            " MDTM",
            "211 End",
            "234 AUTH TLS successful",
        ),
        crlf("FEAT", "AUTH TLS"),
    ),
    # RFC 959 section 4.2: inner lines of a multi-line reply may start with anything, even digits.
    Transcript(
        "multi-line-greeting-without-feat",
        "ftp",
        crlf(
            "220-Welcome to the archive",
            "This server runs 220 mirrors",
            "230 users max",
            "220-more",
            "220 ready",
            "500 FEAT not understood",
            "234 Proceed",
        ),
        crlf("FEAT", "AUTH TLS"),
    ),
    Transcript(
        "auth-mechanism-list",
        "ftp",
        crlf(
            "220 hi",
            "211-Extensions supported:",
            " SIZE",
            " AUTH TLS;TLS-C;SSL;TLS-P",
            "211 END",
            "234 AUTH command ok",
        ),
        crlf("FEAT", "AUTH TLS"),
    ),
    Transcript(
        "delayed-greeting",
        "ftp",
        crlf(
            "120 Service ready in 1 minute",
            "220 now ready",
            "211-Features:",
            " AUTH TLS",
            "211 End",
            "234 go",
        ),
        crlf("FEAT", "AUTH TLS"),
    ),
    Transcript(
        "not-in-feat",
        "ftp",
        crlf("220 vsftpd 3.0.3", "211-Features:", " EPRT", " PASV", " UTF8", "211 End"),
        crlf("FEAT"),
        Outcome.STARTTLS_UNSUPPORTED,
        "AUTH TLS not in FEAT: 211 Features: / EPRT / PASV / UTF8 / End",
    ),
    Transcript(
        "refused",
        "ftp",
        crlf(
            "220 hi",
            "211-Features:",
            " AUTH TLS",
            "211 End",
            "431 Unable to accept security mechanism",
        ),
        crlf("FEAT", "AUTH TLS"),
        Outcome.STARTTLS_REFUSED,
        "431 Unable to accept security mechanism",
    ),
    Transcript(
        "unknown-after-failed-feat",
        "ftp",
        crlf("220 hi", "502 FEAT not implemented", "502 AUTH not implemented"),
        crlf("FEAT", "AUTH TLS"),
        Outcome.STARTTLS_UNSUPPORTED,
        "502 AUTH not implemented",
    ),
    Transcript(
        "busy",
        "ftp",
        crlf("421-Too many users", "421 try later"),
        b"",
        Outcome.BUSY,
        "421 Too many users / try later",
    ),
    Transcript(
        "greeting-refusal",
        "ftp",
        crlf("530 Access denied"),
        b"",
        Outcome.STARTTLS_REFUSED,
        "greeting: 530 Access denied",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server", [b"SSH-2.0-OpenSSH_9.6\r\n", b"22\r\n", b"220 hi\r\n250 odd\r\n"]
)
def test_unexpected_replies_are_protocol_errors(server):
    with pytest.raises(DialogError):
        run("ftp", [server])
