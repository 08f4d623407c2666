import pytest

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import DialogError

from .transcripts import Transcript, check_transcript, run

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
START_TLS, FOLLOWS, ECHO, TTYPE, NAWS = 46, 1, 1, 24, 31
WILL_START_TLS = bytes([IAC, WILL, START_TLS])
FOLLOWS_SB = bytes([IAC, SB, START_TLS, FOLLOWS, IAC, SE])

TRANSCRIPTS = [
    # draft-altman-telnet-starttls: DO START_TLS, then both sides send FOLLOWS.
    Transcript(
        "draft", "telnet", bytes([IAC, DO, START_TLS]) + FOLLOWS_SB, WILL_START_TLS + FOLLOWS_SB
    ),
    # Other options are refused; text and escaped 255s are skipped; a sub-negotiation of a
    # refused option is ignored.
    Transcript(
        "other-options",
        "telnet",
        bytes([IAC, DO, TTYPE, IAC, WILL, ECHO, IAC, DO, NAWS])
        + b"Debian GNU/Linux 12\r\n"
        + bytes([IAC, IAC])
        + b"\r\n"
        + bytes([IAC, DO, START_TLS, IAC, SB, TTYPE, 1, IAC, SE, IAC, WONT, 3])
        + bytes([IAC, 241])  # NOP
        + FOLLOWS_SB,
        WILL_START_TLS + bytes([IAC, WONT, TTYPE, IAC, DONT, ECHO, IAC, WONT, NAWS]) + FOLLOWS_SB,
    ),
    Transcript(
        "refused-option",
        "telnet",
        b"login: " + bytes([IAC, DONT, START_TLS]),
        WILL_START_TLS,
        Outcome.STARTTLS_UNSUPPORTED,
        "IAC DONT START_TLS",
    ),
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=str)
def test_transcript_in_every_split(transcript):
    check_transcript(transcript)


@pytest.mark.parametrize(
    "server",
    [
        FOLLOWS_SB,  # FOLLOWS before the server agreed
        bytes([IAC, DO, START_TLS, IAC, SB, START_TLS, 2, IAC, SE]),  # unknown sub-command
        bytes([IAC, SB, TTYPE]) + bytes(2000),  # sub-negotiation without end
        bytes([IAC, DO, START_TLS]) + FOLLOWS_SB + b"x",  # data after FOLLOWS
    ],
)
def test_broken_negotiation_is_a_protocol_error(server):
    with pytest.raises(DialogError):
        run("telnet", [server])
