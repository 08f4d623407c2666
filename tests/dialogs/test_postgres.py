import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, postgres_error, run

SSL_REQUEST = bytes.fromhex("0000000804d2162f")  # int32 8, int32 80877103

TRANSCRIPTS = [
    Transcript("accepted", "postgres", b"S", SSL_REQUEST),
    Transcript(
        "no-ssl",
        "postgres",
        b"N",
        SSL_REQUEST,
        Outcome.STARTTLS_UNSUPPORTED,
        "N: the server does not accept SSL",
    ),
    Transcript(
        "too-many-clients",
        "postgres",
        postgres_error(S="FATAL", V="FATAL", C="53300", M="sorry, too many clients already"),
        SSL_REQUEST,
        Outcome.BUSY,
        "ErrorResponse: FATAL 53300 sorry, too many clients already",
    ),
    Transcript(
        "error",
        "postgres",
        postgres_error(S="FATAL", C="0A000", M="unsupported frontend protocol 1234.5679"),
        SSL_REQUEST,
        Outcome.STARTTLS_REFUSED,
        "FATAL 0A000 unsupported frontend protocol 1234.5679",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


def test_bytes_after_the_s_are_an_injection():
    # CVE-2021-23222: a man in the middle appends plaintext after 'S'.
    with pytest.raises(DialogError):
        run("postgres", [b"SHELLO"])


@pytest.mark.parametrize(
    "server", [b"R", b"HTTP/1.0 400\r\n", b"E\xff\xff\xff\xff", b"E\x00\x00\x00\x02"]
)
def test_unexpected_answers_are_protocol_errors(server):
    with pytest.raises(DialogError):
        run("postgres", [server])
