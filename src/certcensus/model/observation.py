"""One probe's result: the unit that flows from the prober to the store."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from certcensus.model.chain import chain_fingerprint
from certcensus.model.outcomes import Outcome


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
    # An ingested capture that holds only the leaf (`s_client` without -showcerts): the census
    # counts it by leaf, apart from chains, since the rest of its chain is unknown.
    leaf_only: bool = False
    # Who answered (probe/identity/): what the server said about itself, one printable line of
    # at most 255 characters (greeting host, banner, HTTP headers naming a backend), or None;
    # the detail says why it is None or truncated. `server_hello`: the ServerHello fingerprint.
    server_identity: str | None = None
    server_identity_detail: str = ""
    server_hello: str | None = None
    # The vantage point (a named `certcensus worker`) the probe was made from; None: this host.
    # Balancers that hash the source address or answer by region show other chains elsewhere.
    vantage: str | None = None

    @property
    def chain_id(self) -> str | None:
        return chain_fingerprint(self.chain) if self.chain else None


def observation_to_wire(observation: Observation) -> dict:
    """A JSON-safe dict (certificates in base64), for worker processes and merges."""
    data = {name: getattr(observation, name) for name in Observation.__dataclass_fields__}
    data["outcome"] = str(observation.outcome)
    data["chain"] = [base64.b64encode(der).decode("ascii") for der in observation.chain]
    return data


def observation_from_wire(data: dict) -> Observation:
    values = dict(data)
    values["outcome"] = Outcome(values["outcome"])
    values["chain"] = tuple(base64.b64decode(item) for item in values.get("chain", ()))
    return Observation(**values)
