"""MySQL/MariaDB SSL (MySQL client/server protocol, "Protocol::HandshakeV10" and "SSLRequest").

    S: packet 0: HandshakeV10 (protocol 10, server version, ..., capability flags incl. CLIENT_SSL)
    C: packet 1: SSLRequest (capability flags, max packet size, character set, 23 zero bytes)
    then the ClientHello.

Every packet has a 4-byte header: payload length (3 bytes, little-endian) and a sequence id.
A server that turns us away sends an ERR packet (0xff, error code, message) instead of the
greeting.
"""

from __future__ import annotations

import struct

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import MAX_BUFFER, Dialog, DialogError, printable
from certcensus.probe.identity.greetings import mysql_version_identity

CLIENT_LONG_PASSWORD = 0x0001
CLIENT_PROTOCOL_41 = 0x0200
CLIENT_SSL = 0x0800
CLIENT_SECURE_CONNECTION = 0x8000
OUR_CAPABILITIES = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION
MAX_PACKET_SIZE = 16 * 1024 * 1024
UTF8_GENERAL_CI = 33  # known to every server since 4.1; only the login that never comes uses it
ERR = 0xFF
# ER_CON_COUNT_ERROR "Too many connections", ER_TOO_MANY_USER_CONNECTIONS, ER_SERVER_SHUTDOWN,
# and 1129 ER_HOST_IS_BLOCKED (too many connection errors; a temporary block).
BUSY_ERRORS = (1040, 1203, 1053, 1129)


def ssl_request_packet() -> bytes:
    payload = struct.pack("<IIB23x", OUR_CAPABILITIES, MAX_PACKET_SIZE, UTF8_GENERAL_CI)
    return len(payload).to_bytes(3, "little") + b"\x01" + payload


class MySQLDialog(Dialog):
    name = "mysql"
    default_ports = (3306,)
    schemes = {"mysql": 3306}
    aliases = ("mariadb",)

    def _on_data(self) -> bytes:
        if len(self._buffer) < 4:
            return b""
        length = int.from_bytes(self._buffer[:3], "little")
        if length == 0 or length > MAX_BUFFER:
            raise DialogError(f"greeting packet of {length} bytes")
        if len(self._buffer) < 4 + length:
            return b""
        payload = bytes(self._buffer[4 : 4 + length])
        del self._buffer[: 4 + length]
        if payload[0] == ERR:
            return self._on_error(payload)
        return self._on_greeting(payload)

    def _on_error(self, payload: bytes) -> bytes:
        if len(payload) < 3:
            raise DialogError("ERR packet without an error code")
        (code,) = struct.unpack("<H", payload[1:3])
        message = payload[3:]
        if message.startswith(b"#"):  # "#" and a 5-character SQL state, when present
            message = message[6:]
        said = f"ERROR {code}: {printable(message)}"
        return self._refuse(Outcome.BUSY if code in BUSY_ERRORS else Outcome.STARTTLS_REFUSED, said)

    def _on_greeting(self, payload: bytes) -> bytes:
        protocol = payload[0]
        if protocol != 10:
            if protocol == 9:  # MySQL 3.21 and older: no SSL in the protocol at all
                return self._refuse(Outcome.STARTTLS_UNSUPPORTED, "protocol version 9 greeting")
            raise DialogError(f"greeting with protocol version {protocol}")
        version_end = payload.find(b"\0", 1)
        if version_end < 0:
            raise DialogError("greeting without a NUL-terminated server version")
        version = printable(payload[1:version_end], 60)
        self.identity = mysql_version_identity(payload[1:version_end])
        # After the version: connection id (4), auth-plugin-data-part-1 (8), filler (1), then the
        # lower two bytes of the capability flags.
        flags_at = version_end + 1 + 4 + 8 + 1
        if len(payload) < flags_at + 2:
            raise DialogError("greeting too short for capability flags")
        (capabilities,) = struct.unpack("<H", payload[flags_at : flags_at + 2])
        if not capabilities & CLIENT_SSL:
            return self._refuse(
                Outcome.STARTTLS_UNSUPPORTED, f"server {version} does not set CLIENT_SSL"
            )
        if not capabilities & CLIENT_PROTOCOL_41:
            # Pre-4.1 servers expect a shorter SSLRequest; none of them is worth a second format.
            said = f"server {version} predates protocol 4.1"
            return self._refuse(Outcome.STARTTLS_UNSUPPORTED, said)
        self.ready = True
        return ssl_request_packet()
