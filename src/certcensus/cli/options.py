"""Options several commands share, defined once so their names, defaults and help agree, and
the small parsers behind them (durations, targets, trust requests).

Kept free of heavy imports: `scan --help` must not load the trust analysis.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import click

from certcensus.model import defaults
from certcensus.model.errors import TargetError, UsageError
from certcensus.probe.dialogs import DIALOGS, canonical_dialog_name, command_line_options
from certcensus.probe.profiles import (
    DEFAULT_ENGINE,
    ENGINES,
    PROFILES,
    canonical_profile_name,
    engine_refusal,
    parse_profiles,
)
from certcensus.probe.targets import Target, parse_target

Decorator = Callable[[Callable], Callable]


def _apply(options: Iterable[Decorator]) -> Decorator:
    def decorate(function):
        for option in reversed(list(options)):
            function = option(function)
        return function

    return decorate


DB_KINDS = "a file path, sqlite:///PATH or postgresql://USER@HOST:PORT/DB (any libpq URI)"


def db_option(function):
    """--db: where the census lives (every command that reads or writes it)."""
    return click.option(
        "--db", "db_path", metavar="PATH|URL", default=None,
        help=f"The database: {DB_KINDS} (default: $CERTCENSUS_DB, else certcensus.sqlite in "
             "the user data directory).",
    )(function)  # fmt: skip


def scratch_db_option(function):
    """--db for commands that keep nothing by default (demo): a temporary database."""
    return click.option(
        "--db", "db_path", metavar="PATH|URL", default=None,
        help=f"Keep the probes in this database: {DB_KINDS} (default: a temporary one, "
             "removed at the end; $CERTCENSUS_DB is not used).",
    )(function)  # fmt: skip


def trust_options(default_store: str | None = None) -> Decorator:
    """--trust-store, --store-password, --offline and --cache-dir."""
    default_note = f" Default: {default_store}." if default_store else ""
    return _apply([
        click.option("--trust-store", "trust_stores", multiple=True, metavar="[NAME=]SPEC",
                     help="A trust store to judge chains against: PEM bundle, directory, .p7b, "
                          "Java keystore (PKCS#12 or JKS), 'system' (the OS store), 'mozilla' "
                          "(certifi), or 'java' (the system Java cacerts, wherever the installed "
                          "JRE keeps it: $JAVA_HOME, the java on PATH, /etc/ssl/certs/java/cacerts, "
                          "/usr/lib/jvm/*). Repeatable." + default_note),
        click.option("--store-password", default=defaults.STORE_PASSWORD, show_default=True,
                     help="Password of Java keystores ('' reads a JKS without its integrity "
                          "check)."),
        click.option("--offline", is_flag=True, help="Do not fetch AIA caIssuers; use the cache only."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="CA pool and AIA cache (default: the user cache directory)."),
    ])  # fmt: skip


def starttls_choices() -> list[str]:
    return ["auto", "none", *sorted(DIALOGS)]


class StarttlsName(click.Choice):
    """auto, none or a protocol; its aliases and any case are accepted ("PostgreSQL", sslyze's
    "xmpp_server"), and the protocol's own name is what the command gets."""

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            value = canonical_dialog_name(value)
        return super().convert(value, param, ctx)


class ProfileName(click.Choice):
    """A ClientHello profile; s_client's spellings ("tls1_2", "TLSv1.3") are accepted."""

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            value = canonical_profile_name(value)
        return super().convert(value, param, ctx)


def starttls_option(function):
    return click.option(
        "--starttls", default="auto", type=StarttlsName(starttls_choices()),
        metavar="auto|none|PROTO",
        help="How TLS starts: auto (from scheme or port), none (implicit TLS), or a protocol: "
             f"{', '.join(sorted(DIALOGS))} (openssl s_client's -starttls names; aliases such "
             "as postgresql, xmpp_server, pop are accepted too).",
    )(function)  # fmt: skip


def protocol_options(function):
    """The options protocols declare (--ehlo-name for SMTP, --xmpp-domain for XMPP, ...), as
    keyword arguments named after each option's `name`."""
    options = [
        click.option(option.flag, option.name, default=option.default,
                     show_default=option.default is not None, help=option.help)
        for option in command_line_options()
    ]  # fmt: skip
    return _apply(options)(function)


def protocol_values(arguments: dict) -> dict[str, str | None]:
    """The protocol options' values out of a command's keyword arguments."""
    return {option.name: arguments.get(option.name) for option in command_line_options()}


def identity_options(function):
    """--http-head and --identity-header: learning which backend answered an HTTPS probe."""
    return _apply([
        click.option("--http-head", is_flag=True,
                     help="After the handshake of HTTPS targets, send HEAD / and record the "
                          "headers that name a backend (Server, Via, X-Served-By, CF-Ray, ...)."),
        click.option("--identity-header", "identity_headers", multiple=True, metavar="NAME",
                     help="One more response header that names a backend (with --http-head). "
                          "Repeatable."),
    ])(function)  # fmt: skip


def show_certs_option(function):
    """--show-certs: every chain's certificates as PEM, after their description."""
    return click.option(
        "--show-certs", is_flag=True,
        help="Print each chain's certificates as PEM too (as s_client -showcerts).",
    )(function)  # fmt: skip


def timeout_option(function):
    return click.option(
        "--timeout", type=click.FloatRange(min=0.01), default=defaults.TIMEOUT_SECONDS,
        show_default=True, help="Seconds allowed for each phase: connect, STARTTLS, handshake.",
    )(function)  # fmt: skip


def profile_choice_option(function):
    return click.option(
        "--profile", default="default", type=ProfileName(list(PROFILES)), show_default=True,
        help="ClientHello profile.",
    )(function)  # fmt: skip


def engine_option(function):
    return click.option(
        "--engine", default=DEFAULT_ENGINE, type=click.Choice(ENGINES), show_default=True,
        help="Handshake engine: native (certcensus's own chain-capture client, which stops once "
             "it has the certificates) or openssl (a full handshake through OpenSSL).",
    )(function)  # fmt: skip


def rate_option(function):
    return click.option(
        "--rate", type=click.FloatRange(min=0), default=defaults.RATE_PER_ADDRESS,
        show_default=True, help="Probes per second per address; 0 = as fast as possible.",
    )(function)  # fmt: skip


def concurrency_option(default: int, scope: str = "") -> Decorator:
    """--concurrency: None unless given, so the plan applies the polite per-target limits."""
    return click.option(
        "--concurrency", type=click.IntRange(min=1), default=None,
        help=f"Probes in flight at once{scope} [default: {default}; 2 per RDP, 8 per NNTP or FTP target].",
    )  # fmt: skip


def parse_duration(text: str | None, option: str = "--duration") -> float | None:
    """`90`, `90s`, `10m`, `2h`, `1d` -> seconds."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise UsageError(f"{option} {text!r} is not like 30s, 10m, 2h or 1d")
    value, unit = float(match[1]), match[2] or "s"
    return value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def positive_duration(text: str, option: str) -> float:
    seconds = parse_duration(text, option)
    if not seconds or seconds <= 0:
        raise UsageError(f"{option} must be more than zero")
    return seconds


def parse_targets(texts: Iterable[str], starttls: str) -> list[Target]:
    """Parsed targets, each once, in the order given."""
    parsed: dict[str, Target] = {}
    for text in texts:
        try:
            target = parse_target(text, starttls)
        except TargetError as error:
            raise UsageError(str(error)) from None
        parsed.setdefault(target.name, target)
    return list(parsed.values())


def checked_profiles(text: str, engine: str = DEFAULT_ENGINE) -> list[str]:
    """The profiles `text` names, each one `engine` can speak, or a one-line usage error."""
    try:
        profiles = parse_profiles(text, engine)
    except ValueError as error:
        raise UsageError(str(error)) from None
    check_engine(profiles, engine)
    return profiles


def check_engine(profiles: list[str], engine: str) -> None:
    refusal = engine_refusal(profiles, engine)
    if refusal:
        raise UsageError(refusal)
