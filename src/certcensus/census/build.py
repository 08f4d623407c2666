"""The census: per target, every distinct chain with its count, share, when and where it was seen.

Built from the store only (never from the prober), so `scan` and `report` print the same thing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from certcensus.certs.info import CertificateInfo, describe_certificate
from certcensus.census.coverage import Coverage
from certcensus.model.observation import LEAF_ONLY
from certcensus.model.outcomes import Outcome
from certcensus.census.assessment import ProbeSample, TargetAssessment, assess_target
from certcensus.store.base import Store, StoredProbe
from certcensus.census.strata import StratumCount, count_strata, where_seen
from certcensus.probe.targets import is_ip_address


@dataclass(frozen=True, slots=True)
class CertificateChange:
    """One position where a chain differs from the most common chain."""

    position: int
    most_common: CertificateInfo | None  # None: the most common chain is shorter
    this: CertificateInfo | None  # None: this chain is shorter


@dataclass
class ChainCount:
    chain_id: str
    ders: list[bytes]  # the certificates as sent, in wire order
    certificates: list[CertificateInfo]  # the same, described
    count: int = 0
    share: float = 0.0
    first_seen: float = 0.0
    last_seen: float = 0.0
    ips: Counter = field(default_factory=Counter)
    differences: list[CertificateChange] = field(default_factory=list)  # vs the most common
    seen_only: list[str] = field(default_factory=list)  # "only without SNI", ...
    trust: dict | None = None  # {"<store>": {"lenient": {...}, "strict": {...}}} when judged


@dataclass
class TargetCensus:
    target: str
    host: str
    port: int
    protocol: str
    probes: int = 0
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)  # class -> one detail line
    chains: list[ChainCount] = field(default_factory=list)  # most common first
    ips: Counter = field(default_factory=Counter)  # probes per address, all outcomes
    leaf_only: Counter = field(default_factory=Counter)  # ingested leaf-only captures, by leaf
    first_probe: float | None = None
    last_probe: float | None = None
    observations: list[StoredProbe] = field(default_factory=list, repr=False)
    strata: list[StratumCount] = field(default_factory=list)
    assessment: TargetAssessment | None = None
    missing_cas: dict | None = None  # store name -> what it lacks, when judged

    @property
    def server_name(self) -> str | None:
        """The name a client would check the certificate against: the SNI sent, else the host."""
        for probe in self.observations:
            if probe.sni:
                return probe.sni
        return None if is_ip_address(self.host) else self.host

    @property
    def coverage(self) -> Coverage | None:
        return self.assessment.coverage if self.assessment else None

    def coverage_sentence(self) -> str:
        if self.coverage is None:
            return ""
        addresses = [ip for ip in self.ips if ip]
        where = f"connections to {addresses[0]}" if len(addresses) == 1 else f"connections to {self.target}"
        return self.coverage.sentence(where)

    def share_of(self, chain_id: str) -> float:
        for chain in self.chains:
            if chain.chain_id == chain_id:
                return chain.share
        return 0.0

    @property
    def most_common(self) -> ChainCount | None:
        return self.chains[0] if self.chains else None


@dataclass
class Census:
    targets: list[TargetCensus]
    run_ids: list[int] | None = None

    def target(self, name: str) -> TargetCensus:
        for target in self.targets:
            if target.target == name:
                return target
        raise KeyError(name)

    @property
    def any_ok(self) -> bool:
        return any(t.ok for t in self.targets)


def build_census(
    store: Store,
    targets: Iterable[str] | None = None,
    run_ids: Iterable[int] | None = None,
    confidence: float = 0.99,
) -> Census:
    """Count chains per target over `run_ids` (None: every run) for `targets` (None: all), and
    say how sure the count is at `confidence`."""
    run_list = list(run_ids) if run_ids is not None else None
    names = list(targets) if targets is not None else store.targets(run_list)
    return Census([_census_of(store, name, run_list, confidence) for name in names], run_list)


def _census_of(store: Store, name: str, run_ids: list[int] | None, confidence: float) -> TargetCensus:
    census: TargetCensus | None = None
    by_chain: dict[str, ChainCount] = {}
    for probe in store.probes(name, run_ids):
        if census is None:
            census = TargetCensus(name, probe.host, probe.port, probe.protocol)
        census.observations.append(probe)
        census.probes += 1
        census.ips[probe.address] += 1
        census.first_probe = census.first_probe or probe.started_at
        census.last_probe = probe.started_at
        if probe.detail == LEAF_ONLY and probe.chain_id:
            census.leaf_only[store.chain_certificates(probe.chain_id)[0]] += 1
            continue
        if probe.outcome is not Outcome.OK or probe.chain_id is None:
            census.errors[str(probe.outcome)] += 1
            census.error_examples.setdefault(str(probe.outcome), probe.detail)
            continue
        census.ok += 1
        chain = by_chain.get(probe.chain_id)
        if chain is None:
            ders = store.chain_certificates(probe.chain_id)
            chain = by_chain[probe.chain_id] = ChainCount(
                probe.chain_id, ders, [describe_certificate(der) for der in ders],
                first_seen=probe.started_at,
            )
        chain.count += 1
        chain.last_seen = probe.started_at
        chain.ips[probe.address] += 1
    if census is None:
        host, _, port = name.rpartition(":")
        return TargetCensus(name, host.strip("[]"), int(port) if port.isdigit() else 0, "")
    census.chains = sorted(by_chain.values(), key=lambda c: (-c.count, c.first_seen))
    for chain in census.chains:
        chain.share = chain.count / census.ok
    if census.chains:
        reference = census.chains[0]
        for chain in census.chains[1:]:
            chain.differences = compare_chains(reference.certificates, chain.certificates)
    census.strata = count_strata(census.observations)
    for chain in census.chains:
        chain.seen_only = where_seen(chain.chain_id, census.strata)
    census.assessment = assess_target(_samples(census.observations), confidence)
    return census


def _samples(observations: list[StoredProbe]) -> list[ProbeSample]:
    return [
        ProbeSample(
            destination=(p.address, p.sni, p.profile),
            chain_id=p.chain_id,
            source_address=p.source_address,
            source_port=p.source_port,
            time=p.started_at,
        )
        for p in observations
        if p.outcome is Outcome.OK and p.chain_id and p.detail != LEAF_ONLY
    ]


def compare_chains(
    reference: list[CertificateInfo], other: list[CertificateInfo]
) -> list[CertificateChange]:
    """Positions where `other` holds a different certificate than `reference` (or none)."""
    changes = []
    for position in range(max(len(reference), len(other))):
        ref = reference[position] if position < len(reference) else None
        this = other[position] if position < len(other) else None
        if ref is None or this is None or ref.sha256 != this.sha256:
            changes.append(CertificateChange(position, ref, this))
    return changes

