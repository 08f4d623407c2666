"""The ClientHello: what a client says about itself, written from a `HelloSpec`
(RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2).

A spec lists what a real client sends (versions, cipher suites, groups, signature algorithms,
and the extensions in wire order); `client_hello` turns it into one handshake message with fresh
randomness and key shares. Extension bodies this engine understands are built from the spec;
the rest are sent empty, as the clients we imitate send them (extended_master_secret,
encrypt_then_mac, session_ticket, post_handshake_auth, signed_certificate_timestamp).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from certcensus.probe.native import codes
from certcensus.probe.native.wire import uint16, vector8, vector16

TLS10, TLS11, TLS12, TLS13 = 0x0301, 0x0302, 0x0303, 0x0304
VERSION_NAMES = {
    0x0300: "SSLv3",
    TLS10: "TLSv1",
    TLS11: "TLSv1.1",
    TLS12: "TLSv1.2",
    TLS13: "TLSv1.3",
}


@dataclass(frozen=True, slots=True)
class HelloSpec:
    """Everything a ClientHello says; profiles in `clients.py` fill it in as a real client does."""

    name: str
    versions: tuple[int, ...]  # offered, highest first
    cipher_suites: tuple[int, ...]
    extensions: tuple[int, ...]  # extension types in wire order
    groups: tuple[int, ...] = ()
    key_share_groups: tuple[int, ...] = (codes.X25519,)  # shares sent in the first ClientHello
    signature_algorithms: tuple[int, ...] = ()
    signature_algorithms_cert: tuple[int, ...] = ()
    ec_point_formats: tuple[int, ...] = (0,)  # uncompressed
    alpn: tuple[bytes, ...] = ()
    compress_certificate: tuple[int, ...] = ()  # RFC 8879 algorithms, most preferred first
    psk_modes: tuple[int, ...] = (1,)  # psk_dhe_ke
    # A 32-byte legacy_session_id (RFC 8446 appendix D.4, middlebox compatibility mode), as
    # OpenSSL, BoringSSL and the JDK send when they offer TLS 1.3; clients of TLS 1.2 and older
    # that never resume send none.
    session_id: bool = True
    record_version: int = TLS10  # the first record's legacy_record_version (section 5.1)
    source: str = ""  # where this ClientHello comes from (documentation, capture)

    @property
    def offers_tls13(self) -> bool:
        return TLS13 in self.versions

    @property
    def legacy_version(self) -> int:
        # Section 4.1.2: a TLS 1.3 client sets legacy_version to 0x0303; older clients put
        # their highest version there.
        return min(max(self.versions), TLS12)


def client_hello(
    spec: HelloSpec,
    random: bytes,
    session_id: bytes,
    server_name: str | None,
    key_shares: dict[int, bytes],
    cookie: bytes | None = None,
) -> bytes:
    """One ClientHello handshake message (type, length, body)."""
    if cookie is not None:  # the second hello after a HelloRetryRequest: rare, built afresh
        return _build(spec, random, session_id, server_name, key_shares, cookie)[0]
    # Everything but the random, the session id and the key shares is the same for every probe
    # of a profile and name: build that once, then write the fresh bytes into a copy.
    layout = tuple((group, len(share)) for group, share in key_shares.items())
    template, share_offsets = _template(spec, len(session_id), server_name, layout)
    message = bytearray(template)
    message[6:38] = random
    message[39 : 39 + len(session_id)] = session_id
    for offset, share in zip(share_offsets, key_shares.values()):
        message[offset : offset + len(share)] = share
    return bytes(message)


@functools.lru_cache(maxsize=4096)
def _template(spec: HelloSpec, session_id_length: int, server_name: str | None,
              layout: tuple[tuple[int, int], ...]) -> tuple[bytes, tuple[int, ...]]:  # fmt: skip
    shares = {group: bytes(length) for group, length in layout}
    return _build(spec, bytes(32), bytes(session_id_length), server_name, shares, None)


def _build(
    spec, random, session_id, server_name, key_shares, cookie
) -> tuple[bytes, tuple[int, ...]]:
    """The ClientHello, and where each key share's bytes are in it."""
    extensions = bytearray()
    padding_at = None
    share_offsets: list[int] = []  # within `extensions`
    for kind in spec.extensions:
        if kind == codes.EXT_PADDING:
            padding_at = len(extensions)
            continue
        body = _extension_body(kind, spec, server_name, key_shares)
        if body is None:
            continue  # nothing to say (no SNI for an IP address, no TLS 1.3 for key_share)
        if kind == codes.EXT_KEY_SHARE:
            offset = len(extensions) + 4 + 2  # type, length, client_shares length
            for share in key_shares.values():
                share_offsets.append(offset + 4)  # group, key_exchange length
                offset += 4 + len(share)
        extensions += uint16(kind) + vector16(body)
        if kind == codes.EXT_KEY_SHARE and cookie is not None:
            # Section 4.2.2: the second ClientHello echoes the HelloRetryRequest's cookie.
            extensions += uint16(codes.EXT_COOKIE) + vector16(vector16(cookie))
    head = (
        uint16(spec.legacy_version) + random + vector8(session_id)
        + vector16(b"".join(uint16(suite) for suite in spec.cipher_suites))
        + b"\x01\x00"  # compression methods: null only (section 4.1.2 requires exactly that)
    )  # fmt: skip
    if padding_at is not None:
        # RFC 7685 section 4, as OpenSSL and BoringSSL apply it: a ClientHello of 256 to 511
        # bytes (a size some F5 load balancers hang on) is padded to 512.
        size = 4 + len(head) + 2 + len(extensions)
        if 256 <= size < 512:
            pad = max(512 - size - 4, 1)
            extensions[padding_at:padding_at] = uint16(codes.EXT_PADDING) + vector16(bytes(pad))
            share_offsets = [o + 4 + pad if o >= padding_at else o for o in share_offsets]
    body = head + vector16(bytes(extensions))
    start = 4 + len(head) + 2  # handshake header, head, extensions length
    return bytes((1,)) + len(body).to_bytes(3, "big") + body, tuple(
        start + o for o in share_offsets
    )


def _extension_body(kind: int, spec: HelloSpec, server_name: str | None, shares) -> bytes | None:
    if kind == codes.EXT_SERVER_NAME:
        if not server_name:
            return None
        name = server_name.encode("idna") if not server_name.isascii() else server_name.encode()
        return vector16(b"\x00" + vector16(name))  # RFC 6066 section 3: host_name(0)
    if kind == codes.EXT_SUPPORTED_GROUPS:
        return vector16(b"".join(uint16(g) for g in spec.groups))
    if kind == codes.EXT_EC_POINT_FORMATS:
        return vector8(bytes(spec.ec_point_formats))
    if kind == codes.EXT_SIGNATURE_ALGORITHMS:
        return vector16(b"".join(uint16(s) for s in spec.signature_algorithms))
    if kind == codes.EXT_SIGNATURE_ALGORITHMS_CERT:
        return vector16(b"".join(uint16(s) for s in spec.signature_algorithms_cert))
    if kind == codes.EXT_STATUS_REQUEST:
        return b"\x01\x00\x00\x00\x00"  # RFC 6066 section 8: ocsp, no responder ids, no extensions
    if kind == codes.EXT_STATUS_REQUEST_V2:
        # RFC 6961 section 2.2: one ocsp_multi(2) request, no responder ids, no extensions.
        return vector16(b"\x02" + vector16(b"\x00\x00\x00\x00"))
    if kind == codes.EXT_ALPN:
        return vector16(b"".join(vector8(p) for p in spec.alpn)) if spec.alpn else None
    if kind == codes.EXT_SUPPORTED_VERSIONS:
        if not spec.offers_tls13:
            return None
        return vector8(b"".join(uint16(v) for v in spec.versions))
    if kind == codes.EXT_KEY_SHARE:
        if not spec.offers_tls13:
            return None
        return vector16(b"".join(uint16(g) + vector16(shares[g]) for g in shares))
    if kind == codes.EXT_PSK_KEY_EXCHANGE_MODES:
        return vector8(bytes(spec.psk_modes)) if spec.offers_tls13 else None
    if kind == codes.EXT_COMPRESS_CERTIFICATE:
        if not spec.compress_certificate or not spec.offers_tls13:
            return None
        return vector8(b"".join(uint16(a) for a in spec.compress_certificate))
    if kind == codes.EXT_RENEGOTIATION_INFO:
        return b"\x00"  # RFC 5746 section 3.4: an empty renegotiated_connection
    if kind == codes.EXT_HEARTBEAT:
        return b"\x01"  # RFC 6520: peer_allowed_to_send
    if kind == codes.EXT_POST_HANDSHAKE_AUTH and not spec.offers_tls13:
        return None
    return b""  # flag extensions with an empty body
