"""Building the census from the store: counts per chain, strata, coverage, differences.

Built from the store only (never from the prober), so `scan` and `report` print the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable

from certcensus.census.assessment import ProbeSample, assess_target
from certcensus.census.backends import count_backends
from certcensus.census.model import Census, ChainCount, ProbePoint, TargetCensus
from certcensus.census.strata import count_strata, where_seen
from certcensus.certs.compare import diff_chains
from certcensus.certs.info import describe_certificate
from certcensus.model.defaults import CONFIDENCE
from certcensus.model.outcomes import Outcome
from certcensus.store.base import Store, StoredProbe
from certcensus.trust.chain_issues import chain_issues


def build_census(
    store: Store,
    targets: Iterable[str] | None = None,
    run_ids: Iterable[int] | None = None,
    confidence: float = CONFIDENCE,
) -> Census:
    """Count chains per target over `run_ids` (None: every run) for `targets` (None: all), and
    say how sure the count is at `confidence`."""
    run_list = list(run_ids) if run_ids is not None else None
    names = list(targets) if targets is not None else store.targets(run_list)
    return Census([_census_of(store, name, run_list, confidence) for name in names], run_list)


def _census_of(
    store: Store, name: str, run_ids: list[int] | None, confidence: float
) -> TargetCensus:
    census: TargetCensus | None = None
    by_chain: dict[str, ChainCount] = {}
    leaf_only_chains: list[str] = []
    observations: list[StoredProbe] = []
    for probe in store.probes(name, run_ids):
        if census is None:
            census = TargetCensus(name, probe.host, probe.port, probe.protocol)
        observations.append(probe)
        census.probes += 1
        census.ips[probe.address] += 1
        census.first_probe = census.first_probe or probe.started_at
        census.last_probe = probe.started_at
        if census.sni is None and probe.sni:
            census.sni = probe.sni
        good = probe.outcome is Outcome.OK and not probe.leaf_only
        census.timeline.append(
            ProbePoint(
                probe.started_at,
                probe.address,
                probe.chain_id if good else None,
                str(probe.outcome),
            )
        )
        if probe.leaf_only and probe.chain_id:
            leaf_only_chains.append(probe.chain_id)
            continue
        if probe.outcome is Outcome.INTERRUPTED:  # the user's doing, not the server's
            census.interrupted += 1
            continue
        if probe.outcome is not Outcome.OK or probe.chain_id is None:
            census.errors[str(probe.outcome)] += 1
            census.error_examples.setdefault(str(probe.outcome), probe.detail)
            continue
        census.ok += 1
        if probe.tls_version:
            census.tls_versions[probe.tls_version] += 1
        if probe.cipher:
            census.ciphers[probe.cipher] += 1
        chain = by_chain.get(probe.chain_id)
        if chain is None:
            chain = by_chain[probe.chain_id] = ChainCount(
                probe.chain_id, [], [], first_seen=probe.started_at
            )
        chain.count += 1
        chain.last_seen = probe.started_at
        chain.ips[probe.address] += 1
    if census is None:
        host, _, port = name.rpartition(":")
        return TargetCensus(name, host.strip("[]"), int(port) if port.isdigit() else 0, "")
    # One query for every chain's certificates, not one per chain.
    certificates = store.chains_certificates([*by_chain, *leaf_only_chains])
    for chain_id in leaf_only_chains:
        census.leaf_only[certificates[chain_id][0]] += 1
    for chain in by_chain.values():
        chain.ders = certificates[chain.chain_id]
        chain.certificates = [describe_certificate(der) for der in chain.ders]
        chain.issues = chain_issues(chain.ders)  # judged.py adds what needs the stores
    census.chains = sorted(by_chain.values(), key=lambda c: (-c.count, c.first_seen))
    for chain in census.chains:
        chain.share = chain.count / census.ok
    if census.chains:
        reference = census.chains[0]
        for chain in census.chains[1:]:
            chain.difference = diff_chains(reference.ders, chain.ders)
    census.strata = count_strata(observations)
    for chain in census.chains:
        chain.seen_only = where_seen(chain.chain_id, census.strata)
    census.assessment = assess_target(_samples(observations), confidence)
    chain_order = [chain.chain_id for chain in census.chains]
    census.backends = count_backends(store.backend_counts(name, run_ids), chain_order, confidence)
    for chain in census.chains:
        chain.backends = census.backends.backends_of(chain.chain_id)
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
        if p.outcome is Outcome.OK and p.chain_id and not p.leaf_only
    ]
