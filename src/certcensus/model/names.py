"""The one rule for the host name a client checks a certificate against."""

from __future__ import annotations

import functools
import ipaddress


@functools.lru_cache(maxsize=65536)  # asked per target and chain; a fleet repeats it a lot
def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def name_a_client_checks(sni: str | None, host: str) -> str | None:
    """The SNI the probe sent, else the target's host name; None for an address with no SNI.

    A client asks for a name and checks the certificate against that name; one that connects to
    a bare address and sends no SNI (RFC 6066 section 3 forbids literal addresses in SNI) checks
    no DNS name, so neither do we.
    """
    if sni:
        return sni
    return None if is_ip_address(host) else host
