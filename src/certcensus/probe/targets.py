"""What the user typed -> a Target: host, port, and how TLS starts (implicit or a dialog).

Accepted: `host`, `host:port`, `[v6addr]:port`, a bare IPv6 address, and URLs such as
`smtp://mail.example.com` or `imaps://host:1993`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from certcensus.model.errors import TargetError
from certcensus.model.names import is_ip_address
from certcensus.probe.dialogs import IMPLICIT_TLS_PORTS, SCHEMES, dialog_class, dialog_for_port
from certcensus.probe.dialogs.implicit import IMPLICIT_TLS_SCHEMES

DEFAULT_PORT = 443
_HOST_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    dialog: str | None  # STARTTLS dialog name, None for implicit TLS
    given: str  # what the user typed
    # Implicit TLS: the service inside (scheme, else the well-known port: "imaps", "https"), so
    # the prober knows which greeting follows the handshake. None with a dialog.
    service: str | None = None

    @property
    def name(self) -> str:
        """Canonical `host:port` (IPv6 in brackets): the key in the store and the census."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def protocol(self) -> str:
        return self.dialog or "tls"

    @property
    def is_address(self) -> bool:
        return is_ip_address(self.host)


def parse_target(text: str, starttls: str = "auto") -> Target:
    """Parse one target; `starttls` is "auto" (scheme or port decides), "none", or a dialog name
    or alias (case-insensitive)."""
    given = text
    text = text.strip()
    if not text:
        raise TargetError("empty target")
    scheme_dialog: str | None = None
    default_port = DEFAULT_PORT
    scheme = None
    if "://" in text:
        scheme, _, text = text.partition("://")
        scheme = scheme.lower()
        if scheme not in SCHEMES:
            known = ", ".join(sorted(SCHEMES))
            raise TargetError(f"unknown scheme {scheme!r} in {given!r} (known: {known})")
        default_port, scheme_dialog = SCHEMES[scheme]
        text = re.split(r"[/?#]", text, maxsplit=1)[0]
        text = text.rpartition("@")[2]  # drop user:password@
    host, port = _split_host_port(text, default_port, given)
    _check_host(host, given)
    starttls = starttls.strip().lower()
    if starttls == "auto":
        dialog = scheme_dialog if scheme else dialog_for_port(port)
    elif starttls == "none":
        dialog = None
    else:
        try:
            dialog = dialog_class(starttls).name  # an alias ("postgresql") names its dialog
        except ValueError as error:
            raise TargetError(str(error)) from None
    service = None
    if dialog is None:
        service = scheme if scheme in IMPLICIT_TLS_SCHEMES else IMPLICIT_TLS_PORTS.get(port)
    return Target(host=host, port=port, dialog=dialog, given=given, service=service)


def _split_host_port(text: str, default_port: int, given: str) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise TargetError(f"missing ']' in {given!r}")
        if rest and not rest.startswith(":"):
            raise TargetError(f"unexpected {rest!r} after ']' in {given!r}")
        if not is_ip_address(host) or ":" not in host:
            raise TargetError(f"{host!r} in brackets is not an IPv6 address in {given!r}")
        return host, _port(rest[1:], default_port, given) if rest else default_port
    if text.count(":") > 1:  # a bare IPv6 address; its port needs brackets
        if not is_ip_address(text):
            raise TargetError(f"{given!r} is neither host:port nor an IPv6 address")
        return text, default_port
    host, colon, port_text = text.partition(":")
    return host, _port(port_text, default_port, given) if colon else default_port


def _port(text: str, default_port: int, given: str) -> int:
    if not text:
        return default_port
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise TargetError(f"port {text!r} in {given!r} is not a number from 1 to 65535")
    return int(text)


def _check_host(host: str, given: str) -> None:
    if not host:
        raise TargetError(f"no host in {given!r}")
    if is_ip_address(host):
        return
    name = host.rstrip(".")
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in name.split(".")):
        raise TargetError(f"{host!r} in {given!r} is not a valid host name")
