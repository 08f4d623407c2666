"""STARTTLS dialogs, one module each, registered by name and default ports (as zgrab2 does).

Adding a protocol touches its module and one line in `_MODULES` below.
"""

from __future__ import annotations

import importlib

from certcensus.probe.dialogs.base import Dialog, DialogError, DialogOptions, Refusal

_MODULES = (
    "smtp", "imap", "pop3", "ftp", "ldap", "xmpp", "postgres", "mysql", "nntp", "sieve", "irc",
    "telnet", "rdp", "mssql",
)

DIALOGS: dict[str, type[Dialog]] = {}


def register(cls: type[Dialog]) -> type[Dialog]:
    DIALOGS[cls.name] = cls
    return cls


for _module in _MODULES:
    importlib.import_module(f"{__name__}.{_module}")

# Ports where TLS starts at once (no dialog), by IANA assignment.
IMPLICIT_TLS_PORTS: dict[int, str] = {
    443: "https",
    465: "smtps",
    563: "nntps",
    636: "ldaps",
    853: "dot",
    990: "ftps",
    993: "imaps",
    995: "pop3s",
    3269: "ldaps",
    5061: "sips",
    5223: "xmpps",
    6697: "ircs",
}

# URL schemes: (default port, dialog name or None for implicit TLS).
SCHEMES: dict[str, tuple[int, str | None]] = {
    "smtp": (25, "smtp"),
    "submission": (587, "smtp"),
    "smtps": (465, None),
    "https": (443, None),
    "imaps": (993, None),
    "pop3s": (995, None),
    "ldaps": (636, None),
    "nntps": (563, None),
    "ftps": (990, None),
    "ircs": (6697, None),
    "xmpps": (5223, None),
    "sips": (5061, None),
    "dot": (853, None),
    "tls": (443, None),
    "lmtp": (24, "lmtp"),
    "imap": (143, "imap"),
    "pop3": (110, "pop3"),
    "ftp": (21, "ftp"),
    "ldap": (389, "ldap"),
    "xmpp": (5222, "xmpp"),
    "xmpp-server": (5269, "xmpp-server"),
    "postgres": (5432, "postgres"),
    "postgresql": (5432, "postgres"),
    "mysql": (3306, "mysql"),
    "nntp": (119, "nntp"),
    "sieve": (4190, "sieve"),
    "irc": (6667, "irc"),
    "telnet": (23, "telnet"),
    "rdp": (3389, "rdp"),
    "mssql": (1433, "mssql"),
}


def dialog_for_port(port: int) -> str | None:
    """The dialog a well-known port implies, or None for implicit TLS."""
    for name, cls in DIALOGS.items():
        if port in cls.default_ports:
            return name
    return None


def dialog_class(name: str) -> type[Dialog]:
    try:
        return DIALOGS[name]
    except KeyError:
        known = ", ".join(sorted(DIALOGS))
        raise ValueError(f"unknown STARTTLS protocol {name!r} (known: {known}, none, auto)") from None


__all__ = [
    "DIALOGS",
    "Dialog",
    "DialogError",
    "DialogOptions",
    "IMPLICIT_TLS_PORTS",
    "Refusal",
    "SCHEMES",
    "dialog_class",
    "dialog_for_port",
    "register",
]
