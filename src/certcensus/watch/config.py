"""`watch --targets-file`: which targets to watch, each with its own options.

Two forms. A TOML file (`certcensus.toml`, or any file whose first table is [[target]]):

    [[target]]
    target = "smtp://mx.example.com"
    starttls = "smtp"        # optional: auto (default), none, or a dialog name
    sni = "mx.example.com"   # optional
    profile = "default"      # optional: one ClientHello profile
    count = 100              # optional: probes per round (default: --count)

Or one target per line, options after it as on the command line, `#` comments:

    smtp://mx.example.com --starttls smtp --sni x
    imap.example.com:993 --count 20
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

from certcensus.model.errors import ConfigError
from certcensus.probe.profiles import PROFILES


@dataclass(frozen=True)
class WatchTarget:
    text: str  # as the user wrote it: parsed by targets.parse_target
    starttls: str = "auto"
    sni: str | None = None
    profile: str = "default"
    count: int | None = None  # None: the command line's --count


TOML_KEYS = {"target", "starttls", "sni", "profile", "count"}
LINE_OPTIONS = {
    "--starttls": "starttls",
    "--sni": "sni",
    "--profile": "profile",
    "--count": "count",
}


def read_targets_file(path: str | Path) -> list[WatchTarget]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None
    if path.suffix == ".toml" or text.lstrip().startswith("[[target]]"):
        return parse_targets_toml(text, str(path))
    return parse_targets_lines(text, str(path))


def parse_targets_toml(text: str, where: str = "<toml>") -> list[WatchTarget]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: {error}") from None
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
    return targets


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
    count = fields.get("count")
    if count is not None:
        try:
            count = int(count)
        except (TypeError, ValueError):
            count = 0
        if count < 1 or isinstance(fields.get("count"), bool):
            raise ConfigError(f"{where}: count must be a positive whole number")
    profile = fields.get("profile", "default")
    if profile not in PROFILES:
        raise ConfigError(f"{where}: unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    for key in ("starttls", "sni"):
        if key in fields and not isinstance(fields[key], str):
            raise ConfigError(f"{where}: {key} must be a string")
    return WatchTarget(
        text=fields["target"], starttls=fields.get("starttls", "auto"), sni=fields.get("sni"),
        profile=profile, count=count,
    )  # fmt: skip
