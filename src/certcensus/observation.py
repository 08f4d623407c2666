"""One probe's result: the unit that flows from the prober to the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from .chain import chain_fingerprint
from .outcomes import Outcome


@dataclass(frozen=True, slots=True)
class Observation:
    target: str  # canonical target name, e.g. "mail.example.com:25"
    host: str
    port: int
    protocol: str  # dialog name ("smtp", ...) or "tls" for implicit TLS
    address: str  # the IP address connected to
    started_at: float  # Unix time the probe started
    outcome: Outcome
    detail: str = ""  # one line: what went wrong, or what the server said when it refused
    chain: tuple[bytes, ...] = ()  # DER certificates exactly as sent, in wire order
    sni: str | None = None
    profile: str = "default"  # the ClientHello profile used
    source_address: str | None = None
    source_port: int | None = None
    tls_version: str | None = None
    cipher: str | None = None
    connect_seconds: float | None = None
    starttls_seconds: float | None = None
    handshake_seconds: float | None = None
    source: str = field(default="probe")  # "probe", or the file an ingested capture came from

    @property
    def chain_id(self) -> str | None:
        return chain_fingerprint(self.chain) if self.chain else None
