"""TLS 1.3 key exchange and the part of the key schedule a chain capture needs (RFC 8446
sections 4.2.8, 7.1 and 7.3), on `cryptography`'s primitives.

Only the server's handshake traffic key is derived: it decrypts EncryptedExtensions and the
Certificate. The client handshake key, the master secret and the application keys are never
computed, because we never send Finished (see engine.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from certcensus.probe.native import codes, limits
from certcensus.probe.native.errors import handshake_failed
from certcensus.probe.native.records import RecordDecrypter


@dataclass(frozen=True, slots=True)
class Suite:
    hash_name: str  # hashlib's name, for the transcript
    hash: hashes.HashAlgorithm
    key_length: int
    aead: type  # cryptography AEAD class taking the key
    tag_length: int = 16


SUITES: dict[int, Suite] = {
    codes.TLS_AES_128_GCM_SHA256: Suite("sha256", hashes.SHA256(), 16, AESGCM),
    codes.TLS_AES_256_GCM_SHA384: Suite("sha384", hashes.SHA384(), 32, AESGCM),
    codes.TLS_CHACHA20_POLY1305_SHA256: Suite("sha256", hashes.SHA256(), 32, ChaCha20Poly1305),
    codes.TLS_AES_128_CCM_SHA256: Suite("sha256", hashes.SHA256(), 16, AESCCM),
    codes.TLS_AES_128_CCM_8_SHA256: Suite("sha256", hashes.SHA256(), 16, AESCCM, tag_length=8),
}

_EC_CURVES: dict[int, ec.EllipticCurve] = {
    codes.SECP256R1: ec.SECP256R1(),
    codes.SECP384R1: ec.SECP384R1(),
    codes.SECP521R1: ec.SECP521R1(),
}
KEY_SHARE_GROUPS = frozenset((codes.X25519, codes.X448, *_EC_CURVES))


def hkdf_expand_label(
    suite: Suite, secret: bytes, label: bytes, context: bytes, length: int
) -> bytes:
    # Section 7.1: HkdfLabel { uint16 length; opaque label<7..255> = "tls13 " + Label; context }
    info = length.to_bytes(2, "big") + bytes((6 + len(label),)) + b"tls13 " + label
    info += bytes((len(context),)) + context
    return HKDFExpand(suite.hash, length, info).derive(secret)


def _derived_secret(suite: Suite) -> bytes:
    """Derive-Secret(Early Secret, "derived", ""): fixed per hash when no PSK is used."""
    zeros = bytes(suite.hash.digest_size)
    early_secret = HKDF.extract(suite.hash, zeros, zeros)
    empty_hash = hashlib.new(suite.hash_name, b"").digest()
    return hkdf_expand_label(suite, early_secret, b"derived", empty_hash, suite.hash.digest_size)


_DERIVED = {
    name: _derived_secret(suite)
    for name, suite in (("sha256", SUITES[0x1301]), ("sha384", SUITES[0x1302]))
}


def server_handshake_decrypter(
    suite: Suite, shared_secret: bytes, transcript_hash: bytes
) -> RecordDecrypter:
    """The decrypter of the server's handshake records: section 7.1's
    handshake_secret = HKDF-Extract(Derive-Secret(early, "derived", ""), (EC)DHE) and
    server_handshake_traffic_secret = Derive-Secret(handshake_secret, "s hs traffic", CH..SH),
    then section 7.3's key and iv."""
    handshake_secret = HKDF.extract(suite.hash, _DERIVED[suite.hash_name], shared_secret)
    size = suite.hash.digest_size
    traffic = hkdf_expand_label(suite, handshake_secret, b"s hs traffic", transcript_hash, size)
    key = hkdf_expand_label(suite, traffic, b"key", b"", suite.key_length)
    iv = hkdf_expand_label(suite, traffic, b"iv", b"", 12)
    if suite.aead is AESCCM:
        aead = AESCCM(key, tag_length=suite.tag_length)
    else:
        aead = suite.aead(key)
    return RecordDecrypter(aead.decrypt, iv)


class KeyShare:
    """One ephemeral key pair of a named group, and the exchange with the server's share."""

    __slots__ = ("group", "_private", "public", "uses")
    _private: Any  # X25519, X448 or EC private key

    @classmethod
    def for_probe(cls, group: int) -> KeyShare:
        """A key pair for one more probe: the process reuses each group's pair for
        `limits.KEY_SHARE_USES` probes before making a new one.

        A deviation on purpose: RFC 8446 section 4.2.8 has the client generate its shares, and
        clients generate them per connection (section C.1 asks for unpredictable values). The
        secret protects nothing here (we never send application data, nor even Finished), so a
        scanner may spend the ~50 us of key generation once per thousand probes rather than on
        each; every ClientHello still has its own random and session id."""
        share = _POOL.get(group)
        if share is None or share.uses >= limits.KEY_SHARE_USES:
            share = _POOL[group] = cls(group)
        share.uses += 1
        return share

    def __init__(self, group: int):
        self.group = group
        self.uses = 0
        if group == codes.X25519:
            self._private = x25519.X25519PrivateKey.generate()
            self.public = self._private.public_key().public_bytes_raw()
        elif group == codes.X448:
            self._private = x448.X448PrivateKey.generate()
            self.public = self._private.public_key().public_bytes_raw()
        elif group in _EC_CURVES:
            self._private = ec.generate_private_key(_EC_CURVES[group])
            # Section 4.2.8.2: UncompressedPointRepresentation.
            self.public = self._private.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        else:
            raise ValueError(f"no key exchange for group {group}")

    def exchange(self, server_share: bytes) -> bytes:
        """The shared secret; a malformed or invalid server share is refused (section 4.2.8:
        illegal_parameter), as is an all-zero X25519/X448 result (section 7.4.2)."""
        try:
            if self.group == codes.X25519:
                return self._private.exchange(
                    x25519.X25519PublicKey.from_public_bytes(server_share)
                )
            if self.group == codes.X448:
                return self._private.exchange(x448.X448PublicKey.from_public_bytes(server_share))
            if not server_share or server_share[0] != 4:
                raise ValueError("not an uncompressed point")
            public = ec.EllipticCurvePublicKey.from_encoded_point(
                _EC_CURVES[self.group], server_share
            )
            return self._private.exchange(ec.ECDH(), public)
        except ValueError as error:
            raise handshake_failed(
                f"server key share for group {self.group} is invalid ({error})"
            ) from None


_POOL: dict[int, KeyShare] = {}
