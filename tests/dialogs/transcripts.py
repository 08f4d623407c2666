"""Recorded-style STARTTLS exchanges for every dialog, and the helpers the tests share.

Each transcript is what a server sends (all of it, in order) and what a correct client sends back
(its `initiate()` bytes included), with the end state: ready, or a refusal naming the server's
words. Feeding the server bytes in any split must give the same client bytes and end state.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs import DIALOGS, DialogOptions
from certcensus.probe.dialogs.base import Dialog

OPTIONS = DialogOptions(host="example.com")
READY = None


@dataclass(frozen=True)
class Transcript:
    name: str
    protocol: str
    server: bytes
    client: bytes
    outcome: Outcome | None = READY  # None: the dialog ends ready for the ClientHello
    said: str = ""  # words the refusal's server_said must contain
    options: DialogOptions = field(default=OPTIONS)

    def __str__(self) -> str:
        return self.name


def run(protocol: str, chunks, options: DialogOptions = OPTIONS) -> tuple[bytes, Dialog]:
    """Feed `chunks` of server bytes to a fresh dialog; return all client bytes and the dialog."""
    dialog = DIALOGS[protocol](options)
    sent = dialog.initiate()
    for chunk in chunks:
        sent += dialog.receive_data(chunk)
    return sent, dialog


def end_state(dialog: Dialog):
    if dialog.ready:
        return ("ready",)
    if dialog.refusal is not None:
        return (dialog.refusal.outcome, dialog.refusal.server_said)
    return ("unfinished",)


def check_transcript(transcript: Transcript) -> None:
    """The whole exchange, then every 1-byte and 2-way split, then an early close at every byte."""
    sent, dialog = run(transcript.protocol, [transcript.server], transcript.options)
    assert sent == transcript.client
    if transcript.outcome is READY:
        assert dialog.ready and dialog.refusal is None
    else:
        assert not dialog.ready
        assert dialog.refusal is not None and dialog.refusal.outcome == transcript.outcome
        assert transcript.said in dialog.refusal.server_said
    expected = (sent, end_state(dialog))

    server = transcript.server
    byte_by_byte = [server[i : i + 1] for i in range(len(server))]
    sent, dialog = run(transcript.protocol, byte_by_byte, transcript.options)
    assert (sent, end_state(dialog)) == expected, "fed one byte at a time"
    for cut in range(1, len(server)):
        sent, dialog = run(transcript.protocol, [server[:cut], server[cut:]], transcript.options)
        assert (sent, end_state(dialog)) == expected, f"split at byte {cut}"
    check_early_close(transcript)


def check_early_close(transcript: Transcript) -> None:
    """A server that closes after any proper prefix of its transcript is a protocol error."""
    import pytest

    from certcensus.probe.dialogs.base import DialogError

    for cut in range(len(transcript.server)):
        dialog = DIALOGS[transcript.protocol](transcript.options)
        dialog.initiate()
        if cut:
            dialog.receive_data(transcript.server[:cut])
        assert not dialog.done, f"done after only {cut} bytes"
        with pytest.raises(DialogError):
            dialog.receive_data(b"")


def crlf(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode()


# --- BER, PostgreSQL, MySQL, TDS and TPKT builders, written independently of the dialogs ------


def ber(tag: int, value: bytes) -> bytes:
    if len(value) < 0x80:
        return bytes([tag, len(value)]) + value
    size = len(value).to_bytes(4, "big").lstrip(b"\0")
    return bytes([tag, 0x80 | len(size)]) + size + value


def ldap_extended_response(
    message_id: int, code: int, diagnostic: bytes = b"", name: bytes = b""
) -> bytes:
    body = ber(0x0A, bytes([code])) + ber(0x04, b"") + ber(0x04, diagnostic)
    if name:
        body += ber(0x8A, name)
    return ber(0x30, ber(0x02, bytes([message_id])) + ber(0x78, body))


def postgres_error(**fields: str) -> bytes:
    body = b"".join(key.encode() + value.encode() + b"\0" for key, value in fields.items()) + b"\0"
    return b"E" + struct.pack("!I", 4 + len(body)) + body


def mysql_packet(sequence: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload


def mysql_greeting(version: bytes, capabilities: int) -> bytes:
    payload = (
        b"\x0a"
        + version
        + b"\0"
        + struct.pack("<I", 42)
        + b"saltsalt"
        + b"\0"
        + struct.pack("<H", capabilities & 0xFFFF)
        + b"\xff"
        + struct.pack("<H", 2)
        + struct.pack("<H", capabilities >> 16)
        + b"\x15"
        + bytes(10)
        + b"moresaltmore\0"
        + b"caching_sha2_password\0"
    )
    return mysql_packet(0, payload)


def mysql_error(code: int, message: bytes) -> bytes:
    return mysql_packet(0, b"\xff" + struct.pack("<H", code) + message)


def tds_packet(kind: int, payload: bytes, last: bool = True, packet_id: int = 1) -> bytes:
    return (
        struct.pack("!BBHHBB", kind, 1 if last else 0, 8 + len(payload), 0, packet_id, 0) + payload
    )


def prelogin_response(encryption: int) -> bytes:
    """A SQL Server 2019 style PRELOGIN response: VERSION, ENCRYPTION, INSTOPT, THREADID, MARS."""
    version, instopt, threadid, mars = bytes.fromhex("0f0007d00000"), b"\0", b"", b"\0"
    values = [(0, version), (1, bytes([encryption])), (2, instopt), (3, threadid), (4, mars)]
    offset = 5 * len(values) + 1
    tokens, data = b"", b""
    for kind, value in values:
        tokens += struct.pack("!BHH", kind, offset + len(data), len(value))
        data += value
    return tokens + b"\xff" + data


def x224_confirm(negotiation: bytes) -> bytes:
    x224 = bytes([6 + len(negotiation), 0xD0, 0, 0, 0x12, 0x34, 0]) + negotiation
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def rdp_negotiation(kind: int, value: int) -> bytes:
    return struct.pack("<BBHI", kind, 0, 8, value)
