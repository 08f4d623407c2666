"""What the server says right after the handshake, for implicit-TLS services: sans-IO readers
the prober drives over the TLS object (it owns the socket and the clock).

`GreetingAfterTLS` reads the greeting of smtps/submissions (RFC 8314 section 3.3: the SMTP
session starts as on port 25, with TLS already up), imaps, pop3s, nntps and ftps, using the same
framing and the same name rules as the STARTTLS dialogs. `HeadRequest` (http_head.py) is its
sibling for HTTPS. Both end `done` with an `identity`; neither ever raises for what the server
sends, since a greeting that is huge, binary or missing must not fail the probe.
"""

from __future__ import annotations

from collections.abc import Callable

from certcensus.probe.dialogs.base import (
    MAX_BUFFER,
    DialogError,
    quoted,
    take_coded_reply,
    take_line,
)
from certcensus.probe.dialogs.framing import take_ftp_reply
from certcensus.probe.identity.greetings import (
    banner_identity,
    greeting_text_identity,
    smtp_greeting_identity,
)
from certcensus.probe.identity.text import ServerIdentity

# How long the prober waits for an implicit-TLS greeting after the handshake. Servers greet at
# once (Postfix, Dovecot, Exchange all do within milliseconds on a LAN), so 1 s is plenty and a
# server that never greets costs each probe at most that; --timeout, if shorter, wins.
GREETING_WAIT_SECONDS = 1.0


def _smtp(buffer: bytearray) -> ServerIdentity | None:
    reply = take_coded_reply(buffer)
    return None if reply is None else smtp_greeting_identity(reply.lines[0])


def _status_line(ok: bytes, not_ok: bytes) -> Callable[[bytearray], ServerIdentity | None]:
    def read(buffer: bytearray) -> ServerIdentity | None:
        line = take_line(buffer)
        if line is None:
            return None
        for status in (ok, not_ok):
            if line[: len(status)].upper() == status:
                return greeting_text_identity(line[len(status) :])
        raise DialogError(f"greeting is not {ok.decode().strip()}: {quoted(line, 80)}")

    return read


def _nntp(buffer: bytearray) -> ServerIdentity | None:
    line = take_line(buffer)
    if line is None:
        return None
    if not line[:3].isdigit():
        raise DialogError(f"greeting is not an NNTP status line: {quoted(line, 80)}")
    return banner_identity(line[4:])


def _ftp(buffer: bytearray) -> ServerIdentity | None:
    while (reply := take_ftp_reply(buffer)) is not None:
        code, lines = reply
        if not 100 <= code < 200:  # RFC 959 section 5.4: "120 ready in nnn minutes" first
            return banner_identity(" / ".join(line.strip() for line in lines))
    return None


# Implicit-TLS service -> how its greeting is framed and read.
GREETINGS: dict[str, Callable[[bytearray], ServerIdentity | None]] = {
    "smtps": _smtp,
    "submissions": _smtp,
    "imaps": _status_line(b"* OK ", b"* BYE "),
    "pop3s": _status_line(b"+OK", b"-ERR"),
    "nntps": _nntp,
    "ftps": _ftp,
}


class GreetingAfterTLS:
    """Bytes the server sent inside TLS in, `identity` out once the greeting is whole."""

    def __init__(self, service: str):
        self._read = GREETINGS[service]
        self._buffer = bytearray()
        self.identity: ServerIdentity | None = None

    @property
    def done(self) -> bool:
        return self.identity is not None

    def initiate(self) -> bytes:
        return b""  # the server speaks first

    def receive_data(self, data: bytes) -> None:
        if self.done:
            return
        if not data:
            self.identity = ServerIdentity(None, "server closed the connection before greeting")
            return
        self._buffer += data
        try:
            identity = self._read(self._buffer)
        except DialogError as error:
            self.identity = ServerIdentity(None, str(error))
            return
        if identity is not None:
            self.identity = identity
        elif len(self._buffer) > MAX_BUFFER:
            self.identity = ServerIdentity(None, f"greeting longer than {MAX_BUFFER} bytes")

    def gave_up(self, why: str) -> ServerIdentity:
        """The identity when the prober stops waiting (`why`: no greeting within ...)."""
        if self.identity is None:
            self.identity = ServerIdentity(None, why)
        return self.identity
