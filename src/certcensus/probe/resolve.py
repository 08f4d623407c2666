"""Targets -> the addresses to probe: every A and AAAA record, honouring /etc/hosts.

getaddrinfo (through the event loop's executor) follows nsswitch.conf, so /etc/hosts and the
system resolver behave as they do for every other client on the machine.
"""

from __future__ import annotations

import asyncio
import socket

from certcensus.model.errors import ResolutionError
from certcensus.probe.targets import Target, is_ip_address


async def resolve_addresses(target: Target, ip_mode: str = "all") -> list[str]:
    """`ip_mode`: "all" (every address), "first" (the first the resolver returns), or the
    addresses to probe, comma-separated (a service's backends by address, as curl --resolve)."""
    if ip_mode not in ("all", "first"):
        given = [part.strip() for part in ip_mode.split(",") if part.strip()]
        if not given or not all(is_ip_address(part) for part in given):
            raise ResolutionError(
                f"--ip {ip_mode!r} is not 'all', 'first' or IP addresses (A or A,B,...)"
            )
        return list(dict.fromkeys(given))
    if target.is_address:
        return [target.host]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        reason = error.strerror if isinstance(error, socket.gaierror) else str(error)
        raise ResolutionError(f"cannot resolve {target.host}: {reason}") from None
    addresses: list[str] = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    if not addresses:
        raise ResolutionError(f"cannot resolve {target.host}: no A or AAAA record")
    return addresses[:1] if ip_mode == "first" else addresses
