"""A chain's identity: every certificate, in the order the server sent it.

Two chains with the same leaf and different intermediates are exactly the case that hurts users,
so nothing here is keyed by the leaf alone.
"""

from __future__ import annotations

import hashlib


def certificate_fingerprint(der: bytes) -> str:
    """SHA-256 of one certificate's DER, lower-case hex (as `openssl x509 -fingerprint -sha256`)."""
    return hashlib.sha256(der).hexdigest()


def chain_fingerprint(ders: tuple[bytes, ...] | list[bytes]) -> str:
    """SHA-256 of the certificates' DER concatenated in wire order, lower-case hex.

    DER is self-delimiting, so the concatenation is unambiguous; a user can reproduce the id with
    `cat 0.der 1.der ... | sha256sum`.
    """
    digest = hashlib.sha256()
    for der in ders:
        digest.update(der)
    return digest.hexdigest()
