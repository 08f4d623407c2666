"""`watch --targets-file`: the fleet to watch, and everything the command line takes.

Two forms. A TOML file (`certcensus.toml`, or any file that starts with a table):

    [watch]                  # optional: any option of the command line (which wins when given)
    every = "10m"
    count = 50
    rate = 5
    timeout = 10
    warn_days = 30
    confidence = 0.99        # the baseline round stops when sure at these
    min_share = 0.01
    trust_stores = ["system", "corp=/etc/ssl/corp-root.pem"]
    db = "/var/lib/certcensus/watch.sqlite"
    metrics_port = 9796
    alerts_format = "json"   # stdout: text or json lines
    ehlo_name = "monitor.example.com"
    engine = "native"        # or openssl (a full handshake)

    [alerts]                 # optional
    exec = "logger -t certcensus"
    exec_timeout = 30
    [[alerts.webhook]]       # as many as wanted
    url = "http://alertmanager:9093/api/v2/alerts"
    format = "alertmanager"  # json (default), alertmanager or slack

    [[target]]
    target = "smtp://mx.example.com"
    starttls = "smtp"        # optional: auto (default), none, or a dialog name
    sni = "mx.example.com"   # optional
    profile = "default"      # optional: one ClientHello profile
    count = 100              # optional overrides of [watch] and the command line:
    rate = 2                 #   count, rate, timeout and the protocol options
    timeout = 5

Unknown tables and keys are errors, each naming the file and the table.

Or one target per line, options after it as on the command line, `#` comments:

    smtp://mx.example.com --starttls smtp --sni x
    imap.example.com:993 --count 20 --rate 1
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from certcensus.model.errors import ConfigError
from certcensus.probe.dialogs import command_line_options
from certcensus.probe.profiles import ENGINES, PROFILES, canonical_profile_name


@dataclass(frozen=True)
class WatchTarget:
    text: str  # as the user wrote it: parsed by targets.parse_target
    starttls: str = "auto"
    sni: str | None = None
    profile: str = "default"
    count: int | None = None  # None: the command line's --count
    rate: float | None = None  # None: the command line's --rate
    timeout: float | None = None  # None: the command line's --timeout
    protocol_options: dict = field(default_factory=dict)  # ehlo_name, ...: over the command line's


PROTOCOL_KEYS = {option.name for option in command_line_options()}
TOML_KEYS = {"target", "starttls", "sni", "profile", "count", "rate", "timeout", *PROTOCOL_KEYS}
LINE_OPTIONS = {
    "--starttls": "starttls",
    "--sni": "sni",
    "--profile": "profile",
    "--count": "count",
    "--rate": "rate",
    "--timeout": "timeout",
    **{option.flag: option.name for option in command_line_options()},
}
# [watch] keys -> what each must be ("str", "int", "float", "strs", "bool"), named as the
# command line's parameters are.
WATCH_KEYS = {
    "every": "str", "rounds": "int", "count": "int", "rate": "float", "concurrency": "int",
    "timeout": "float", "warn_days": "float", "confidence": "float", "min_share": "float",
    "trust_stores": "strs", "db": "str",
    "metrics_port": "int", "metrics_address": "str", "alerts_format": "str", "quiet": "bool",
    "engine": "str",
    **{key: "str" for key in PROTOCOL_KEYS},
}  # fmt: skip
# Keys whose value is one of a few words (the command line's click.Choice), checked as it does.
CHOICES = {"engine": ENGINES, "alerts_format": ("text", "json")}
ALERTS_KEYS = {"exec": "str", "exec_timeout": "float", "webhook": "webhooks"}
WEBHOOK_KEYS = {"url", "format"}


@dataclass(frozen=True)
class Webhook:
    url: str
    format: str = "json"


@dataclass(frozen=True)
class FleetFile:
    """A targets file read: the targets, and the [watch] and [alerts] settings it gives."""

    targets: list[WatchTarget]
    settings: dict = field(default_factory=dict)  # [watch] and [alerts] keys, checked
    webhooks: list[Webhook] = field(default_factory=list)


def read_targets_file(path: str | Path) -> list[WatchTarget]:
    return read_fleet_file(path).targets


def read_fleet_file(path: str | Path) -> FleetFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None
    if path.suffix == ".toml" or text.lstrip().startswith("["):
        return parse_fleet_toml(text, str(path))
    return FleetFile(parse_targets_lines(text, str(path)))


def parse_targets_toml(text: str, where: str = "<toml>") -> list[WatchTarget]:
    return parse_fleet_toml(text, where).targets


def parse_fleet_toml(text: str, where: str = "<toml>") -> FleetFile:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: {error}") from None
    unknown = set(document) - {"watch", "alerts", "target"}
    if unknown:
        raise ConfigError(f"{where}: unknown table(s) or key(s) {', '.join(sorted(unknown))} "
                          "(known: [watch], [alerts], [[target]])")  # fmt: skip
    settings = _settings(document.get("watch", {}), WATCH_KEYS, f"{where}: [watch]")
    alerts = _settings(document.get("alerts", {}), ALERTS_KEYS, f"{where}: [alerts]")
    webhooks = alerts.pop("webhook", [])
    settings.update(alerts)
    tables = document.get("target", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where}: 'target' must be [[target]] tables")
    targets = []
    for number, table in enumerate(tables, 1):
        unknown = set(table) - TOML_KEYS
        if unknown:
            raise ConfigError(
                f"{where}: [[target]] #{number}: unknown key(s) {', '.join(sorted(unknown))}"
            )
        if not isinstance(table.get("target"), str):
            raise ConfigError(f"{where}: [[target]] #{number}: 'target' (a string) is required")
        targets.append(_checked(dict(table), f"{where}: [[target]] #{number}"))
    if not targets:
        raise ConfigError(f"{where}: no [[target]] tables")
    return FleetFile(targets, settings, webhooks)


def _settings(table, kinds: dict[str, str], where: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(table) - set(kinds)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(kinds))})")  # fmt: skip
    checked: dict = {}
    for key, value in table.items():
        kind = kinds[key]
        if kind == "webhooks":
            checked[key] = _webhooks(value, f"{where} webhook")
            continue
        ok = {
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            "float": isinstance(value, int | float) and not isinstance(value, bool) and value >= 0,
            "bool": isinstance(value, bool),
            "strs": isinstance(value, list) and all(isinstance(v, str) for v in value),
        }[kind]
        if not ok:
            noun = {"str": "a string", "int": "a whole number", "float": "a number",
                    "bool": "true or false", "strs": "a list of strings"}[kind]  # fmt: skip
            raise ConfigError(f"{where}: {key} must be {noun}")
        if key in CHOICES and value not in CHOICES[key]:
            raise ConfigError(f"{where}: {key} must be one of {', '.join(CHOICES[key])}")
        checked[key] = float(value) if kind == "float" else value
    return checked


def _webhooks(value, where: str) -> list[Webhook]:
    """`webhook = "URL"`, or [[alerts.webhook]] tables with url and format."""
    items = [{"url": value}] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{where}: a URL or [[alerts.webhook]] tables")
    hooks = []
    for number, item in enumerate(items, 1):
        unknown = set(item) - WEBHOOK_KEYS
        if unknown:
            raise ConfigError(f"{where} #{number}: unknown key(s) {', '.join(sorted(unknown))}")
        if not isinstance(item.get("url"), str):
            raise ConfigError(f"{where} #{number}: 'url' (a string) is required")
        hooks.append(Webhook(item["url"], str(item.get("format", "json"))))
    return hooks


def parse_targets_lines(text: str, where: str = "<lines>") -> list[WatchTarget]:
    targets = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError as error:
            raise ConfigError(f"{where}:{number}: {error}") from None
        if not words:
            continue
        fields: dict = {"target": words[0]}
        rest = words[1:]
        while rest:
            option = rest.pop(0)
            value = None
            if "=" in option:
                option, value = option.split("=", 1)
            if option not in LINE_OPTIONS:
                raise ConfigError(f"{where}:{number}: unknown option {option!r}")
            if value is None:
                if not rest:
                    raise ConfigError(f"{where}:{number}: {option} needs a value")
                value = rest.pop(0)
            fields[LINE_OPTIONS[option]] = value
        targets.append(_checked(fields, f"{where}:{number}"))
    if not targets:
        raise ConfigError(f"{where}: no targets")
    return targets


def _checked(fields: dict, where: str) -> WatchTarget:
    numbers = {}
    for key in ("rate", "timeout"):
        if fields.get(key) is None:
            continue
        try:
            numbers[key] = float(fields[key])
        except (TypeError, ValueError):
            numbers[key] = -1.0
        if numbers[key] < (0 if key == "rate" else 0.01) or isinstance(fields[key], bool):
            raise ConfigError(
                f"{where}: {key} must be a number" + (" above 0" if key == "timeout" else "")
            )
    count = fields.get("count")
    if count is not None:
        try:
            count = int(count)
        except (TypeError, ValueError):
            count = 0
        if count < 1 or isinstance(fields.get("count"), bool):
            raise ConfigError(f"{where}: count must be a positive whole number")
    profile = fields.get("profile", "default")
    if isinstance(profile, str):
        profile = canonical_profile_name(profile)  # "tls1_2" as s_client spells it
    if profile not in PROFILES:
        raise ConfigError(f"{where}: unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    for key in ("starttls", "sni", *PROTOCOL_KEYS):
        if key in fields and not isinstance(fields[key], str):
            raise ConfigError(f"{where}: {key} must be a string")
    return WatchTarget(
        text=fields["target"], starttls=fields.get("starttls", "auto"), sni=fields.get("sni"),
        profile=profile, count=count, rate=numbers.get("rate"), timeout=numbers.get("timeout"),
        protocol_options={key: fields[key] for key in PROTOCOL_KEYS if key in fields},
    )  # fmt: skip
