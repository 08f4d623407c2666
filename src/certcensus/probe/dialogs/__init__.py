"""STARTTLS dialogs, one module each, found by name (as zgrab2 registers its modules).

Every module in this package is imported, and every concrete `Dialog` subclass it defines is
registered under its `name`, with its ports, URL schemes and command-line options. Adding a
protocol touches its module and its tests, nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

from certcensus.probe.dialogs.base import Dialog, DialogError, DialogOption, DialogOptions, Refusal
from certcensus.probe.dialogs.implicit import IMPLICIT_TLS_PORTS, IMPLICIT_TLS_SCHEMES


def _discover() -> dict[str, type[Dialog]]:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    found: dict[str, type[Dialog]] = {}
    pending = list(Dialog.__subclasses__())
    while pending:
        cls = pending.pop(0)
        pending.extend(cls.__subclasses__())
        name = cls.__dict__.get("name")
        if isinstance(name, str) and cls.__module__.startswith(__name__):
            found[name] = cls
    return dict(sorted(found.items()))


DIALOGS: dict[str, type[Dialog]] = _discover()

# Other names -> the dialog's name: `openssl s_client -starttls` names are the dialogs' own;
# these are what testssl.sh, sslyze and habit add ("postgresql", "xmpp-client", "pop", ...).
ALIASES: dict[str, str] = {
    alias: name for name, cls in DIALOGS.items() for alias in cls.__dict__.get("aliases", ())
}

# URL schemes: (default port, dialog name or None for implicit TLS).
SCHEMES: dict[str, tuple[int, str | None]] = {
    **{scheme: (port, None) for scheme, port in IMPLICIT_TLS_SCHEMES.items()},
    **{
        scheme: (port, name)
        for name, cls in DIALOGS.items()
        for scheme, port in cls.schemes.items()
    },
}
for _alias, _name in ALIASES.items():  # an alias names the protocol as a scheme too
    if DIALOGS[_name].default_ports:
        SCHEMES.setdefault(_alias, (DIALOGS[_name].default_ports[0], _name))


def canonical_dialog_name(text: str) -> str:
    """The dialog name for what a user typed: "SMTP", "xmpp_server" (sslyze), "postgresql"
    -> "smtp", "xmpp-server", "postgres". Unknown names come back normalised, unchanged."""
    name = text.strip().lower().replace("_", "-")
    return ALIASES.get(name, name)


def dialog_for_port(port: int) -> str | None:
    """The dialog a well-known port implies, or None for implicit TLS."""
    for name, cls in DIALOGS.items():
        if port in cls.default_ports:
            return name
    return None


def dialog_class(name: str) -> type[Dialog]:
    """The dialog for a name or an alias (see canonical_dialog_name)."""
    try:
        return DIALOGS[canonical_dialog_name(name)]
    except KeyError:
        known = ", ".join(sorted(DIALOGS))
        raise ValueError(
            f"unknown STARTTLS protocol {name!r} (known: {known}, none, auto)"
        ) from None


def command_line_options() -> list[DialogOption]:
    """Every dialog's options, each once, in protocol order (the CLI offers them all)."""
    options: dict[str, DialogOption] = {}
    for cls in DIALOGS.values():
        for option in cls.command_line_options:
            options.setdefault(option.name, option)
    return list(options.values())


__all__ = [
    "ALIASES",
    "DIALOGS",
    "Dialog",
    "DialogError",
    "DialogOption",
    "DialogOptions",
    "IMPLICIT_TLS_PORTS",
    "Refusal",
    "SCHEMES",
    "canonical_dialog_name",
    "command_line_options",
    "dialog_class",
    "dialog_for_port",
]
