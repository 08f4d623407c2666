"""A ClientHello parser for the tests: what a real client (OpenSSL, the JDK, curl) or our engine
put on the wire, reduced to the fields a profile is made of."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

from certcensus.probe.native.wire import Reader

GREASE = {0x0A0A + 0x1010 * i for i in range(16)}  # RFC 8701 values, ignored in comparisons


@dataclass(frozen=True)
class ParsedHello:
    record_version: int
    legacy_version: int
    session_id: bytes
    cipher_suites: tuple[int, ...]
    extensions: tuple[tuple[int, bytes], ...]

    @property
    def extension_types(self) -> tuple[int, ...]:
        return tuple(kind for kind, _ in self.extensions if kind not in GREASE)

    def extension(self, kind: int) -> bytes | None:
        return next((body for k, body in self.extensions if k == kind), None)

    def _u16_list(self, kind: int, prefix: int) -> tuple[int, ...]:
        body = self.extension(kind)
        if body is None:
            return ()
        data = body[prefix:]
        values = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        return tuple(v for v in values if v not in GREASE)

    @property
    def groups(self) -> tuple[int, ...]:
        return self._u16_list(10, 2)

    @property
    def signature_algorithms(self) -> tuple[int, ...]:
        return self._u16_list(13, 2)

    @property
    def signature_algorithms_cert(self) -> tuple[int, ...]:
        return self._u16_list(50, 2)

    @property
    def versions(self) -> tuple[int, ...]:
        return self._u16_list(43, 1)

    @property
    def key_share_groups(self) -> tuple[int, ...]:
        body = self.extension(51)
        if body is None:
            return ()
        reader = Reader(body, "key_share")
        entries = reader.sub16("shares")
        groups = []
        while entries.remaining():
            group = entries.uint16()
            entries.vector16()
            if group not in GREASE:
                groups.append(group)
        return tuple(groups)

    @property
    def server_name(self) -> str | None:
        body = self.extension(0)
        return body[5:].decode() if body else None


def parse_client_hello_records(data: bytes) -> ParsedHello:
    """The first ClientHello in `data` (one or more handshake records)."""
    record_version = int.from_bytes(data[1:3], "big")
    handshake = bytearray()
    position = 0
    while position + 5 <= len(data):
        length = int.from_bytes(data[position + 3 : position + 5], "big")
        handshake += data[position + 5 : position + 5 + length]
        position += 5 + length
        if len(handshake) >= 4 and len(handshake) >= 4 + int.from_bytes(handshake[1:4], "big"):
            break
    body = bytes(handshake[4 : 4 + int.from_bytes(handshake[1:4], "big")])
    reader = Reader(body, "ClientHello")
    legacy_version = reader.uint16()
    reader.raw(32)
    session_id = reader.vector8()
    suites_reader = reader.sub16("suites")
    suites = []
    while suites_reader.remaining():
        suite = suites_reader.uint16()
        if suite not in GREASE:
            suites.append(suite)
    reader.vector8()
    extensions = []
    if reader.remaining():
        block = reader.sub16("extensions")
        while block.remaining():
            kind = block.uint16()
            extensions.append((kind, block.vector16()))
    return ParsedHello(record_version, legacy_version, session_id, tuple(suites), tuple(extensions))


def capture_client_hello_from(connect, timeout: float = 20.0) -> bytes:
    """Listen on a loopback port, call `connect(port)` (which starts a real client), and return
    the bytes of the first ClientHello it sends; the client is then cut off."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(timeout)
    port = listener.getsockname()[1]
    result: dict[str, bytes] = {}

    def accept() -> None:
        connection, _ = listener.accept()
        connection.settimeout(timeout)
        data = b""
        with connection:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) >= 5:
                    try:
                        parse_client_hello_records(data)
                        break
                    except Exception:  # noqa: BLE001 - incomplete: read on
                        continue
        result["hello"] = data

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        connect(port)
    finally:
        thread.join(timeout)
        listener.close()
    return result["hello"]
