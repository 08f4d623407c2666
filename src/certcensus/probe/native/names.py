"""Cipher suite names as OpenSSL spells them, so that both engines record the same `cipher`
(`ECDHE-RSA-AES128-GCM-SHA256`, `TLS_AES_256_GCM_SHA384`); a suite OpenSSL does not know is
written as its code point (`0xC0AC`)."""

from __future__ import annotations

import functools
import ssl


@functools.cache
def _openssl_names() -> dict[int, str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return {cipher["id"] & 0xFFFF: cipher["name"] for cipher in context.get_ciphers()}


def cipher_name(code: int) -> str:
    return _openssl_names().get(code) or f"0x{code:04X}"


def is_anonymous(code: int) -> bool:
    """A TLS 1.2-and-older suite whose server sends no Certificate (RFC 5246 section 7.4.2:
    anonymous Diffie-Hellman; RFC 4279 PSK; RFC 5054 SRP without a signature)."""
    name = cipher_name(code)
    if name.startswith(("ADH-", "AECDH-")) or "PSK" in name:
        return True
    return name.startswith("SRP-") and not name.startswith(("SRP-RSA-", "SRP-DSS-"))
