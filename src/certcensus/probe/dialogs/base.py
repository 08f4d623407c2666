"""The interface every STARTTLS dialog implements: bytes in, bytes out, no I/O.

Modelled on h11: a dialog never touches a socket or a clock. The prober feeds it whatever the
server sent (`receive_data`) and writes back whatever it returns. A dialog ends in one of two
states: `ready` (the next bytes on the wire are our ClientHello) or `refusal` set (a classified
outcome with what the server said). A server that breaks the protocol's framing raises
`DialogError`, which the prober records as `protocol-error`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from certcensus.model.outcomes import Outcome
from certcensus.probe.identity.text import ServerIdentity

# What one server reply may occupy before we give up on it. Real SMTP EHLO replies are < 1 KiB;
# IMAP CAPABILITY lines rarely pass 2 KiB; 64 KiB leaves room for chatty banners while keeping a
# malicious server from making us buffer without bound (h11 uses 16 KiB for headers, nginx 8 KiB).
MAX_BUFFER = 64 * 1024


class DialogError(Exception):
    """The server broke the plaintext protocol: bad framing, an over-long reply, early EOF."""


@dataclass(frozen=True, slots=True)
class Refusal:
    outcome: Outcome
    server_said: str  # the server's reply, one line, printable


@dataclass(frozen=True, slots=True)
class DialogOption:
    """A setting a protocol needs from the user, declared by its dialog (the CLI offers it)."""

    name: str  # key in DialogOptions.values, e.g. "ehlo_name"
    flag: str  # the command-line flag, e.g. "--ehlo-name"
    default: str | None
    help: str


@dataclass(frozen=True, slots=True)
class DialogOptions:
    host: str  # the name the user gave (for XMPP's to=, HTTP Host, ...)
    values: Mapping[str, str | None] = field(default_factory=dict)  # by DialogOption.name

    def value(self, option: DialogOption) -> str | None:
        """The user's value for `option`, else its declared default."""
        given = self.values.get(option.name)
        return given if given is not None else option.default


class Dialog:
    """Base class: subclasses implement `_on_data` and declare who they are (zgrab2's module
    shape): `name` (openssl s_client's -starttls name where it has one) and its `aliases`, the
    `default_ports` that imply them, the URL `schemes` that name them (with each scheme's
    default port), and the `command_line_options` they read."""

    name: ClassVar[str]
    # Other names people type for the protocol (--starttls, targets files, URL schemes); the
    # registry reads each class's own, so a subclass does not inherit its parent's.
    aliases: ClassVar[tuple[str, ...]] = ()
    default_ports: ClassVar[tuple[int, ...]] = ()
    schemes: ClassVar[dict[str, int]] = {}
    command_line_options: ClassVar[tuple[DialogOption, ...]] = ()
    # Probes in flight to one target that the protocol's servers cope with, when lower than
    # --concurrency's default; an explicit --concurrency overrides it.
    polite_concurrency: ClassVar[int | None] = None

    def __init__(self, options: DialogOptions):
        self.options = options
        self.ready = False
        self.refusal: Refusal | None = None
        self._buffer = bytearray()
        self._eof = False
        # What the server said about itself (probe/identity/), for dialogs that learn it; kept
        # whatever the dialog's outcome, since a refusal names its backend too.
        self.identity: ServerIdentity | None = None

    @property
    def done(self) -> bool:
        return self.ready or self.refusal is not None

    def initiate(self) -> bytes:
        """Bytes the client sends before the server speaks (most protocols: none)."""
        return b""

    def receive_data(self, data: bytes) -> bytes:
        """Feed server bytes (b"" means the server closed); return the bytes to send back."""
        if self.done:
            raise DialogError("data after the dialog ended")
        if not data:
            self._eof = True
        else:
            self._buffer += data
            if len(self._buffer) > MAX_BUFFER:
                raise DialogError(f"server reply longer than {MAX_BUFFER} bytes")
        reply = self._on_data()
        if self._eof and not self.done:
            raise DialogError("server closed the connection during the STARTTLS dialog")
        if self.ready and self._buffer:
            # RFC 3207 section 5: anything after the go-ahead and before TLS is an injection.
            raise DialogError("server sent data after agreeing to start TLS")
        return reply

    def _on_data(self) -> bytes:
        raise NotImplementedError

    def _each_unit(self, take_unit, handle) -> bytes:
        """Hand every complete protocol unit (a line, a reply, a message) that `take_unit` cuts
        from the buffer to `handle`, until one is incomplete or the dialog ends; return the
        client bytes the handlers produced. `take_unit` is asked afresh each time, since a
        handler may change what the next unit looks like."""
        out = b""
        while not self.done:
            unit = take_unit(self._buffer)
            if unit is None:
                return out
            out += handle(unit)
        return out

    def _refuse(self, outcome: Outcome, server_said: str | bytes) -> bytes:
        self.refusal = Refusal(outcome, printable(server_said))
        return b""

    # Hooks for protocols that carry TLS inside their own framing (MSSQL's TDS): identity here.
    def wrap_tls(self, records: bytes) -> bytes:
        return records

    def unwrap_tls(self, data: bytes) -> bytes:
        return data


def printable(text: str | bytes, limit: int = 200) -> str:
    """One printable line of at most `limit` characters, for error messages and the store.

    Bytes are read as UTF-8 where they are UTF-8; any other byte and any control character is
    written as an escape (`\\x16\\x03`, `\\r\\n`; a backslash doubled), never as U+FFFD or
    "?", so a user can tell what the server spoke (a TLS record starts `\\x16\\x03`). Text
    has its runs of white space folded into one space.
    """
    if isinstance(text, bytes):
        pieces = [_escaped(ch) for ch in text.decode("utf-8", "surrogateescape")]
    else:
        pieces = [ch if ch.isprintable() else _escaped(ch) for ch in " ".join(text.split())]
    if sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    kept: list[str] = []
    room = limit - 3
    for piece in pieces:  # cut between escapes, never inside one
        room -= len(piece)
        if room < 0:
            break
        kept.append(piece)
    return "".join(kept) + "..."


def quoted(text: str | bytes, limit: int = 200) -> str:
    """`printable(text, limit)` in single quotes, for quoting what a server sent."""
    return f"'{printable(text, limit)}'"


_NAMED_ESCAPES = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _escaped(character: str) -> str:
    """One character of server output as printable text (see `printable`)."""
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (PEP 383's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if character in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[character]
    if character.isprintable():
        return character
    return "".join(f"\\x{byte:02x}" for byte in character.encode("utf-8", "surrogatepass"))


def server_text(data: bytes) -> str:
    """What a server said, as text: UTF-8 where it is, each other byte as `\\xNN`."""
    return data.decode("utf-8", "backslashreplace")


def take_line(buffer: bytearray) -> bytes | None:
    """Remove and return one line (without its CRLF or bare LF) from `buffer`, or None if incomplete.

    Servers are supposed to end lines with CRLF; a bare LF is accepted because real ones send it.
    """
    end = buffer.find(b"\n")
    if end < 0:
        return None
    line = bytes(buffer[:end])
    del buffer[: end + 1]
    return line[:-1] if line.endswith(b"\r") else line


@dataclass(frozen=True, slots=True)
class CodedReply:
    """A complete multi-line reply of the `250-first` ... `250 last` family (SMTP, LMTP, FTP)."""

    code: int
    lines: tuple[str, ...]  # the text after each code, in order

    @property
    def text(self) -> str:
        return f"{self.code} " + " / ".join(self.lines)


def take_coded_reply(buffer: bytearray) -> CodedReply | None:
    """Remove and return one whole coded reply from `buffer`, or None if it is not complete yet.

    RFC 5321 section 4.2.1: every line but the last has a hyphen after the code; the last has a
    space or nothing. Every line must carry the same code.
    """
    lines: list[str] = []
    code: int | None = None
    scan = bytearray(buffer)  # consume from a copy until the reply is known to be complete
    while True:
        line = take_line(scan)
        if line is None:
            return None
        if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3:4] not in b"- "):
            raise DialogError(f"malformed reply line: {quoted(line, 80)}")
        line_code = int(line[:3])
        if code is not None and line_code != code:
            raise DialogError(f"reply code changed mid-reply: {code} then {line_code}")
        code = line_code
        lines.append(server_text(line[4:]))
        if line[3:4] != b"-":
            del buffer[: len(buffer) - len(scan)]
            return CodedReply(code, tuple(lines))
