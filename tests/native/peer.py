"""A scripted TLS server for the engine's unit tests: it reads the engine's ClientHello and
writes a server flight byte by byte as RFC 8446 / RFC 5246 describe it, with knobs for every
quirk a real server has (middlebox CCS, HelloRetryRequest, fragmentation, compression, staples,
alerts). Its TLS 1.3 key schedule is written here from RFC 8446 section 7 on `cryptography`'s
HKDF, independently of the engine's; agreement with real servers (openssl s_server, nginx,
gnutls-serv) is proven in the agreement tests.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from .hello_parser import ParsedHello, parse_client_hello_records

HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()


def u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def v8(b: bytes) -> bytes:
    return bytes((len(b),)) + b


def v16(b: bytes) -> bytes:
    return u16(len(b)) + b


def v24(b: bytes) -> bytes:
    return len(b).to_bytes(3, "big") + b


def handshake(kind: int, body: bytes) -> bytes:
    return bytes((kind,)) + v24(body)


def records(content_type: int, payload: bytes, size: int = 16384, version: int = 0x0303) -> bytes:
    out = b""
    for i in range(0, len(payload), size):
        piece = payload[i : i + size]
        out += bytes((content_type,)) + u16(version) + u16(len(piece)) + piece
    return out


def extensions(items: list[tuple[int, bytes]]) -> bytes:
    return v16(b"".join(u16(k) + v16(body) for k, body in items))


def client_hello_message(client_records: bytes) -> bytes:
    """The handshake message (header included) inside the client's records."""
    data = b""
    position = 0
    while position < len(client_records):
        length = int.from_bytes(client_records[position + 3 : position + 5], "big")
        data += client_records[position + 5 : position + 5 + length]
        position += 5 + length
    return data


def _expand_label(secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
    info = u16(length) + v8(b"tls13 " + label) + v8(context)
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


@dataclass
class Tls13Server:
    """TLS_AES_128_GCM_SHA256 only; X25519 or P-256 key exchange."""

    certificates: list[bytes]
    leaf_extensions: list[tuple[int, bytes]] | None = None
    compress: int | None = None  # RFC 8879 algorithm to send CompressedCertificate with
    middlebox_ccs: int = 1  # unprotected CCS records after the ServerHello
    record_size: int = 16384  # plaintext bytes per protected record
    certificate_request: bool = False
    after_certificate: bytes = b""  # extra protected handshake bytes (CertificateVerify, ...)
    inner_alert: bytes | None = None  # send this protected alert instead of the Certificate

    def __post_init__(self) -> None:
        self.transcript = b""
        self.sequence = 0

    def respond(
        self, client_records: bytes, *, retry_group: int | None = None, cookie: bytes | None = None
    ) -> bytes:
        message = client_hello_message(client_records)
        hello = parse_client_hello_records(client_records)
        if retry_group is not None:
            digest = hashlib.sha256(message).digest()
            self.transcript = bytes((254, 0, 0, 32)) + digest
            items = [(43, u16(0x0304)), (51, u16(retry_group))]
            if cookie:
                items.append((44, v16(cookie)))
            hrr = handshake(2, u16(0x0303) + HRR_RANDOM + v8(hello.session_id) + u16(0x1301) + b"\x00"
                            + extensions(items))  # fmt: skip
            self.transcript += hrr
            return records(22, hrr) + records(20, b"\x01")
        self.transcript += message
        share, shared = self._exchange(hello)
        server_hello = handshake(2, u16(0x0303) + os.urandom(32) + v8(hello.session_id) + u16(0x1301)
                                 + b"\x00" + extensions([(43, u16(0x0304)), (51, share)]))  # fmt: skip
        self.transcript += server_hello
        self._keys(shared)
        flight = handshake(8, v16(b""))
        if self.certificate_request:
            flight += handshake(13, v8(b"") + extensions([(13, v16(u16(0x0804)))]))
        flight += self.certificate_message() + self.after_certificate
        out = records(22, server_hello) + records(20, b"\x01") * self.middlebox_ccs
        if self.inner_alert is not None:
            return out + self.protect(self.inner_alert, 21)
        for i in range(0, len(flight), self.record_size):
            out += self.protect(flight[i : i + self.record_size], 22)
        return out

    def certificate_message(self) -> bytes:
        entries = b""
        for index, der in enumerate(self.certificates):
            exts = self.leaf_extensions if index == 0 and self.leaf_extensions else []
            entries += v24(der) + v16(b"".join(u16(k) + v16(b) for k, b in exts))
        body = v8(b"") + v24(entries)
        if self.compress is None:
            return handshake(11, body)
        if self.compress == 1:
            packed = zlib.compress(body)
        else:
            import brotli

            packed = brotli.compress(body)
        return handshake(25, u16(self.compress) + len(body).to_bytes(3, "big") + v24(packed))

    def _exchange(self, hello: ParsedHello) -> tuple[bytes, bytes]:
        from .hello_parser import Reader

        reader = Reader(hello.extension(51), "key_share")
        entries = reader.sub16("shares")
        shares = {}
        while entries.remaining():
            group = entries.uint16()
            shares[group] = entries.vector16()
        if 29 in shares:
            key = x25519.X25519PrivateKey.generate()
            shared = key.exchange(x25519.X25519PublicKey.from_public_bytes(shares[29]))
            return u16(29) + v16(key.public_key().public_bytes_raw()), shared
        key = ec.generate_private_key(ec.SECP256R1())
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), shares[23])
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return u16(23) + v16(public), key.exchange(ec.ECDH(), peer)

    def _keys(self, shared: bytes) -> None:
        # RFC 8446 section 7.1, the chain up to server_handshake_traffic_secret.
        zeros = bytes(32)
        early = HKDF.extract(hashes.SHA256(), zeros, zeros)
        derived = _expand_label(early, b"derived", hashlib.sha256(b"").digest(), 32)
        handshake_secret = HKDF.extract(hashes.SHA256(), derived, shared)
        traffic = _expand_label(
            handshake_secret, b"s hs traffic", hashlib.sha256(self.transcript).digest(), 32
        )
        self.key = _expand_label(traffic, b"key", b"", 16)
        self.iv = _expand_label(traffic, b"iv", b"", 12)

    def protect(self, content: bytes, inner_type: int) -> bytes:
        inner = content + bytes((inner_type,))
        header = b"\x17\x03\x03" + u16(len(inner) + 16)
        nonce = (int.from_bytes(self.iv, "big") ^ self.sequence).to_bytes(12, "big")
        self.sequence += 1
        return header + AESGCM(self.key).encrypt(nonce, inner, header)


def tls12_flight(
    certificates: list[bytes],
    *,
    suite: int = 0xC02F,
    version: int = 0x0303,
    server_extensions: list[tuple[int, bytes]] = (),
    ocsp: bytes | None = None,
    random: bytes | None = None,
    record_size: int = 16384,
) -> bytes:
    """ServerHello, Certificate, [CertificateStatus], ServerKeyExchange, ServerHelloDone."""
    hello = handshake(2, u16(version) + (random or os.urandom(32)) + v8(b"") + u16(suite) + b"\x00"
                      + extensions(list(server_extensions)))  # fmt: skip
    certificate = handshake(11, v24(b"".join(v24(der) for der in certificates)))
    flight = hello + certificate
    if ocsp is not None:
        flight += handshake(22, b"\x01" + v24(ocsp))
    flight += handshake(12, b"\x03\x00\x1d\x20" + bytes(32) + u16(0x0401) + v16(bytes(256)))
    flight += handshake(14, b"")
    return records(22, flight, record_size)
