"""The one shim over the stdlib for the certificate list exactly as the server sent it.

`SSLObject.get_unverified_chain()` is public from Python 3.13 and returns DER bytes; on 3.11 and
3.12 the same OpenSSL call (SSL_get_peer_cert_chain) is reachable as
`SSLObject._sslobj.get_unverified_chain()`, returning `_ssl.Certificate` objects.
"""

from __future__ import annotations

import _ssl
import ssl


def unverified_chain_der(ssl_object: ssl.SSLObject) -> tuple[bytes, ...]:
    """DER certificates in wire order (leaf first, as sent, duplicates and extras included)."""
    if hasattr(ssl_object, "get_unverified_chain"):  # Python 3.13+
        chain = ssl_object.get_unverified_chain() or []
        return tuple(bytes(der) for der in chain)
    chain = ssl_object._sslobj.get_unverified_chain() or []  # type: ignore[attr-defined]
    return tuple(cert.public_bytes(_ssl.ENCODING_DER) for cert in chain)
