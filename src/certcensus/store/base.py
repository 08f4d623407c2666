"""The store interface. The census and every later analysis read through it and never look
behind it, so a PostgreSQL backend can be added without touching them (httpx's transports)."""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.model.sink import RejectedObservation


@dataclass(frozen=True, slots=True)
class StoredProbe:
    """One probe as read back: the observation minus the certificate bytes, plus ids."""

    probe_id: int
    run_id: int
    target: str
    host: str
    port: int
    protocol: str
    address: str
    started_at: float
    outcome: Outcome
    detail: str
    chain_id: str | None
    sni: str | None
    profile: str
    source_address: str | None
    source_port: int | None
    tls_version: str | None
    cipher: str | None
    connect_seconds: float | None
    starttls_seconds: float | None
    handshake_seconds: float | None
    source: str
    leaf_only: bool = False
    server_identity: str | None = None  # what the server said about itself (Observation)
    server_identity_detail: str = ""
    server_hello: str | None = None  # ServerHello fingerprint


class BackendProbeCount(NamedTuple):
    """Probes of one target that share backend identity, ServerHello, chain, SNI and profile:
    the aggregate the backends analysis (census/backends.py) is built from."""

    identity: str | None  # None: the probe learned no identity (counted, never dropped)
    server_hello: str | None
    chain_id: str | None  # None: the probe got no chain (failed)
    sni: str | None
    profile: str
    probes: int


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: int
    command: str
    started_at: float
    finished_at: float | None
    targets: tuple[str, ...]


class Store(abc.ABC):
    """Observations in, probes and certificates out. Writes are buffered: call `flush`.

    Implements model.sink.ObservationSink, which the prober and ingest write to. Every backend
    passes the same contract tests (tests/store/test_store_contract.py).
    """

    read_only: bool = False
    rejected: list[RejectedObservation]  # see model.sink.ObservationSink

    @abc.abstractmethod
    def start_run(self, command: str, targets: Iterable[str]) -> int:
        """Open a run (one scan, one ingest, one watch round) and return its id."""

    @abc.abstractmethod
    def set_run_targets(self, run_id: int, targets: Iterable[str]) -> None:
        """Replace a run's target list (ingest learns targets from the files it reads)."""

    @abc.abstractmethod
    def finish_run(self, run_id: int) -> None: ...

    @abc.abstractmethod
    def add(self, run_id: int, observation: Observation) -> None:
        """Queue one observation; it is durable after the next `flush` (at most ~1 s later)."""

    @abc.abstractmethod
    def flush(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def runs(self) -> list[RunInfo]: ...

    @abc.abstractmethod
    def targets(self, run_ids: Iterable[int] | None = None) -> list[str]:
        """Targets with probes, in the order they were first probed."""

    @abc.abstractmethod
    def probes(self, target: str, run_ids: Iterable[int] | None = None) -> Iterator[StoredProbe]:
        """A target's probes in time order; `run_ids=None` means every run."""

    def backend_counts(
        self, target: str, run_ids: Iterable[int] | None = None
    ) -> list[BackendProbeCount]:
        """A target's probes counted by (identity, ServerHello, chain, SNI, profile); ingested
        leaf-only captures left out, a failed probe's chain None. Backends with a query
        language answer with one GROUP BY; this default counts `probes`."""
        counts: Counter = Counter()
        for p in self.probes(target, run_ids):
            if not p.leaf_only:
                chain = p.chain_id if p.outcome is Outcome.OK else None
                counts[(p.server_identity, p.server_hello, chain, p.sni, p.profile)] += 1
        return [
            BackendProbeCount(identity, hello, chain, sni, profile, probes)
            for (identity, hello, chain, sni, profile), probes in counts.items()
        ]

    @abc.abstractmethod
    def chain_certificates(self, chain_id: str) -> list[bytes]:
        """The DER certificates of a chain, in wire order."""

    def chains_certificates(self, chain_ids: Iterable[str]) -> dict[str, list[bytes]]:
        """Many chains' certificates at once (backends answer with one query, not N)."""
        return {
            chain_id: self.chain_certificates(chain_id) for chain_id in dict.fromkeys(chain_ids)
        }

    @abc.abstractmethod
    def certificate(self, sha256: str) -> bytes | None: ...

    @abc.abstractmethod
    def find_chains(self, prefix: str) -> list[str]:
        """Chain ids starting with `prefix` (users type short ids)."""

    def latest_run_ids(self, targets: Iterable[str] | None = None) -> list[int]:
        """For each target (all if None), the newest run that probed it."""
        wanted = set(targets) if targets is not None else None
        latest: dict[str, int] = {}
        for run in self.runs():
            for target in run.targets:
                if wanted is None or target in wanted:
                    latest[target] = max(latest.get(target, 0), run.run_id)
        return sorted(set(latest.values()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
