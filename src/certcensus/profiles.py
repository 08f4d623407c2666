"""ClientHello profiles: the TLS client settings a probe offers.

`default` offers everything OpenSSL can still speak (TLS 1.0 to 1.3, every cipher, security
level 0), so an old or odd server still hands over its chain: we are observing, not judging.
Verification is off here on purpose; trust is decided later, in analysis, against stores the
user names.
"""

from __future__ import annotations

import ssl

PROFILES = ("default",)


def client_context(profile: str = "default") -> ssl.SSLContext:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")
    # We never pass a session to wrap_bio, so nothing is resumed; asking for no ticket also
    # spares the server the work of minting one per probe.
    context.options |= ssl.OP_NO_TICKET
    return context
