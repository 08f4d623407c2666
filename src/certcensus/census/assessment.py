"""A whole target's statement: coverage and randomness per stratum, one conservative sum.

Two ways in, one computation: `assess_target` takes per-probe samples (tests, small callers);
`assess_strata` takes what the streaming census has, each stratum's chain counts from the
store's GROUP BY and, only for strata the sequence tests can say something about (two chains or
more, enough probes), a callable that reads the chain sequence and source ports in bulk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from certcensus.census.contingency import Table, codes_of, table_of_counts
from certcensus.census.coverage import Coverage, coverage_of_counts, target_coverage_of_counts
from certcensus.census.randomness import (
    MIN_PROBES_FOR_TESTS,
    Finding,
    RandomnessReport,
    attribute_finding_of_tables,
    randomness_report_of_codes,
    untestable_report,
)
from certcensus.model.defaults import CONFIDENCE

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class ProbeSample:
    """One successful probe, as the statistics need it."""

    destination: Hashable  # what we connected to and how, e.g. (address, sni, profile)
    chain_id: str
    source_address: str | None = None
    source_port: int | None = None
    time: float | None = None  # when the probe started (any monotone clock)


# (chain codes in time order, numbered like StratumCounts.chains; source ports aligned with
# them, or None when any is unknown)
Sequences = tuple["np.ndarray", "np.ndarray | None"]


@dataclass
class StratumCounts:
    """One stratum's successful probes, without the probes."""

    destination: Hashable
    source_address: str | None
    chains: dict[str, int] = field(default_factory=dict)  # chain -> probes, first seen first
    first_seen: dict[str, float] = field(default_factory=dict)  # chain -> first probe's time
    sequences: Callable[[], Sequences] | None = None  # read only when a test needs them

    @property
    def probes(self) -> int:
        return sum(self.chains.values())


@dataclass(frozen=True, slots=True)
class TargetAssessment:
    coverage: Coverage  # the one conservative statement for the target
    strata: dict[Hashable, tuple[Coverage, RandomnessReport]]  # key: (destination, source_address)

    def to_dict(self) -> dict:
        return {
            "coverage": self.coverage.to_dict(),
            "strata": [
                {
                    "stratum": _json_key(key),
                    "coverage": coverage.to_dict(),
                    "randomness": report.to_dict(),
                }
                for key, (coverage, report) in self.strata.items()
            ],
        }


def _json_key(key: Hashable) -> object:
    if isinstance(key, tuple):
        return [_json_key(part) for part in key]
    return key if isinstance(key, (str, int, float, bool, type(None))) else str(key)


def assess_target(
    samples: Sequence[ProbeSample], confidence: float = CONFIDENCE
) -> TargetAssessment:
    """assess_strata for per-probe samples (in time order)."""
    import numpy as np

    grouped: dict[tuple[Hashable, str | None], list[ProbeSample]] = defaultdict(list)
    first_seen: dict[tuple[Hashable, str | None], dict[str, float]] = defaultdict(dict)
    for index, sample in enumerate(samples):
        key = (sample.destination, sample.source_address)
        grouped[key].append(sample)
        first_seen[key].setdefault(sample.chain_id, float(index))
    strata = []
    for (destination, source), group in grouped.items():
        codes, chains = codes_of([s.chain_id for s in group])
        counts = np.bincount(codes).tolist()
        ports = [s.source_port for s in group]
        times = [s.time for s in group]
        order = np.arange(len(group))
        if None not in times:
            order = np.lexsort((order, np.asarray(times, float)))
        port_array = None if None in ports else np.asarray(ports, np.int64)[order]
        sequences = (codes[order], port_array)
        strata.append(
            StratumCounts(
                destination, source, dict(zip(chains, counts)),
                first_seen[(destination, source)], _given(sequences),
            )
        )  # fmt: skip
    return assess_strata(strata, confidence)


def _given(sequences: Sequences) -> Callable[[], Sequences]:
    return lambda: sequences


def assess_strata(
    strata: Sequence[StratumCounts], confidence: float = CONFIDENCE
) -> TargetAssessment:
    """Per-stratum coverage and randomness, and one target-level statement. `strata` in order
    of their first successful probe.

    A stratum is (destination, source_address): the census must never pool probes that could
    reach different pools. Address hashing cannot be seen inside a stratum (one source
    address), so it is tested per destination across source addresses; when it is found,
    every stratum of that destination loses its statement too, because a client from another
    address would meet a pool we never probed.
    """
    by_destination: dict[Hashable, list[StratumCounts]] = defaultdict(list)
    for stratum in strata:
        by_destination[stratum.destination].append(stratum)
    address_findings: dict[Hashable, Finding] = {}
    for destination, group in by_destination.items():
        addresses = [s.source_address for s in group]
        if None not in addresses and len(set(addresses)) >= 2:
            finding = attribute_finding_of_tables(
                "source-address", "address", {"source address": _address_table(group)}
            )
            if finding:
                address_findings[destination] = finding

    assessed: dict[Hashable, tuple[Coverage, RandomnessReport]] = {}
    for stratum in strata:
        key = (stratum.destination, stratum.source_address)
        coverage = coverage_of_counts(stratum.chains.values(), confidence)
        report = _stratum_report(stratum)
        if not report.random_looking and coverage.applicable:
            coverage = coverage.marked_not_applicable("; ".join(f.words for f in report.findings))
        finding = address_findings.get(stratum.destination)
        if finding:
            untested = [note for note in report.untested if "source address" not in note]
            report = RandomnessReport([*report.findings, finding], untested)
            coverage = coverage.marked_not_applicable("; ".join(f.words for f in report.findings))
        assessed[key] = (coverage, report)
    return TargetAssessment(_statement(assessed, strata, confidence), assessed)


def coverage_of_strata(
    assessment: TargetAssessment, strata: Sequence[StratumCounts], confidence: float = CONFIDENCE
) -> Coverage:
    """The target-level statement for some of the strata `assessment` was made of, alone (the
    strata of one vantage: what a client there can be told). Each stratum keeps the verdict
    of its own tests; nothing is read again."""
    return _statement(assessment.strata, strata, confidence)


def _statement(
    assessed: Mapping[Hashable, tuple[Coverage, RandomnessReport]],
    strata: Sequence[StratumCounts],
    confidence: float,
) -> Coverage:
    counts: dict[Hashable, Mapping[str, int]] = {
        (s.destination, s.source_address): s.chains for s in strata
    }
    not_applicable = {
        key: coverage.not_applicable_reason or "not applicable"
        for key, (coverage, _) in assessed.items()
        if key in counts and not coverage.applicable and coverage.probes > 0
    }
    return target_coverage_of_counts(counts, confidence, not_applicable)


def _stratum_report(stratum: StratumCounts) -> RandomnessReport:
    distinct = sum(1 for c in stratum.chains.values() if c)
    if distinct < 2 or stratum.probes < MIN_PROBES_FOR_TESTS or stratum.sequences is None:
        return untestable_report(stratum.probes, distinct)
    codes, ports = stratum.sequences()
    return randomness_report_of_codes(codes, distinct, ports)


def _address_table(group: Sequence[StratumCounts]) -> Table:
    """Source address x chain for one destination, chains numbered by first appearance."""
    first: dict[str, float] = {}
    for stratum in group:
        for chain, at in stratum.first_seen.items():
            first[chain] = min(first.get(chain, at), at)
    number = {chain: i for i, chain in enumerate(sorted(first, key=first.__getitem__))}
    cells = [
        (stratum.source_address, number[chain], count, stratum.first_seen[chain])
        for stratum in group
        for chain, count in stratum.chains.items()
    ]
    return table_of_counts(cells, len(number))


__all__ = [
    "ProbeSample",
    "StratumCounts",
    "TargetAssessment",
    "assess_strata",
    "assess_target",
    "coverage_of_strata",
]
