import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import (
    Transcript,
    check_transcript,
    mysql_error,
    mysql_greeting,
    mysql_packet,
    run,
)

# Capabilities of a MySQL 8.0 server with TLS (CLIENT_SSL 0x800 set).
MYSQL8_CAPABILITIES = 0xDFFFFFFF
# SSLRequest: length 32, sequence 1; capabilities LONG_PASSWORD|PROTOCOL_41|SSL|SECURE_CONNECTION
# (0x8a01), max packet 16 MiB, utf8_general_ci (33), 23 zero bytes.
SSL_REQUEST = bytes.fromhex("20000001018a00000000000121") + bytes(23)

TRANSCRIPTS = [
    Transcript("mysql-8", "mysql", mysql_greeting(b"8.0.36", MYSQL8_CAPABILITIES), SSL_REQUEST),
    Transcript(
        "no-ssl",
        "mysql",
        mysql_greeting(b"5.5.5-10.11.6-MariaDB", MYSQL8_CAPABILITIES & ~0x800),
        b"",
        Outcome.STARTTLS_UNSUPPORTED,
        "server 5.5.5-10.11.6-MariaDB does not set CLIENT_SSL",
    ),
    Transcript(
        "too-many-connections",
        "mysql",
        mysql_error(1040, b"Too many connections"),
        b"",
        Outcome.BUSY,
        "ERROR 1040: Too many connections",
    ),
    Transcript(
        "host-not-allowed",
        "mysql",
        mysql_error(1130, b"#HY000Host '10.0.0.9' is not allowed to connect to this MySQL server"),
        b"",
        Outcome.STARTTLS_REFUSED,
        "ERROR 1130: Host '10.0.0.9' is not allowed to connect",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server",
    [
        mysql_packet(0, b"\x0b8.0\0"),  # unknown protocol version
        mysql_packet(0, b"\x0a8.0.36\0" + bytes(5)),  # cut before the capability flags
        mysql_packet(0, b"\x0a8.0.36"),  # version never terminated
        mysql_packet(0, b"\xff\x10"),  # ERR without its code
        b"\x00\x00\x00\x00",  # empty packet
        b"\xff\xff\xff\x00",  # 16 MiB packet
    ],
)
def test_broken_greetings_are_protocol_errors(server):
    with pytest.raises(DialogError):
        run("mysql", [server])
