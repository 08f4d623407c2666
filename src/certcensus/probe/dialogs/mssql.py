"""Microsoft SQL Server TLS ([MS-TDS] sections 2.2.6.5 PRELOGIN and 3.2.5.1): PRELOGIN, then TLS
carried inside TDS packets.

    C: TDS packet 0x12 PRELOGIN { VERSION, ENCRYPTION=ENCRYPT_ON, INSTOPT, THREADID, MARS }
    S: TDS packet 0x04 PRELOGIN response { VERSION, ENCRYPTION=ENCRYPT_ON/OFF/REQ/NOT_SUP, ... }
    C: TDS packet 0x12 { TLS ClientHello }         (wrap_tls)
    S: TDS packet 0x12 { TLS ServerHello ... }     (unwrap_tls)

Unlike every other dialog, TDS 7.x wraps the TLS handshake records in its own PRELOGIN packets,
so the prober must pass TLS bytes through `wrap_tls` / `unwrap_tls` until the handshake is done.
"""

from __future__ import annotations

import struct

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import MAX_BUFFER, Dialog, DialogError

PRELOGIN = 0x12
TABULAR_RESULT = 0x04  # the server's PRELOGIN response travels in a tabular result packet
STATUS_END_OF_MESSAGE = 0x01
HEADER = struct.Struct("!BBHHBB")  # type, status, length (header included), SPID, PacketID, Window
# [MS-TDS] 2.2.6.4: the packet size before login is 4096 bytes; 32767 is the protocol maximum.
PACKET_SIZE = 4096
MAX_PACKET_SIZE = 32767

VERSION, ENCRYPTION, INSTOPT, THREADID, MARS, TERMINATOR = 0x00, 0x01, 0x02, 0x03, 0x04, 0xFF
ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP, ENCRYPT_REQ = 0x00, 0x01, 0x02, 0x03


def tds_packets(kind: int, payload: bytes, first_packet_id: int = 1) -> bytes:
    """`payload` cut into TDS packets of `kind`, the last one marked end-of-message."""
    room = PACKET_SIZE - HEADER.size
    pieces = [payload[i : i + room] for i in range(0, len(payload), room)] or [b""]
    out = bytearray()
    for index, piece in enumerate(pieces):
        status = STATUS_END_OF_MESSAGE if index == len(pieces) - 1 else 0
        packet_id = (first_packet_id + index) % 256
        out += HEADER.pack(kind, status, HEADER.size + len(piece), 0, packet_id, 0) + piece
    return bytes(out)


def prelogin_payload() -> bytes:
    # [MS-TDS] 2.2.6.5: option tokens (type, offset, length), 0xFF, then the option data.
    # VERSION is the client's (6 bytes: UL_VERSION, US_SUBBUILD); zero says "not a real driver".
    options = [
        (VERSION, bytes(6)),
        (ENCRYPTION, bytes([ENCRYPT_ON])),
        (INSTOPT, b"\0"),  # empty instance name: the default instance
        (THREADID, bytes(4)),
        (MARS, b"\0"),
    ]
    offset = 5 * len(options) + 1
    tokens, data = bytearray(), bytearray()
    for kind, value in options:
        tokens += struct.pack("!BHH", kind, offset + len(data), len(value))
        data += value
    return bytes(tokens) + bytes([TERMINATOR]) + bytes(data)


def prelogin_options(payload: bytes) -> dict[int, bytes]:
    """The option values of a PRELOGIN message, by option type."""
    options: dict[int, bytes] = {}
    position = 0
    while True:
        if position >= len(payload):
            raise DialogError("PRELOGIN option list without its 0xFF terminator")
        kind = payload[position]
        if kind == TERMINATOR:
            return options
        if position + 5 > len(payload):
            raise DialogError("PRELOGIN option token cut short")
        offset, length = struct.unpack("!HH", payload[position + 1 : position + 5])
        if offset + length > len(payload):
            raise DialogError(f"PRELOGIN option 0x{kind:02x} points past the message")
        options[kind] = payload[offset : offset + length]
        position += 5


class _PacketReader:
    """Reassembles TDS packets from arbitrary splits of the byte stream."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def take_packets(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Feed `data`; return the (type, status, payload) of every packet now complete."""
        self._pending += data
        if len(self._pending) > MAX_BUFFER:
            raise DialogError(f"TDS data beyond {MAX_BUFFER} bytes without a whole packet")
        packets = []
        while len(self._pending) >= HEADER.size:
            kind, status, length, _spid, _packet_id, _window = HEADER.unpack_from(self._pending)
            if length < HEADER.size or length > MAX_PACKET_SIZE:
                raise DialogError(f"TDS packet length {length}")
            if len(self._pending) < length:
                break
            packets.append((kind, status, bytes(self._pending[HEADER.size : length])))
            del self._pending[:length]
        return packets


class MSSQLDialog(Dialog):
    name = "mssql"
    default_ports = (1433,)
    schemes = {"mssql": 1433}
    aliases = ("tds", "sqlserver")

    def __init__(self, options):
        super().__init__(options)
        self._message = bytearray()  # the PRELOGIN response, across packets
        self._tls_in = _PacketReader()
        self._next_packet_id = 2  # PRELOGIN took 1

    def initiate(self) -> bytes:
        return tds_packets(PRELOGIN, prelogin_payload())

    def _on_data(self) -> bytes:
        while len(self._buffer) >= HEADER.size and not self.done:
            kind, status, length, *_ = HEADER.unpack_from(self._buffer)
            if kind != TABULAR_RESULT:
                raise DialogError(f"TDS packet type 0x{kind:02x}, expected a PRELOGIN response")
            if length < HEADER.size or length > MAX_PACKET_SIZE:
                raise DialogError(f"TDS packet length {length}")
            if len(self._buffer) < length:
                return b""
            self._message += self._buffer[HEADER.size : length]
            del self._buffer[:length]
            if len(self._message) > MAX_BUFFER:
                raise DialogError(f"PRELOGIN response longer than {MAX_BUFFER} bytes")
            if status & STATUS_END_OF_MESSAGE:
                self._on_prelogin_response(bytes(self._message))
        return b""

    def _on_prelogin_response(self, payload: bytes) -> None:
        encryption = prelogin_options(payload).get(ENCRYPTION)
        if encryption is None or len(encryption) != 1:
            raise DialogError("PRELOGIN response without a one-byte ENCRYPTION option")
        value = encryption[0]
        if value == ENCRYPT_NOT_SUP:
            # [MS-TDS] 2.2.6.5: ENCRYPT_NOT_SUP, "encryption is not available".
            self._refuse(Outcome.STARTTLS_UNSUPPORTED, "PRELOGIN ENCRYPTION=ENCRYPT_NOT_SUP")
        elif value in (ENCRYPT_ON, ENCRYPT_REQ, ENCRYPT_OFF):
            # ENCRYPT_OFF still means a TLS handshake follows (the login is then encrypted).
            self.ready = True
        else:
            raise DialogError(f"PRELOGIN ENCRYPTION value 0x{value:02x}")

    def wrap_tls(self, records: bytes) -> bytes:
        """TLS bytes to send, in TDS PRELOGIN packets ([MS-TDS] 3.2.5.1: during the handshake)."""
        if not records:
            return b""
        packets = tds_packets(PRELOGIN, records, self._next_packet_id)
        room = PACKET_SIZE - HEADER.size
        self._next_packet_id = (self._next_packet_id + -(-len(records) // room)) % 256
        return packets

    def unwrap_tls(self, data: bytes) -> bytes:
        """The TLS bytes inside TDS packets received during the handshake, reassembled across
        reads: returns the payload of every packet completed by `data` (b"" until one is)."""
        return b"".join(payload for _kind, _status, payload in self._tls_in.take_packets(data))
