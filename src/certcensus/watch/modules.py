"""`exporter --config FILE`: the exporter's modules, as blackbox_exporter keeps them, in TOML.

    [exporter]                 # optional
    listen = "127.0.0.1:9795"
    db = "sqlite:///var/lib/certcensus/exporter.sqlite"   # keep every probe (default: none)
    max_count = 1000           # the largest ?count= a scrape may ask for

    [modules.smtp_starttls]    # /probe?target=mx.example.com:25&module=smtp_starttls
    starttls = "smtp"          # auto (scheme or port decides), none, or a protocol
    sni = "mx.example.com"     # default: the target's host name
    profile = "default"        # a ClientHello profile
    count = 20                 # probes per scrape (?count= overrides)
    rate = 0                   # probes per second per address; 0 = as fast as possible
    concurrency = 8            # probes in flight per scrape
    timeout = 5                # seconds per phase (connect, STARTTLS, handshake)
    trust_stores = ["system", "corp=/etc/ssl/corp-root.pem"]
    verify = true              # probe_success needs every chain verified by every store
    min_share = 0.05           # with confidence: stop when sure, `count` the cap
    confidence = 0.99
    ehlo_name = "monitor.example.com"   # protocol options, as on the command line

Without a `default` module the exporter has one: 20 probes, the system trust store, verifying,
as blackbox_exporter's TLS probes verify unless told not to. Unknown keys and tables are errors.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from certcensus.model.errors import ConfigError
from certcensus.probe.dialogs import DIALOGS, command_line_options
from certcensus.probe.profiles import PROFILES

DEFAULT_LISTEN = "127.0.0.1:9795"  # not in Prometheus's port allocation list; near blackbox's
DEFAULT_COUNT = 20
# A scrape asking for more probes than this is refused: each one is a connection to someone.
DEFAULT_MAX_COUNT = 1000
DEFAULT_CONCURRENCY = 8
DEFAULT_PHASE_TIMEOUT = 5.0
# When the scraper does not say its timeout (X-Prometheus-Scrape-Timeout-Seconds), a request
# gets this long: Prometheus's default scrape_timeout.
DEFAULT_REQUEST_SECONDS = 10.0


@dataclass(frozen=True)
class Module:
    name: str
    starttls: str = "auto"
    sni: str | None = None
    profile: str = "default"
    count: int = DEFAULT_COUNT
    rate: float = 0.0
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_PHASE_TIMEOUT
    trust_stores: tuple[str, ...] = ("system",)
    verify: bool = True
    min_share: float | None = None
    confidence: float | None = None
    protocol_options: dict[str, str | None] = field(default_factory=dict)

    @property
    def stop_when_sure(self) -> tuple[float, float] | None:
        if self.min_share is None and self.confidence is None:
            return None
        from certcensus.model import defaults

        return (self.min_share or defaults.MIN_SHARE, self.confidence or defaults.CONFIDENCE)


@dataclass(frozen=True)
class ExporterConfig:
    modules: dict[str, Module]
    listen: str = DEFAULT_LISTEN
    db: str | None = None
    max_count: int = DEFAULT_MAX_COUNT


def default_config() -> ExporterConfig:
    return ExporterConfig({"default": Module("default")})


EXPORTER_KEYS = {"listen", "db", "max_count"}
PROTOCOL_KEYS = {option.name for option in command_line_options()}
MODULE_KEYS = {
    "starttls", "sni", "profile", "count", "rate", "concurrency", "timeout", "trust_stores",
    "verify", "min_share", "confidence", *PROTOCOL_KEYS,
}  # fmt: skip


def read_exporter_config(path: str | Path) -> ExporterConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None
    return parse_exporter_config(text, str(path))


def parse_exporter_config(text: str, where: str = "<config>") -> ExporterConfig:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: {error}") from None
    unknown = set(document) - {"exporter", "modules"}
    if unknown:
        raise ConfigError(f"{where}: unknown table(s) or key(s) {', '.join(sorted(unknown))} "
                          "(known: [exporter], [modules.NAME])")  # fmt: skip
    exporter = _table(document.get("exporter", {}), f"{where}: [exporter]")
    _no_unknown(exporter, EXPORTER_KEYS, f"{where}: [exporter]")
    modules_table = _table(document.get("modules", {}), f"{where}: [modules]")
    modules = {
        name: parse_module(name, _table(table, f"{where}: [modules.{name}]"), f"{where}: [modules.{name}]")
        for name, table in modules_table.items()
    }  # fmt: skip
    modules.setdefault("default", Module("default"))
    return ExporterConfig(
        modules=modules,
        listen=_string(exporter, "listen", where) or DEFAULT_LISTEN,
        db=_string(exporter, "db", where),
        max_count=_whole(exporter, "max_count", f"{where}: [exporter]") or DEFAULT_MAX_COUNT,
    )


def parse_module(name: str, table: dict, where: str) -> Module:
    _no_unknown(table, MODULE_KEYS, where)
    starttls = _string(table, "starttls", where) or "auto"
    if starttls not in ("auto", "none", *DIALOGS):
        raise ConfigError(f"{where}: starttls {starttls!r} is not auto, none or one of "
                          f"{', '.join(sorted(DIALOGS))}")  # fmt: skip
    profile = _string(table, "profile", where) or "default"
    if profile not in PROFILES:
        raise ConfigError(f"{where}: unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    stores = table.get("trust_stores", ["system"])
    if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
        raise ConfigError(f"{where}: trust_stores must be a list of strings")
    verify = table.get("verify", bool(stores))
    if not isinstance(verify, bool):
        raise ConfigError(f"{where}: verify must be true or false")
    if verify and not stores:
        raise ConfigError(f"{where}: verify = true needs trust_stores")
    min_share = _number(table, "min_share", where, low=0.0001, high=0.5)
    confidence = _number(table, "confidence", where, low=0.5, high=0.999999)
    return Module(
        name=name, starttls=starttls, sni=_string(table, "sni", where), profile=profile,
        count=_whole(table, "count", where) or DEFAULT_COUNT,
        rate=_number(table, "rate", where, low=0.0) or 0.0,
        concurrency=_whole(table, "concurrency", where) or DEFAULT_CONCURRENCY,
        timeout=_number(table, "timeout", where, low=0.01) or DEFAULT_PHASE_TIMEOUT,
        trust_stores=tuple(stores), verify=verify, min_share=min_share, confidence=confidence,
        protocol_options={key: _string(table, key, where) for key in PROTOCOL_KEYS if key in table},
    )  # fmt: skip


def _table(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _no_unknown(table: dict, known: set[str], where: str) -> None:
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(known))})")  # fmt: skip


def _string(table: dict, key: str, where: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string")
    return value


def _whole(table: dict, key: str, where: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: {key} must be a positive whole number")
    return value


def _number(table: dict, key: str, where: str, low: float, high: float | None = None):
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {key} must be a number")
    if value < low or (high is not None and value > high):
        span = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(f"{where}: {key} must be {span}")
    return float(value)
