"""The ServerHello (and HelloRetryRequest, which shares its format), parsed and kept whole:
RFC 8446 section 4.1.3, RFC 5246 section 7.4.1.3.

The parsed hello is part of the engine's result: negotiated version, cipher suite and the
extension types in wire order are what a JA3S/JA4S-style server fingerprint is computed from.
"""

from __future__ import annotations

from dataclasses import dataclass

from certcensus.probe.native import codes
from certcensus.probe.native.wire import Reader

# RFC 8446 section 4.1.3: a HelloRetryRequest is a ServerHello with this random (SHA-256 of
# "HelloRetryRequest").
HELLO_RETRY_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)
# Section 4.1.3: a TLS 1.3 server that negotiates TLS 1.2 or below ends its random with these.
DOWNGRADE_TO_TLS12 = b"DOWNGRD\x01"
DOWNGRADE_TO_TLS11_OR_BELOW = b"DOWNGRD\x00"


@dataclass(frozen=True, slots=True)
class ServerHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: tuple[tuple[int, bytes], ...]  # (type, body), in wire order
    message: bytes  # the whole handshake message, header included
    # The negotiated version: supported_versions if the server sent it (TLS 1.3, RFC 8446
    # section 4.2.1), else legacy_version.
    version: int = 0

    @property
    def is_hello_retry_request(self) -> bool:
        return self.random == HELLO_RETRY_RANDOM

    @property
    def extension_types(self) -> tuple[int, ...]:
        return tuple(kind for kind, _ in self.extensions)

    def extension(self, kind: int) -> bytes | None:
        for found, body in self.extensions:
            if found == kind:
                return body
        return None


def parse_server_hello(body: bytes, message: bytes) -> ServerHello:
    reader = Reader(body, "ServerHello")
    legacy_version = reader.uint16()
    random = reader.raw(32)
    session_id = reader.vector8()
    if len(session_id) > 32:
        raise reader.error("legacy_session_id longer than 32 bytes")
    cipher_suite = reader.uint16()
    compression_method = reader.uint8()
    extensions: list[tuple[int, bytes]] = []
    if reader.remaining():  # RFC 5246 section 7.4.1.3: an SSLv3-style hello may end here
        block = reader.sub16("ServerHello extensions")
        seen = set()
        while block.remaining():
            kind = block.uint16()
            if kind in seen:
                # RFC 8446 section 4.2: "There MUST NOT be more than one extension of the same type".
                raise reader.error(f"extension {kind} sent twice")
            seen.add(kind)
            extensions.append((kind, block.vector16()))
    reader.expect_end()
    version = legacy_version
    for kind, body in extensions:
        if kind == codes.EXT_SUPPORTED_VERSIONS:
            selected = Reader(body, "supported_versions")
            version = selected.uint16()
            selected.expect_end()
    return ServerHello(legacy_version, random, session_id, cipher_suite, compression_method,
                       tuple(extensions), message, version)  # fmt: skip


def key_share_of(hello: ServerHello) -> tuple[int, bytes | None] | None:
    """(group, server share) from a ServerHello, (group, None) from a HelloRetryRequest."""
    body = hello.extension(codes.EXT_KEY_SHARE)
    if body is None:
        return None
    reader = Reader(body, "key_share")
    group = reader.uint16()
    if hello.is_hello_retry_request:
        reader.expect_end()
        return group, None
    share = reader.vector16()
    reader.expect_end()
    return group, share


def cookie_of(hello: ServerHello) -> bytes | None:
    body = hello.extension(codes.EXT_COOKIE)
    if body is None:
        return None
    reader = Reader(body, "cookie")
    cookie = reader.vector16()
    reader.expect_end()
    if not cookie:
        raise reader.error("empty cookie")  # section 4.2.2: opaque cookie<1..2^16-1>
    return cookie
